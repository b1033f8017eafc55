"""A virtual patient's latent traits: every random draw, made once, protocol-free.

Each trait comes from its own named stream (:mod:`sim.model.streams`), so patient i has
the same traits under every protocol (common random numbers) and adding a trait to one
stream does not shift the others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.streams import StreamBlock, patient_stream


@dataclass(frozen=True, slots=True)
class Latent:
    eta_capacity: float
    eta_rho: float
    eta_alpha: float
    eta_fb: float
    eta_beta: float
    z_onset: float
    z_crs: float
    z_crs_duration: float
    u_crs_death: float
    z_icans: float
    z_icans_duration: float
    u_iec: float
    u_iec_grade: float
    u_gvhd: float
    u_gvhd_grade: float
    z_gvhd_onset: float
    u_cytopenia: float
    z_cytopenia_duration: float
    u_infection: float
    u_infection_time: float
    u_response: float
    u_mrd: float
    e_relapse: float
    e_death: float
    e_background: float
    # the course of CRS and ICANS (stream "toxicity_course", added in model version 2)
    u_crs_sign: float  # which sign sets CRS grade >= 2: hypotension or hypoxia
    z_fever: float  # how high the fever runs
    z_icans_lag: float
    u_icans_sign: float  # which domain sets ICANS grade >= 3


def draw_latent(root_seed: int, patient: int, block: StreamBlock | None = None) -> Latent:
    """Patient ``patient``'s traits; ``block`` (holding that patient) gives the same
    streams faster."""

    def stream_of(quantity: str) -> np.random.Generator:
        return patient_stream(root_seed, patient, quantity, block)

    k = stream_of("kinetics")
    kin = k.standard_normal(5)
    c = stream_of("crs")
    crs = c.standard_normal(3)
    i = stream_of("icans")
    icans = i.standard_normal(2)
    iec = stream_of("iec_hs").random(2)
    g = stream_of("gvhd")
    gvhd_u = g.random(2)
    cy = stream_of("cytopenia")
    inf = stream_of("infection").random(2)
    r = stream_of("response").random(2)
    s = stream_of("survival").standard_exponential(3)
    t = stream_of("toxicity_course")
    course_u = t.random(2)
    course_z = t.standard_normal(2)
    return Latent(
        eta_capacity=float(kin[0]),
        eta_rho=float(kin[1]),
        eta_alpha=float(kin[2]),
        eta_fb=float(kin[3]),
        eta_beta=float(kin[4]),
        z_onset=float(crs[0]),
        z_crs=float(crs[1]),
        z_crs_duration=float(crs[2]),
        u_crs_death=float(c.random()),
        z_icans=float(icans[0]),
        z_icans_duration=float(icans[1]),
        u_iec=float(iec[0]),
        u_iec_grade=float(iec[1]),
        u_gvhd=float(gvhd_u[0]),
        u_gvhd_grade=float(gvhd_u[1]),
        z_gvhd_onset=float(g.standard_normal()),
        u_cytopenia=float(cy.random()),
        z_cytopenia_duration=float(cy.standard_normal()),
        u_infection=float(inf[0]),
        u_infection_time=float(inf[1]),
        u_response=float(r[0]),
        u_mrd=float(r[1]),
        e_relapse=float(s[0]),
        e_death=float(s[1]),
        e_background=float(s[2]),
        u_crs_sign=float(course_u[0]),
        z_fever=float(course_z[0]),
        z_icans_lag=float(course_z[1]),
        u_icans_sign=float(course_u[1]),
    )
