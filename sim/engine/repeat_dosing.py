"""Repeat dosing (e.g. CAR-DLI for relapse) as part of the protocol process.

The phase waits until ``earliest_day`` and until its ``trigger`` holds (re-checked at
every state change), then, ``confirm_days`` later (time to confirm a relapse on a
marrow examination; the trigger must still hold), gives doses from the ``ladder``:
repeat n gets ladder rung n (the last rung once the ladder runs out), at least
``min_interval_days`` after the previous repeat dose. Before each dose the
``stop_when`` conditions are checked (e.g. response, GVHD), then that the trigger still
holds (no escalation without disease), then the gate; while a gate holds the dose,
every re-check first checks the stop conditions and the trigger again (a response
during a hold ends the phase). A ``reduce`` steps down to the next lower rung that has
fewer cells. The phase ends after ``max_doses`` attempts, or when a stop condition, a
cleared trigger or a gate stops it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.dosing import resolve_dose
from sim.engine.clock import DECIDE
from sim.engine.course import Course
from sim.engine.infusion import Attempt, GuardResult, attempt_dose
from sim.spec.checks import gate_rules


def repeat_course(c: Course) -> Generator[Any, Any, str]:
    p = c.protocol
    rep = p.repeat_dosing
    assert rep is not None
    yield c.until(c.day_start_h(rep.earliest_day), DECIDE)
    while not rep.trigger(c.view()):
        yield c.state_changed()
        yield c.until(c.now, DECIDE)  # let every change at this instant land first
    started = f"trigger met: {rep.trigger}"
    if rep.confirm_days:
        started += f"; the first repeat dose waits {rep.confirm_days:g} days to confirm it"
    c.record("repeat_phase", status="started", reason=started)
    confirmed_h = c.now + rep.confirm_days * 24.0
    rules = gate_rules(p, rep.use_gate, rep.gate)
    hour = rep.hour if rep.hour is not None else p.calendar.infusion_hour
    weight = c.patient.weight_kg
    rung = 0
    last_h: float | None = None
    ended: list[str] = []  # why a guard ended a held dose
    for n in range(1, rep.max_doses + 1):
        if last_h is None:
            earliest = c.day_start_h(c.study_day(confirmed_h)) + hour
            if earliest < confirmed_h:
                earliest += 24.0  # the next day at the dosing hour
        else:
            earliest = last_h + rep.min_interval_days * 24.0
        yield c.until(earliest, DECIDE)
        reason = _no_longer_wanted(c, n)
        if reason is not None:
            c.record("repeat_phase", status="ended", reason=reason)
            return "completed"

        def still_wanted(n: int = n) -> Generator[Any, Any, GuardResult]:
            """Re-check the stop conditions and the trigger at every re-check of a hold."""
            reason = _no_longer_wanted(c, n)
            if reason is not None:
                ended.append(reason)
                return ("stop", None)
            return ("ok", None)
            yield  # a guard is a generator (it may wait); this one never does

        top = min(rung, len(rep.ladder) - 1)
        rung_cells = [resolve_dose(rep.ladder[r], weight, None).cells for r in range(top + 1)]
        # 'reduce' steps down to lower rungs with fewer cells only: a ladder need not rise
        # (nor, with flat and per-kg rungs, rise for every weight), and a reduction that
        # gave more cells would not be one
        steps = [top]
        for r in range(top - 1, -1, -1):
            if rung_cells[r] < rung_cells[steps[-1]]:
                steps.append(r)
        levels = [(rung_cells[r], rung_cells[r] / rung_cells[top]) for r in steps]
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
            still_wanted,
        )
        if ended:  # a stop condition or the cleared trigger ended a hold
            c.record("repeat_phase", status="ended", reason=f"{ended[0]}; R{n} is not given")
            return "completed"
        if result.outcome == "stopped":
            c.record("repeat_phase", status="ended", reason=result.reason)
            return "stopped"
        if result.outcome == "given":
            last_h = c.now
            rung = steps[result.levels_down] + 1
        else:
            last_h = c.now
    c.record("repeat_phase", status="ended", reason=f"all {rep.max_doses} repeat doses attempted")
    return "completed"


def _no_longer_wanted(c: Course, n: int) -> str | None:
    """Why repeat dose ``n`` is no longer wanted (a stop condition, the cleared trigger)."""
    rep = c.protocol.repeat_dosing
    assert rep is not None
    view = c.view()
    stop = next((s for s in rep.stop_when if s.when(view)), None)
    if stop is not None:
        return f"{stop.reason} ({stop.when})"
    if (n > 1 or rep.confirm_days) and not rep.trigger(view):
        return f"trigger no longer met ({rep.trigger}): no further escalation"
    return None
