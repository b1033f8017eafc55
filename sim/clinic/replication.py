"""Run the clinic: each replication, each protocol arm in its own SimPy environment.

Lifecycle of one arm: build the unit -> start one process per referral -> run to the end
of the period -> derive rows and metrics from the log. Every arm of a replication sees
the same referrals and the same virtual patients: patient ``i`` of replication ``r`` is
virtual patient ``r * PATIENTS_PER_REPLICATION + i`` of the chosen population (the
model's streams), and the clinic's draws come from :mod:`sim.clinic.streams`.
Replications run in order or on worker processes (:func:`sim.workers.run_jobs`); results
are merged in replication order, so the output does not depend on the worker count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import simpy

from sim.clinic.arrivals import Referral, referrals
from sim.clinic.flow import Arm, patient_path
from sim.clinic.resources import Unit
from sim.clinic.spec import Clinic
from sim.clinic.tally import METRICS, MetricTally, arm_metrics, day_rows, patient_rows
from sim.cohort import CohortSetup, virtual_patient
from sim.engine.run import ToxicitySource
from sim.engine.virtual_patient import VirtualPatient
from sim.errors import RunawayError
from sim.model.latent import Latent, draw_latent
from sim.model.parameters import ModelParameters, load_parameters
from sim.spec.load import LoadedProtocol
from sim.spec.scenario import Patient
from sim.stats import Estimate, Moments, paired_difference_mean

PATIENTS_PER_REPLICATION = 100_000
MAX_REPLICATIONS = 10_000
MAX_EVENTS_PER_PATIENT = 20_000
"""Runaway guard: a patient's path takes some tens to a few hundred events."""


@cache
def _clinic(text: str) -> Clinic:
    return Clinic.model_validate(json.loads(text))


@dataclass(frozen=True)
class ClinicSetup:
    """What every replication needs (picklable: the clinic travels as its JSON)."""

    clinic_json: str
    protocols: tuple[LoadedProtocol, ...]
    seed: int
    days: int
    params: ModelParameters | None = None

    @classmethod
    def of(
        cls,
        clinic: Clinic,
        protocols: Sequence[LoadedProtocol],
        seed: int,
        days: int,
        params: ModelParameters | None = None,
    ) -> ClinicSetup:
        text = json.dumps(clinic.model_dump(mode="json"), sort_keys=True)
        return cls(text, tuple(protocols), seed, days, params)

    @property
    def clinic(self) -> Clinic:
        return _clinic(self.clinic_json)

    def parameters(self) -> ModelParameters:
        return self.params or load_parameters()


def person(
    setup: ClinicSetup, replication: int, ref: Referral
) -> tuple[Patient, Latent, CohortSetup, int]:
    """The virtual patient behind a referral (covariates, latent traits), the cohort
    setup and index that give the same patient in ``cartsim run``-style single runs."""
    index = replication * PATIENTS_PER_REPLICATION + ref.index
    cohort = CohortSetup(population=ref.population, seed=setup.seed, params=setup.params)
    return virtual_patient(cohort, index), draw_latent(setup.seed, index), cohort, index


def run_arm(
    setup: ClinicSetup,
    arm: Arm,
    refs: Sequence[Referral],
    people: Sequence[tuple[Patient, Latent]],
    clinic: Clinic | None = None,
    biology: Callable[[Latent], ToxicitySource] | None = None,
) -> Unit:
    """One arm of one replication; the unit holds the log (and the courses).
    ``biology`` makes a patient's toxicity source (default: the virtual patient)."""
    clinic = clinic or setup.clinic
    if biology is None:
        params = setup.parameters()

        def biology(latent: Latent) -> ToxicitySource:
            return VirtualPatient(params, latent)

    env = simpy.Environment()
    unit = Unit(env, clinic)
    for ref, (patient, latent) in zip(refs, people, strict=True):
        env.process(patient_path(unit, clinic, arm, ref, patient, biology(latent)))
    end_h = setup.days * 24.0
    env.process(unit.census(end_h))
    steps = 0
    limit = MAX_EVENTS_PER_PATIENT * max(1, len(refs)) + 2 * int(end_h)
    while env.peek() < end_h:
        env.step()
        steps += 1
        if steps > limit:
            raise RunawayError(
                f"clinic arm {arm.protocol.id}: more than {limit} simulation events; "
                "the run was stopped (a loop without end?)"
            )
    return unit


@dataclass
class ReplicationResult:
    replication: int
    metrics: list[dict[str, float]]  # one per arm
    occupancy: list[list[dict[str, Any]]]  # per arm: day rows
    vein_to_vein_days: list[list[float]]  # per arm: every treated patient's
    rows: list[list[dict[str, Any]]] = field(default_factory=list)  # per arm, if kept


def run_replication(setup: ClinicSetup, replication: int, keep_rows: bool) -> ReplicationResult:
    clinic = setup.clinic
    refs = referrals(clinic.arrivals, setup.seed, replication, setup.days)
    if len(refs) >= PATIENTS_PER_REPLICATION:  # pragma: no cover - bounded by the spec
        raise RuntimeError(f"{len(refs)} referrals in one replication: patient indices overlap")
    people = [person(setup, replication, r)[:2] for r in refs]
    result = ReplicationResult(replication, [], [], [])
    end_h = setup.days * 24.0
    for lp in setup.protocols:
        arm = Arm(lp.protocol, clinic.protocols[lp.protocol.id])
        unit = run_arm(setup, arm, refs, people, clinic)
        rows = patient_rows(unit.log, end_h)
        days = day_rows(unit.log, setup.days)
        result.metrics.append(arm_metrics(unit.log, rows, days, end_h))
        result.occupancy.append(days)
        result.vein_to_vein_days.append(
            [r["vein_to_vein_days"] for r in rows if r["outcome"] == "treated"]
        )
        if keep_rows:
            result.rows.append(rows)
    return result


def _job(args: tuple[Any, ...]) -> ReplicationResult:
    return run_replication(*args)


@dataclass
class ClinicRun:
    setup: ClinicSetup
    origin: str
    clinic_hash: str
    replications: int
    arms: list[MetricTally]
    per_replication: list[list[dict[str, float]]]  # [replication][arm]
    occupancy: list[dict[str, list[float]]]  # per arm: daily means over replications
    vein_to_vein_days: list[list[float]]  # per arm, every treated patient of every replication
    wall_s: float

    def differences(self) -> list[dict[str, Estimate]]:
        out = []
        for k in range(1, len(self.arms)):
            diffs: dict[str, Estimate] = {}
            for key in METRICS:
                pairs = [
                    (rep[k][key], rep[0][key])
                    for rep in self.per_replication
                    if rep[k][key] == rep[k][key] and rep[0][key] == rep[0][key]  # not NaN
                ]
                a = [x for x, _ in pairs]
                b = [y for _, y in pairs]
                diffs[key] = paired_difference_mean(a, b)
            out.append(diffs)
        return out

    def to_json(self, timing: bool = True) -> dict[str, Any]:
        clinic = self.setup.clinic
        arms = []
        for lp, tally, occ in zip(self.setup.protocols, self.arms, self.occupancy, strict=True):
            rules = clinic.protocols[lp.protocol.id]
            arms.append(
                {
                    "protocol": lp.protocol.id,
                    "protocol_hash": lp.hash,
                    "manufacturing": rules.manufacturing,
                    "manufacturing_site": clinic.manufacturing[rules.manufacturing].site,
                    "monitoring": rules.monitoring.setting,
                    "metrics": {k: v.to_dict() for k, v in tally.estimates().items()},
                    "occupancy_by_day": {k: [round(x, 4) for x in v] for k, v in occ.items()},
                }
            )
        base = self.setup.protocols[0].protocol.id
        differences = [
            {
                "arm": lp.protocol.id,
                "versus": base,
                "metrics": {k: v.to_dict() for k, v in diff.items()},
            }
            for lp, diff in zip(self.setup.protocols[1:], self.differences(), strict=True)
        ]
        run: dict[str, Any] = {"replications": self.replications, "days": self.setup.days}
        if timing:
            run["wall_s"] = round(self.wall_s, 3)
        return {
            "clinic": {"id": clinic.id, "origin": self.origin, "hash": self.clinic_hash},
            "seed": self.setup.seed,
            "metrics": METRICS,
            "arms": arms,
            "differences": differences,
            "run": run,
        }


def run_clinic(
    setup: ClinicSetup,
    replications: int,
    *,
    origin: str = "",
    clinic_hash: str = "",
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    on_rows: Callable[[int, int, list[dict[str, Any]]], None] | None = None,
    on_days: Callable[[int, int, list[dict[str, Any]]], None] | None = None,
) -> ClinicRun:
    """Run every replication; ``on_rows(replication, arm, rows)`` / ``on_days(...)`` get
    each arm's patient and day rows in replication order."""
    from sim.workers import run_jobs

    start = time.perf_counter()
    arms = [MetricTally() for _ in setup.protocols]
    per_replication: list[list[dict[str, float]]] = []
    sums: list[dict[str, list[Moments]]] = [
        {k: [Moments() for _ in range(setup.days)] for k in ("beds", "icu")}
        for _ in setup.protocols
    ]
    v2v: list[list[float]] = [[] for _ in setup.protocols]
    jobs = [(setup, r, on_rows is not None) for r in range(replications)]
    for result in run_jobs(jobs, workers=workers, task=_job):
        per_replication.append(result.metrics)
        for k, values in enumerate(result.vein_to_vein_days):
            v2v[k].extend(values)
        for k, (tally, metrics) in enumerate(zip(arms, result.metrics, strict=True)):
            tally.add(metrics)
            for d, row in enumerate(result.occupancy[k]):
                sums[k]["beds"][d].add(row["beds_mean"])
                sums[k]["icu"][d].add(row["icu_mean"])
            if on_days is not None:
                on_days(result.replication, k, result.occupancy[k])
            if on_rows is not None:
                on_rows(result.replication, k, result.rows[k])
        if progress is not None:
            progress(1)
    occupancy = [{key: [m.mean for m in series] for key, series in arm.items()} for arm in sums]
    return ClinicRun(
        setup,
        origin,
        clinic_hash,
        replications,
        arms,
        per_replication,
        occupancy,
        v2v,
        time.perf_counter() - start,
    )
