"""ICANS in a virtual patient: severity from expansion, burden and the CRS course; onset
after CRS with a variable lag; signs graded by the ASTCT consensus.

Severity is an ordinal latent score (parameters ``icans``): the expansion that drives
toxicity, pretreatment burden (Santomasso 2018), the planned CRS grade (Gust 2017: CRS
preceded every grade >= 3 neurotoxicity), the product class, and a propensity correlated
with the CRS propensity. ICANS starts a log-normal lag after CRS onset (registry medians:
CRS day 5, ICANS day 7, Rangarajan 2025), or after the expansion peak when there is no
CRS; a long lag lets severe ICANS follow the end of CRS (domain.md 3.4).

Signs: from age 12 the ICE score (grade 1: 7-9, here 8; grade 2: 3-6, here 5; grade 3:
0-2, here 2); under 12 the CAPD (grade 1-2: 1-8, here 4 and 6, with consciousness telling
grade 2; grade 3: >= 9, here 12), as the ASTCT paediatric table. Grade 3 may come with a
seizure that resolves rapidly, grade 4 is an unarousable patient, sometimes with diffuse
cerebral oedema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from sim.clinical.grading import Consciousness, Seizure, icans_grade_reason
from sim.model.parameters import Icans
from sim.model.timeline import H_PER_DAY, Steps, Timeline, episode_steps
from sim.spec.scenario import IcansSigns

RISE_H = 12.0
"""ICANS rises one grade per 12 h (ASSUMED)."""


@dataclass(frozen=True, slots=True)
class IcansCourse:
    grade: int
    steps: Steps
    timeline: Timeline


def _signs(i: Icans, grade: int, child: bool, u_sign: float) -> IcansSigns:
    oedema = grade >= 4 and u_sign < i.oedema_share
    seizure = grade == 3 and u_sign < i.seizure_share
    return _icans_signs(grade, child, oedema, seizure)


@cache
def _icans_signs(grade: int, child: bool, oedema: bool, seizure: bool) -> IcansSigns:
    """One (frozen) signs object per distinct case: re-plans reuse them."""
    if grade >= 4:
        return IcansSigns(
            consciousness="unarousable", cerebral_oedema="diffuse" if oedema else "none"
        )
    fit: Seizure = "resolves_rapidly" if seizure else "none"
    if child:
        capd = {1: 4, 2: 6, 3: 12}[grade]
        voice: Consciousness = "awakens_to_voice" if grade == 2 else "alert"
        return IcansSigns(capd_score=capd, consciousness=voice, seizure=fit)
    return IcansSigns(ice_score={1: 8, 2: 5, 3: 2}[grade], seizure=fit)


@cache
def _why(signs: IcansSigns) -> str:
    _, why = icans_grade_reason(
        signs.ice_score,
        signs.consciousness,
        signs.seizure,
        signs.motor_weakness,
        signs.cerebral_oedema,
        signs.capd_score,
    )
    return f"ICANS {why}"


def icans_course(
    i: Icans,
    grade: int,
    start_h: float,
    *,
    child: bool,
    z_duration: float,
    u_sign: float,
) -> IcansCourse:
    """The course of an ICANS episode of peak grade ``grade`` >= 1 starting at ``start_h``."""
    days = min(
        i.max_duration_days, i.duration_median_days * math.exp(i.omega_duration * z_duration)
    )
    steps = episode_steps(start_h, grade, days * H_PER_DAY, RISE_H)
    timeline: Timeline = []
    for t, g in zip(steps.times, steps.grades, strict=True):
        signs = _signs(i, g, child, u_sign)
        timeline.append((t, {"icans_signs": signs, "why": _why(signs)}))
    timeline.append((steps.end_h, None))
    return IcansCourse(grade, steps, timeline)


def lag_h(i: Icans, z_lag: float) -> float:
    return i.lag_median_days * math.exp(i.omega_lag * z_lag) * H_PER_DAY
