"""The per-patient data the cohort figures and the HTML report draw, in one pass.

Each arm runs the cohort's virtual patients ``0 .. n-1`` through one protocol (common
random numbers, :func:`sim.cohort.run_patient_result`) and keeps, per patient, only
what is derived from its event log: the outcome row (:func:`sim.outcomes.patient_outcomes`)
and the decision path (:func:`sim.paths.fraction_path`); the whole event log is kept for
the first ``keep`` patients only (the rows of the swimmer plot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim.cohort import CohortSetup, run_patient_result
from sim.outcomes import patient_outcomes
from sim.paths import FractionPath, fraction_path
from sim.records import Event
from sim.spec.load import LoadedProtocol

SWIMMER_ROWS = 30


@dataclass(frozen=True)
class ArmRuns:
    protocol: str
    protocol_hash: str
    fractions: tuple[str, ...]
    anchor_day: int
    outcomes: tuple[dict[str, Any], ...]
    paths: Counter[FractionPath]
    sample: tuple[tuple[Event, ...], ...]  # event logs of patients 0 .. keep-1

    @property
    def n(self) -> int:
        return len(self.outcomes)


def run_arm(
    loaded: LoadedProtocol,
    setup: CohortSetup,
    n: int,
    keep: int = SWIMMER_ROWS,
    progress: Callable[[int], None] | None = None,
) -> ArmRuns:
    """Patients ``0 .. n-1`` through one protocol; ``progress(1)`` after each patient."""
    outcomes: list[dict[str, Any]] = []
    paths: Counter[FractionPath] = Counter()
    sample: list[tuple[Event, ...]] = []
    for i in range(n):
        events = run_patient_result(loaded, setup, i).events
        row = patient_outcomes(events)
        row["patient"] = i
        outcomes.append(row)
        paths[fraction_path(events)] += 1
        if i < keep:
            sample.append(events)
        if progress is not None:
            progress(1)
    p = loaded.protocol
    return ArmRuns(
        protocol=p.id,
        protocol_hash=loaded.hash,
        fractions=tuple(f.id for f in p.fractions),
        anchor_day=p.calendar.anchor_day,
        outcomes=tuple(outcomes),
        paths=paths,
        sample=tuple(sample),
    )


def run_arms(
    loaded: Sequence[LoadedProtocol],
    setup: CohortSetup,
    n: int,
    keep: int = SWIMMER_ROWS,
    progress: Callable[[int], None] | None = None,
) -> list[ArmRuns]:
    """Every arm in turn; ``progress(1)`` after each patient of each arm (``n`` per arm)."""
    return [run_arm(lp, setup, n, keep, progress) for lp in loaded]
