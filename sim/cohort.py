"""Cohorts of virtual patients, and protocol comparisons on the same patients.

Patient ``i`` of a cohort with root seed ``S`` has covariates and latent traits drawn
from streams keyed by ``(S, i)`` only: every protocol of a comparison sees the same
people (common random numbers), and results do not depend on the order patients are
run in. Each patient's outcomes are derived from its event log
(:mod:`sim.outcomes`); only those compact rows are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.engine.run import RunResult, run_course
from sim.engine.virtual_patient import VirtualPatient
from sim.model.latent import draw_latent
from sim.model.parameters import ModelParameters, load_parameters
from sim.model.population import population, sample_patient
from sim.model.streams import stream
from sim.outcomes import patient_outcomes
from sim.spec.load import LoadedProtocol
from sim.spec.scenario import Patient
from sim.stats import (
    Estimate,
    km_at,
    km_median,
    median_ci,
    paired_difference,
    paired_difference_mean,
    wilson,
)

DEFAULT_POPULATION = "adult-rr-ball"
FOLLOW_UP_DAYS = 760  # enough for 24-month survival
MONTH_DAYS = 30.4375


@dataclass(frozen=True)
class CohortSetup:
    population: str = DEFAULT_POPULATION
    seed: int = 0
    fixed: tuple[tuple[str, Any], ...] = ()
    params: ModelParameters | None = None

    def parameters(self) -> ModelParameters:
        return self.params or load_parameters()


def virtual_patient(setup: CohortSetup, index: int) -> Patient:
    params = setup.parameters()
    pop = population(params, setup.population)
    return sample_patient(pop, stream(setup.seed, index, "covariates"), dict(setup.fixed))


def run_patient_result(loaded: LoadedProtocol, setup: CohortSetup, index: int) -> RunResult:
    """Virtual patient ``index`` of the cohort through one protocol: the whole run."""
    patient = virtual_patient(setup, index)
    source = VirtualPatient(setup.parameters(), draw_latent(setup.seed, index))
    return run_course(
        loaded.protocol,
        patient,
        toxicity=source,
        seed=setup.seed,
        origin=loaded.origin,
        protocol_hash=loaded.hash,
        horizon_day=FOLLOW_UP_DAYS,
    )


def run_patient(
    loaded: LoadedProtocol, setup: CohortSetup, index: int
) -> tuple[dict[str, Any], int]:
    """One virtual patient through one protocol: its outcome row and SimPy event count."""
    result = run_patient_result(loaded, setup, index)
    patient = result.patient
    row = patient_outcomes(result.events)
    row["patient"] = index
    row["weight_kg"] = patient.weight_kg
    row["marrow_blasts_pct"] = patient.marrow_blasts_pct
    return row, result.sim_events


def run_cohort(
    loaded: LoadedProtocol,
    setup: CohortSetup,
    n: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    events = 0
    for i in range(n):
        row, count = run_patient(loaded, setup, i)
        rows.append(row)
        events += count
        if progress is not None:
            progress(1)
    return rows, events


def _rate(rows: Sequence[dict[str, Any]], test: Callable[[dict[str, Any]], bool]) -> Estimate:
    return wilson(sum(1 for r in rows if test(r)), len(rows))


def _median(rows: Sequence[dict[str, Any]], key: str, scale: float = 1.0) -> Estimate:
    values = [r[key] * scale for r in rows if r.get(key) is not None]
    return median_ci(values)


def _km(rows: Sequence[dict[str, Any]], kind: str) -> tuple[list[float], list[bool]]:
    return [r[f"{kind}_days"] for r in rows], [bool(r[f"{kind}_event"]) for r in rows]


def _km_months(rows: Sequence[dict[str, Any]], kind: str) -> Estimate:
    times, events = _km(rows, kind)
    est = km_median(times, events)

    def months(v: float | None) -> float | None:
        return None if v is None else v / MONTH_DAYS

    return Estimate(months(est.value), months(est.ci_low), months(est.ci_high), est.n, est.method)


def arm_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Estimate]:
    """Per-arm endpoints with 95 % CIs (slugs of calibration/targets.yaml where they apply)."""
    infused = [r for r in rows if r["infused"]]
    crs_cases = [r for r in rows if r["crs_onset_day"] is not None]
    return {
        "cr_mrd_neg_d28_rate": _rate(rows, lambda r: r["cr_mrd_negative"]),
        "cr_d28_rate": _rate(rows, lambda r: r["cr"]),
        "cr_rate": _rate(rows, lambda r: r["cr"]),
        "crs_any_rate": _rate(rows, lambda r: r["crs_max_grade"] >= 1),
        "crs_grade3plus_rate": _rate(rows, lambda r: r["crs_max_grade"] >= 3),
        "crs_severe_rate": _rate(rows, lambda r: r["crs_max_grade"] >= 3),
        "icans_any_rate": _rate(rows, lambda r: r["icans_max_grade"] >= 1),
        "icans_grade3plus_rate": _rate(rows, lambda r: r["icans_max_grade"] >= 3),
        "iec_hs_rate": _rate(rows, lambda r: r["iec_hs_max_grade"] >= 1),
        "gvhd_rate": _rate(rows, lambda r: r["gvhd_max_grade"] >= 1),
        "full_dose_rate": _rate(rows, lambda r: r["full_dose_delivered"]),
        "hold_rate": _rate(rows, lambda r: r["holds"] >= 1),
        "discontinuation_rate": _rate(rows, lambda r: r["stopped"]),
        "repeat_dose_rate": _rate(rows, lambda r: r["repeat_doses_given"] >= 1),
        "cells_per_kg_delivered_median": _median(rows, "given_cells_per_kg"),
        "time_to_last_fraction_h_median": _median(infused, "last_fraction_after_first_h"),
        "crs_onset_day_median": _median(crs_cases, "crs_onset_day"),
        "crs_duration_days_median": _median(crs_cases, "crs_duration_days"),
        "efs_12m": km_at(*_km(rows, "efs"), 365.25),
        "efs_24m": km_at(*_km(rows, "efs"), 730.5),
        "os_12m": km_at(*_km(rows, "os"), 365.25),
        "os_24m": km_at(*_km(rows, "os"), 730.5),
        "efs_median_months": _km_months(rows, "efs"),
        "os_median_months": _km_months(rows, "os"),
        "peak_copies_median": _median(infused, "peak_copies"),
        "tmax_day_median": _median(infused, "peak_day"),
        "auc_0_28_copies": _median(infused, "auc_0_28"),
        "persistence_days_median": _median(infused, "persistence_days"),
        "fold_expansion_typical": _median(infused, "fold_expansion"),
    }


PAIRED_RATES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "full_dose_rate": lambda r: bool(r["full_dose_delivered"]),
    "hold_rate": lambda r: r["holds"] >= 1,
    "crs_grade3plus_rate": lambda r: r["crs_max_grade"] >= 3,
    "icans_grade3plus_rate": lambda r: r["icans_max_grade"] >= 3,
    "cr_mrd_neg_d28_rate": lambda r: bool(r["cr_mrd_negative"]),
}


def differences(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> dict[str, Estimate]:
    """Paired differences a - b on the same virtual patients."""
    out: dict[str, Estimate] = {}
    for slug, test in PAIRED_RATES.items():
        out[slug] = paired_difference([test(r) for r in a], [test(r) for r in b])
    out["cells_per_kg_delivered_mean"] = paired_difference_mean(
        [r["given_cells_per_kg"] for r in a], [r["given_cells_per_kg"] for r in b]
    )
    return out


@dataclass
class Comparison:
    seed: int
    population: str
    patients: int
    arms: list[tuple[LoadedProtocol, list[dict[str, Any]]]]
    sim_events: int
    wall_s: float

    def to_json(self) -> dict[str, Any]:
        arms = [
            {
                "protocol": lp.protocol.id,
                "protocol_hash": lp.hash,
                "n": len(rows),
                "metrics": {k: v.to_dict() for k, v in arm_metrics(rows).items()},
            }
            for lp, rows in self.arms
        ]
        diffs = []
        base_lp, base_rows = self.arms[0]
        for lp, rows in self.arms[1:]:
            diffs.append(
                {
                    "arm": lp.protocol.id,
                    "versus": base_lp.protocol.id,
                    "metrics": {k: v.to_dict() for k, v in differences(rows, base_rows).items()},
                }
            )
        return {
            "seed": self.seed,
            "population": self.population,
            "arms": arms,
            "differences": diffs,
            "run": {
                "patients": self.patients,
                "sim_events": self.sim_events,
                "wall_s": round(self.wall_s, 3),
            },
        }


def compare(
    protocols: Sequence[LoadedProtocol],
    setup: CohortSetup,
    n: int,
    progress: Callable[[int], None] | None = None,
) -> Comparison:
    start = time.perf_counter()
    arms = []
    events = 0
    for lp in protocols:
        rows, count = run_cohort(lp, setup, n, progress)
        arms.append((lp, rows))
        events += count
    return Comparison(setup.seed, setup.population, n, arms, events, time.perf_counter() - start)
