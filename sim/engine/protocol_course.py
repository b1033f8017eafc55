"""The protocol as a SimPy process: dose plan, LD, fractions, then repeat dosing.

Fraction timing: a fraction's earliest start is the later of its nominal day (at its
hour) and ``min_interval_h`` after the previous fraction *actually given* (if none was
given yet, after the previous fraction was skipped). Nominal days after the first
infusion count from the day it was actually given. A fraction that cannot start by
the end of its ``latest_day`` is missed (``if_missed``: skip or stop).

Undelivered cells: with ``undelivered: drop`` a skipped fraction's cells are not given;
with ``carry_forward`` they are added to the next fraction (and dropped if none is
left). When the protocol stops, every fraction not yet given is logged as not given.
Repeat dosing starts only after a CAR-T dose was given (with every fraction skipped,
there is nothing to repeat and no day 0 to count its days from).

Lymphodepletion validity: while no CAR-T dose has been given, each gate check first
checks that the first infusion still starts within ``max_days_after_ld`` days of the
last LD day; if not, LD is repeated (the same course, starting the next day, with the
first infusion the same number of days after it as planned) or the protocol stops.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from sim.dosing import ld_doses, plan_doses
from sim.engine.clock import DECIDE
from sim.engine.course import Course
from sim.engine.infusion import (
    LD_VALIDITY_RULE,
    Attempt,
    GuardResult,
    Process,
    attempt_dose,
    gate_until_decided,
    record_resume,
)
from sim.engine.repeat_dosing import repeat_course
from sim.spec.checks import LD_LABEL, gate_rules
from sim.spec.protocol import GateRule, Lymphodepletion
from sim.spec.scenario import Patient


class LdCourse:
    """Bookkeeping of lymphodepletion courses given so far."""

    def __init__(self, ld: Lymphodepletion, anchor_day: int, rules: list[GateRule]) -> None:
        self.ld = ld
        self.rules = rules
        days = sorted({d for drug in ld.drugs for d in drug.days})
        self.first_day, self.last_day = days[0], days[-1]
        self.gap_days = anchor_day - self.last_day  # last LD day to first infusion
        self.courses = 0
        self.last_sim_day = self.last_day  # sim-calendar day of the last LD dose given
        self.held_days = 0  # whole days the LD gate moved the courses so far

    def give(self, c: Course, offset_days: int, patient: Patient) -> Process:
        """Give one LD course, shifted by ``offset_days`` from the planned days; returns
        False if the LD gate stopped the protocol. Before each dose time the gate is
        checked; a hold moves the rest of the course (and the first infusion) by whole
        days, so each drug keeps its hour."""
        self.courses += 1
        bsa, doses = ld_doses(self.ld, patient)
        items = sorted(
            (day + offset_days, drug.hour, i)
            for i, drug in enumerate(self.ld.drugs)
            for day in drug.days
        )
        checked_at: float | None = None
        moved = 0
        for sim_day, hour, i in items:
            at = (sim_day + moved) * 24.0 + hour
            while self.rules and checked_at != at:
                yield c.until(at, DECIDE)
                decided = yield from gate_until_decided(c, LD_LABEL, self.rules)
                assert decided is not None
                if decided.action != "give":  # stop (a delay that ran out stops too)
                    rule = decided.rule.name if decided.rule is not None else "ld-gate"
                    c.record(
                        "gate",
                        fraction=LD_LABEL,
                        action="stop",
                        rule=rule,
                        reason=decided.reason,
                        fired=decided.fired,
                        state=decided.seen,
                    )
                    c.record("stop", fraction=LD_LABEL, rule=rule, reason=decided.reason)
                    return False
                c.record(
                    "gate",
                    fraction=LD_LABEL,
                    action="give",
                    rule=None,
                    reason=decided.reason,
                    fired=decided.fired,
                    state=decided.seen,
                )
                if decided.hold is not None:
                    record_resume(c, LD_LABEL, decided.hold)
                    days = math.ceil((c.now - at) / 24.0 - 1e-9)
                    moved += days
                    self.held_days += days
                    at += days * 24.0
                    if at > c.now + 1e-9:
                        continue  # cleared between dose hours: check again at the next one
                checked_at = at
            yield c.until(at, DECIDE)
            dose = doses[i]
            c.ld_given = True
            c.record(
                "ld_dose",
                drug=dose.drug,
                mg_per_m2=dose.mg_per_m2,
                bsa_m2=round(bsa, 4),
                bsa_formula=self.ld.bsa_formula,
                mg=round(dose.mg, 2),
                course=self.courses,
            )
        self.last_sim_day = self.last_day + offset_days + moved
        return True


def protocol_course(c: Course) -> Generator[Any, Any, str]:
    p = c.protocol
    anchor = p.calendar.anchor_day
    choice = plan_doses(p, c.patient)
    c.record(
        "dose_plan",
        plan=choice.label,
        reason=choice.reason,
        planned_total_cells=choice.planned_total.cells
        if choice.planned_total
        else sum(f.cells for f in choice.fractions),
    )
    planned_at: float | None = None
    for fr, fp in zip(p.fractions, choice.fractions, strict=True):
        day = fr.day if fr.day is not None else (anchor if planned_at is None else None)
        hour = fr.hour if fr.hour is not None else p.calendar.infusion_hour
        candidates = [] if day is None else [day * 24.0 + hour]
        if planned_at is not None:
            candidates.append(planned_at + fr.min_interval_h)
        planned_at = max(candidates)
        c.record(
            "planned",
            fraction=fr.id,
            planned_time_h=planned_at,
            cells=fp.cells,
            cells_per_kg=fp.cells_per_kg,
            basis=fp.basis,
        )

    # before day 0: procedures (e.g. debulking) and lymphodepletion, in time order
    for proc in sorted((x for x in p.procedures if x.day < anchor), key=lambda x: x.day):
        yield c.until(proc.day * 24.0 + proc.hour, DECIDE)
        done = proc.when is None or proc.when(c.view())
        c.record(
            "procedure",
            name=proc.name,
            procedure_kind=proc.kind,
            done=done,
            reason=proc.note or (str(proc.when) if proc.when else "planned"),
        )

    def stop_before_any_dose(reason: str) -> str:
        for rest, rest_plan in zip(p.fractions, choice.fractions, strict=True):
            c.record(
                "not_given",
                fraction=rest.id,
                cells=rest_plan.cells,
                cells_per_kg=rest_plan.cells / c.patient.weight_kg,
                reason=f"protocol stopped: {reason}",
            )
        return "stopped"

    ld = None
    if p.lymphodepletion is not None:
        rules = gate_rules(p, p.lymphodepletion.use_gate, p.lymphodepletion.gate)
        ld = LdCourse(p.lymphodepletion, anchor, rules)
        if not (yield from ld.give(c, 0, c.patient)):
            return stop_before_any_dose("the lymphodepletion gate stopped the protocol")
        # a held course moves the first infusion with it (the same gap after the last LD day)
        c.shift_days = ld.held_days

    def ld_guard() -> Generator[Any, Any, GuardResult]:
        if ld is None or ld.ld.validity is None or c.first_infusion_h is not None:
            return ("ok", None)
        validity = ld.ld.validity
        today = math.floor(c.now / 24.0 + 1e-9)
        since = today - ld.last_sim_day
        if since <= validity.max_days_after_ld:
            return ("ok", None)
        repeat = validity.on_expiry == "repeat_ld" and ld.courses <= validity.max_repeats
        action = "repeat_ld" if repeat else "stop"
        reason = (
            f"lymphodepletion ended {since} days ago, beyond the {validity.max_days_after_ld}"
            f"-day window: " + ("repeating lymphodepletion" if repeat else "stopping")
        )
        c.record(
            "ld_expired",
            days_since_ld=since,
            max_days=validity.max_days_after_ld,
            action=action,
            course=ld.courses,
        )
        label = p.fractions[fraction_index].id
        c.record(
            "gate",
            fraction=label,
            action="delay" if repeat else "stop",
            rule=LD_VALIDITY_RULE,
            reason=reason,
            fired=(LD_VALIDITY_RULE,),
            state={"days_since_ld": since},
        )
        if not repeat:
            c.record("stop", fraction=label, rule=LD_VALIDITY_RULE, reason=reason)
            return ("stop", None)
        offset = today + 1 - ld.first_day
        if not (yield from ld.give(c, offset, c.patient)):
            return ("stop", None)
        c.shift_days = ld.last_sim_day + ld.gap_days - anchor
        hour = p.fractions[0].hour if p.fractions[0].hour is not None else p.calendar.infusion_hour
        return ("restart", (ld.last_sim_day + ld.gap_days) * 24.0 + hour)

    ladder = p.dose_ladder or [1.0]
    level = 0
    carried = 0.0
    last_given_h: float | None = None
    last_resolved_h: float | None = None
    fraction_index = 0
    for fraction_index, (fr, fp) in enumerate(zip(p.fractions, choice.fractions, strict=True)):
        day = fr.day if fr.day is not None else (anchor if fraction_index == 0 else None)
        hour = fr.hour if fr.hour is not None else p.calendar.infusion_hour
        candidates = [] if day is None else [c.day_start_h(day) + hour]
        previous = last_given_h if last_given_h is not None else last_resolved_h
        if previous is not None:
            candidates.append(previous + fr.min_interval_h)
        earliest = max(candidates) if candidates else c.now
        deadline = c.day_start_h(fr.latest_day + 1) if fr.latest_day is not None else None
        cells = fp.cells + carried
        attempt = Attempt(
            label=fr.id,
            phase="fraction",
            rules=gate_rules(p, fr.use_gate, fr.gate),
            earliest_h=earliest,
            deadline_h=deadline,
            if_missed=fr.if_missed,
            levels=[(cells * m, m) for m in ladder[level:]],
            planned_cells=fp.cells,
            carried_in_cells=carried,
        )
        result = yield from attempt_dose(c, attempt, ld_guard)
        level += result.levels_down
        last_resolved_h = c.now
        if result.outcome == "given":
            last_given_h = c.now
            carried = 0.0
        elif result.outcome == "skipped":
            carried = cells if p.undelivered == "carry_forward" else 0.0
        else:
            for j, (rest, rest_plan) in enumerate(
                zip(p.fractions[fraction_index:], choice.fractions[fraction_index:], strict=True)
            ):
                amount = rest_plan.cells + (carried if j == 0 else 0.0)
                c.record(
                    "not_given",
                    fraction=rest.id,
                    cells=amount,
                    cells_per_kg=amount / c.patient.weight_kg,
                    reason=f"protocol stopped: {result.reason}",
                )
            return "stopped"
    if carried > 0:
        c.record(
            "not_given",
            fraction=p.fractions[-1].id,
            cells=carried,
            cells_per_kg=carried / c.patient.weight_kg,
            reason="no later fraction to carry the cells of a skipped fraction into",
        )
    if p.repeat_dosing is not None:
        if c.first_infusion_h is None:  # every fraction skipped: there is nothing to repeat
            c.record(
                "repeat_phase",
                status="not started",
                reason="no CAR-T dose was given, so there is nothing to repeat",
            )
            return "completed"
        return (yield from repeat_course(c))
    return "completed"
