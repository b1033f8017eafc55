"""Replay a run: its realised doses as a fixed protocol with no gates, run again.

A run's ledger (every CAR-T dose actually given: when, which fraction or repeat dose, how
many cells) and its lymphodepletion (every LD dose given) become a protocol with the same
LD at the same times and the same infusions at the same times and in the same amounts,
and nothing else that decides: no gates, no dose plans, no dose ladder, no deadlines, no
LD window, no repeat-dosing phase. Run with the same patient, seed and toxicity source
(the same scenario script, or the same virtual patient: seed and cohort index), the
patient must come out identical, toxicity and kinetics both: what the gates decided
reaches the patient only through the doses given. ``tests/test_replay.py`` checks this
over generated protocols and scripts and over every built-in protocol and scenario.

The calendar. The original run renumbered its days so that its first infusion, given
``shift`` days after its planned day (a hold, a repeated LD), is day ``anchor_day``. The
replay keeps the original *planned* clock instead, so that every moment is the same
number (a scripted episode on a planned day falls at the same moment, and the model sees
the same dose times): its first infusion is numbered day ``anchor_day + shift``, and the
days counted from the first infusion (follow-up visits, the response day, the horizon,
procedures after day 0) move by ``shift`` too. Compare the two runs by time since the
first infusion, as :func:`patient_trace` does.

Amounts are replayed as given, even where they lie outside what an input file may ask
for (a carried-forward dose can exceed the per-dose limit of a file): the replay is a
record, not an input. The replay's clock starts where the original's did (a scripted
episode before the start lands at the start), and procedures are kept as they were.
"""

from __future__ import annotations

import math
from typing import Any

from sim.engine.run import RunResult, ToxicitySource, run_course, start_time_h
from sim.records import ledger
from sim.spec.load import spec_hash
from sim.spec.protocol import DoseAmount, Drug, FollowUp, Fraction, Lymphodepletion, Protocol

PATIENT_EVENTS = frozenset(
    {"state_change", "kinetics", "expansion_peak", "death", "visit", "assessment"}
)
"""What happens to (or is seen in) the patient, as opposed to what the protocol decides."""


class ReplayError(ValueError):
    """A run that cannot be replayed (it gave no CAR-T dose)."""


def _shift_days(result: RunResult) -> int:
    """Days between the first infusion's planned day and the day it was given."""
    p = result.protocol
    first = p.fractions[0]
    day = first.day if first.day is not None else p.calendar.anchor_day
    hour = first.hour if first.hour is not None else p.calendar.infusion_hour
    planned = next(
        e for e in result.events if e.kind == "planned" and e.data["fraction"] == first.id
    )
    planned_h = float(planned.data["planned_time_h"])
    return round((day * 24.0 + hour - planned_h) / 24.0)


def _day_and_hour(time_h: float) -> tuple[int, float]:
    day = math.floor(time_h / 24.0 + 1e-9)  # as the engine numbers days
    return day, max(0.0, time_h - day * 24.0)


def _lymphodepletion(result: RunResult, shift_h: float) -> Lymphodepletion | None:
    """Every LD dose given, as a course with no gate or window: each drug entry of the
    protocol keeps its hour and gets the days it was actually given (a held course moves
    its remaining days, so they need not follow the planned pattern)."""
    ld = result.protocol.lymphodepletion
    given = [e for e in result.events if e.kind == "ld_dose"]
    if ld is None or not given:
        return None
    drugs = []
    for drug in ld.drugs:
        days = []
        for e in given:
            day, hour = _day_and_hour(e.time_h + shift_h)
            if e.data["drug"] == drug.name and abs(hour - drug.hour) < 1e-6:
                days.append(day)
        if days:
            drugs.append(Drug.model_validate({**drug.model_dump(), "days": sorted(days)}))
    if sum(len(drug.days) for drug in drugs) != len(given):  # pragma: no cover - a bug
        raise ReplayError("the lymphodepletion doses given do not match the protocol's course")
    return ld.model_copy(update={"drugs": drugs, "validity": None, "use_gate": None, "gate": []})


def replay_protocol(result: RunResult) -> Protocol:
    """The doses a run actually gave (and its LD), as a protocol with no gates."""
    doses = ledger(result.events)
    if not doses:
        raise ReplayError(
            f"protocol '{result.protocol.id}': the run gave no CAR-T dose; nothing to replay"
        )
    p = result.protocol
    shift = _shift_days(result)
    shift_h = shift * 24.0
    anchor = p.calendar.anchor_day
    fractions = []
    for dose in doses:
        day, hour = _day_and_hour(dose["time_h"] + shift_h)
        fractions.append(
            Fraction.model_validate(
                {
                    "id": dose["fraction"],
                    "day": day,
                    "hour": hour,
                    "min_interval_h": 0,
                    "dose": DoseAmount.model_construct(cells=dose["cells"]),
                }
            )
        )
    fu = p.follow_up
    follow_up = FollowUp.model_validate(
        {
            **fu.model_dump(),
            "visit_days": [d + shift for d in fu.visit_days],
            "response_day": None if fu.response_day is None else fu.response_day + shift,
            "horizon_day": fu.horizon_day + shift,
        }
    )
    procedures = [
        proc if proc.day < anchor else proc.model_copy(update={"day": proc.day + shift})
        for proc in p.procedures
    ]
    return p.model_copy(
        update={
            "title": f"replay of a run of {p.id}: the doses given, no gates",
            "calendar": p.calendar.model_copy(update={"anchor_day": anchor + shift}),
            "lymphodepletion": _lymphodepletion(result, shift_h),
            "procedures": procedures,
            "planned_total": None,
            "dose_selection": [],
            "dose_ladder": None,
            "undelivered": "drop",
            "gates": {},
            "fractions": fractions,
            "repeat_dosing": None,
            "follow_up": follow_up,
        }
    )


def replay(
    result: RunResult,
    toxicity: ToxicitySource | None = None,
    *,
    horizon_day: int | None = None,
) -> RunResult:
    """Run the doses ``result`` gave again, with no gates.

    ``toxicity`` is a fresh source equal to the original's (a run does not keep its
    source: pass the same scenario script, or the virtual patient of the same seed and
    cohort index); ``horizon_day`` is the original run's horizon override, if any (a
    cohort run's 760 days).
    """
    protocol = replay_protocol(result)
    shift = protocol.calendar.anchor_day - result.protocol.calendar.anchor_day
    return run_course(
        protocol,
        result.patient,
        toxicity=toxicity,
        seed=result.seed,
        origin=f"replay of {result.protocol_origin or result.protocol.id}",
        protocol_hash=spec_hash(protocol),
        scenario=result.scenario,
        horizon_day=None if horizon_day is None else horizon_day + shift,
        start_h=start_time_h(result.protocol),
    )


def patient_trace(result: RunResult) -> list[tuple[Any, ...]]:
    """What happened to the patient, by hours since the first infusion.

    Every state change (CRS, ICANS, IEC-HS and GVHD grades, fever, infection, cytopenia,
    disease), the model's kinetics and expansion peak, death, what visits and the
    response assessment saw, every dose given (time, label, cells), and the end of the
    run. Day labels (``visit_day``, ``assessment_day``) are left out: they are numbered
    on each run's own calendar.
    """
    first = next(e.time_h for e in result.events if e.kind == "infusion")
    trace: list[tuple[Any, ...]] = []
    for e in result.events:
        since = round(e.time_h - first, 6)
        if e.kind in PATIENT_EVENTS:
            data = {k: v for k, v in e.data.items() if not k.endswith("_day")}
            trace.append((since, e.kind, tuple(sorted(data.items()))))
        elif e.kind == "infusion":
            label = e.data["fraction"]
            trace.append((since, "dose", label, e.data["cells"], e.data["cells_per_kg"]))
        elif e.kind == "end":
            trace.append((since, "end"))
    return trace
