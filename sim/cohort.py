"""Cohorts of virtual patients, and protocol comparisons on the same patients.

Patient ``i`` of a cohort with root seed ``S`` has covariates and latent traits drawn
from streams keyed by ``(S, i)`` only: every protocol of a comparison sees the same
people (common random numbers), and results do not depend on the order patients are
run in. Each patient's outcomes are derived from its event log (:mod:`sim.outcomes`),
added to the arm's tally (:mod:`sim.tally`) and dropped, so memory does not grow with
the number of patients. Per-patient rows reach a caller only when it asks for them
(``on_rows``), chunk by chunk in patient order.

Patients run in fixed chunks of :data:`CHUNK` (:mod:`sim.workers` runs them in local
processes or on a Dask cluster); chunk results are merged in patient order, so the
output is the same whatever the worker count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.engine.run import RunResult, run_course
from sim.engine.virtual_patient import VirtualPatient
from sim.model.latent import Latent, draw_latent
from sim.model.parameters import ModelParameters, load_parameters
from sim.model.population import population, sample_patient
from sim.model.streams import StreamBlock, patient_stream
from sim.outcomes import patient_outcomes
from sim.paths import crs_onset_checks, fraction_path
from sim.spec.load import LoadedProtocol
from sim.spec.scenario import Patient
from sim.stats import Estimate
from sim.tally import ArmTally, PairTally

DEFAULT_POPULATION = "adult-rr-ball"
FOLLOW_UP_DAYS = 760  # enough for 24-month survival
CHUNK = 250  # patients per unit of work; fixed, so results never depend on worker count


@dataclass(frozen=True)
class CohortSetup:
    population: str = DEFAULT_POPULATION
    seed: int = 0
    fixed: tuple[tuple[str, Any], ...] = ()
    params: ModelParameters | None = None

    def parameters(self) -> ModelParameters:
        return self.params or load_parameters()


def virtual_patient(setup: CohortSetup, index: int, block: StreamBlock | None = None) -> Patient:
    """Patient ``index``'s covariates; ``block`` (holding that patient) gives the same
    stream faster."""
    params = setup.parameters()
    pop = population(params, setup.population)
    rng = patient_stream(setup.seed, index, "covariates", block)
    return sample_patient(pop, rng, dict(setup.fixed))


def run_patient_result(
    loaded: LoadedProtocol,
    setup: CohortSetup,
    index: int,
    person: tuple[Patient, Latent] | None = None,
) -> RunResult:
    """Virtual patient ``index`` of the cohort through one protocol: the whole run.

    ``person`` passes the patient's covariates and latent traits when they are already
    drawn (the same person in every arm: they depend on the seed and index only)."""
    patient, latent = person or (virtual_patient(setup, index), draw_latent(setup.seed, index))
    source = VirtualPatient(setup.parameters(), latent)
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
    """Every patient's outcome row, kept in memory (for tests and small cohorts)."""
    rows: list[dict[str, Any]] = []
    events = 0
    for i in range(n):
        row, count = run_patient(loaded, setup, i)
        rows.append(row)
        events += count
        if progress is not None:
            progress(1)
    return rows, events


def arm_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Estimate]:
    """Per-arm endpoints with 95 % CIs, from rows held in memory."""
    tally = ArmTally()
    for row in rows:
        tally.add(row)
    return tally.metrics()


def differences(a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> dict[str, Estimate]:
    """Paired differences a - b on the same virtual patients, from rows held in memory."""
    pair = PairTally()
    for ra, rb in zip(a, b, strict=True):
        pair.add(ra, rb)
    return pair.metrics()


@dataclass
class ChunkResult:
    """What one chunk of patients contributes: tallies, event count, rows if asked for."""

    start: int
    stop: int
    arms: list[ArmTally]
    pairs: list[PairTally]  # arm k (k >= 1) versus arm 0
    sim_events: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, arms: int) -> ChunkResult:
        """The running total of a cohort of ``arms`` arms, before any chunk is merged."""
        pairs = [PairTally() for _ in range(arms - 1)]
        return cls(0, 0, [ArmTally() for _ in range(arms)], pairs, 0)

    def merge(self, other: ChunkResult) -> None:
        for mine, theirs in zip(self.arms, other.arms, strict=True):
            mine.merge(theirs)
        for mine_p, theirs_p in zip(self.pairs, other.pairs, strict=True):
            mine_p.merge(theirs_p)
        self.sim_events += other.sim_events
        self.stop = other.stop


def run_chunk(
    protocols: Sequence[LoadedProtocol],
    setup: CohortSetup,
    start: int,
    stop: int,
    keep_rows: bool = False,
    keep_events: bool = False,
) -> ChunkResult:
    """Patients ``start .. stop-1`` through every protocol (same patients in every arm).

    ``keep_rows`` keeps each patient's outcome row with its covariates, ``keep_events``
    each patient's tidy event rows (:mod:`sim.exports.events`), for files the caller writes.
    """
    arms = [ArmTally() for _ in protocols]
    pairs = [PairTally() for _ in protocols[1:]]
    kept: list[dict[str, Any]] = []
    kept_events: list[dict[str, Any]] = []
    if keep_events:
        from sim.exports.events import event_rows
    events = 0
    block = StreamBlock(setup.seed, start, stop)
    for i in range(start, stop):
        rows = []
        person = (virtual_patient(setup, i, block), draw_latent(setup.seed, i, block))
        for lp, tally in zip(protocols, arms, strict=True):
            result = run_patient_result(lp, setup, i, person)
            row = patient_outcomes(result.events)
            tally.add(row, fraction_path(result.events), crs_onset_checks(result.events))
            events += result.sim_events
            rows.append(row)
            if keep_rows:
                covariates = result.patient.model_dump(mode="json")
                kept.append({"protocol": lp.protocol.id, "patient": i, **covariates, **row})
            if keep_events:
                kept_events.extend(event_rows(result, i))
        for pair, row in zip(pairs, rows[1:], strict=True):
            pair.add(row, rows[0])
    return ChunkResult(start, stop, arms, pairs, events, kept, kept_events)


def chunks(n: int, size: int = CHUNK) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


@dataclass
class Comparison:
    seed: int
    population: str
    patients: int
    protocols: list[LoadedProtocol]
    total: ChunkResult
    wall_s: float

    @property
    def sim_events(self) -> int:
        return self.total.sim_events

    def arm_metrics(self) -> list[dict[str, Estimate]]:
        return [arm.metrics() for arm in self.total.arms]

    def to_json(self, timing: bool = True) -> dict[str, Any]:
        arms = [
            {
                "protocol": lp.protocol.id,
                "protocol_hash": lp.hash,
                "n": tally.n,
                "metrics": {k: v.to_dict() for k, v in tally.metrics().items()},
            }
            for lp, tally in zip(self.protocols, self.total.arms, strict=True)
        ]
        base = self.protocols[0].protocol.id
        diffs = [
            {
                "arm": lp.protocol.id,
                "versus": base,
                "metrics": {k: v.to_dict() for k, v in pair.metrics().items()},
            }
            for lp, pair in zip(self.protocols[1:], self.total.pairs, strict=True)
        ]
        run: dict[str, Any] = {"patients": self.patients, "sim_events": self.sim_events}
        if timing:
            run["wall_s"] = round(self.wall_s, 3)
        return {
            "seed": self.seed,
            "population": self.population,
            "arms": arms,
            "differences": diffs,
            "run": run,
        }


def compare(
    protocols: Sequence[LoadedProtocol],
    setup: CohortSetup,
    n: int,
    progress: Callable[[int], None] | None = None,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    on_events: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Comparison:
    """Run ``n`` virtual patients through every protocol and tally the endpoints.

    ``progress`` is called with the number of patients finished (per chunk); ``on_rows``
    and ``on_events`` receive each chunk's per-patient rows and event rows, in patient
    order (asking for them is what makes the workers keep them).
    """
    from sim.workers import run_chunks

    start = time.perf_counter()
    total = ChunkResult.empty(len(protocols))
    parts = run_chunks(
        list(protocols),
        setup,
        chunks(n),
        workers=workers,
        scheduler=scheduler,
        keep_rows=on_rows is not None,
        keep_events=on_events is not None,
    )
    for part in parts:
        if on_rows is not None:
            on_rows(part.rows)
            part.rows = []
        if on_events is not None:
            on_events(part.events)
            part.events = []
        total.merge(part)
        if progress is not None:
            progress(part.stop - part.start)
    return Comparison(
        setup.seed, setup.population, n, list(protocols), total, time.perf_counter() - start
    )
