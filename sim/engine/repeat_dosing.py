"""Repeat dosing (e.g. CAR-DLI for relapse) as part of the protocol process.

The phase waits until ``earliest_day`` and until its ``trigger`` holds (re-checked at
every state change), then gives doses from the ``ladder``: repeat n gets ladder rung n
(the last rung once the ladder runs out), at least ``min_interval_days`` after the
previous repeat dose. Before each dose the ``stop_when`` conditions are checked (e.g.
response, GVHD), then that the trigger still holds (no escalation without disease),
then the gate. A ``reduce`` steps one rung down the ladder. The phase ends after
``max_doses`` attempts, or when a stop condition, a cleared trigger or a gate stops it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.dosing import resolve_dose
from sim.engine.clock import DECIDE
from sim.engine.course import Course
from sim.engine.infusion import Attempt, attempt_dose
from sim.spec.checks import gate_rules


def repeat_course(c: Course) -> Generator[Any, Any, str]:
    p = c.protocol
    rep = p.repeat_dosing
    assert rep is not None
    yield c.until(c.day_start_h(rep.earliest_day), DECIDE)
    while not rep.trigger(c.view()):
        yield c.state_changed()
        yield c.until(c.now, DECIDE)  # let every change at this instant land first
    c.record("repeat_phase", status="started", reason=f"trigger met: {rep.trigger}")
    rules = gate_rules(p, rep.use_gate, rep.gate)
    hour = rep.hour if rep.hour is not None else p.calendar.infusion_hour
    weight = c.patient.weight_kg
    rung = 0
    last_h: float | None = None
    for n in range(1, rep.max_doses + 1):
        if last_h is None:
            earliest = c.day_start_h(c.study_day()) + hour
            if earliest < c.now:
                earliest += 24.0  # the next day at the dosing hour
        else:
            earliest = last_h + rep.min_interval_days * 24.0
        yield c.until(earliest, DECIDE)
        view = c.view()
        stop = next((s for s in rep.stop_when if s.when(view)), None)
        if stop is not None:
            c.record("repeat_phase", status="ended", reason=f"{stop.reason} ({stop.when})")
            return "completed"
        if n > 1 and not rep.trigger(view):
            c.record(
                "repeat_phase",
                status="ended",
                reason=f"trigger no longer met ({rep.trigger}): no further escalation",
            )
            return "completed"
        top = min(rung, len(rep.ladder) - 1)
        rung_cells = [resolve_dose(rep.ladder[r], weight, None).cells for r in range(top + 1)]
        levels = [(rung_cells[r], rung_cells[r] / rung_cells[top]) for r in range(top, -1, -1)]
        result = yield from attempt_dose(
            c,
            Attempt(
                label=f"R{n}",
                phase="repeat",
                rules=rules,
                earliest_h=c.now,
                deadline_h=None,
                if_missed="skip",
                levels=levels,
                planned_cells=levels[0][0],
            ),
        )
        if result.outcome == "stopped":
            c.record("repeat_phase", status="ended", reason=result.reason)
            return "stopped"
        if result.outcome == "given":
            last_h = c.now
            rung = top - result.levels_down + 1
        else:
            last_h = c.now
    c.record("repeat_phase", status="ended", reason=f"all {rep.max_doses} repeat doses attempted")
    return "completed"
