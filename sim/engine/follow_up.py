"""Follow-up after the first infusion: visits, the response assessment, procedures.

Days count from the first CAR-T infusion actually given. Everything here is an
assessment, so it happens in the ASSESS phase (before any decision at the same time).
The run ends at the end of ``horizon_day``, before anything else due at that instant.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from sim.engine.clock import ASSESS, END
from sim.engine.course import Course


def response_label(state: dict[str, Any]) -> str:
    if state["in_remission"]:
        return "CR, MRD-positive" if state["mrd_positive"] else "MRD-negative CR"
    return "relapse" if state["relapse"] else "no remission"


def follow_up(c: Course) -> Generator[Any, Any, None]:
    p = c.protocol
    fu = p.follow_up
    anchor = p.calendar.anchor_day
    items: list[tuple[float, int, str, Any]] = []
    for day in fu.visit_days:
        items.append((c.day_start_h(day) + fu.visit_hour, 0, "visit", day))
    if fu.response_day is not None:
        items.append(
            (c.day_start_h(fu.response_day) + fu.visit_hour, 1, "assessment", fu.response_day)
        )
    for day in fu.assessment_days:
        items.append((c.day_start_h(day) + fu.visit_hour, 1, "assessment", day))
    for i, proc in enumerate(p.procedures):
        if proc.day >= anchor:
            items.append((c.day_start_h(proc.day) + proc.hour, 2, "procedure", i))
    end_h = c.day_start_h(c.horizon_day + 1)
    for time_h, _, kind, payload in sorted(items, key=lambda x: (x[0], x[1])):
        if time_h < c.now or time_h >= end_h:
            continue
        yield c.until(time_h, ASSESS)
        state = c.view()
        if kind == "visit":
            c.record(
                "visit",
                visit_day=payload,
                crs_grade=state["crs_grade"],
                icans_grade=state["icans_grade"],
            )
        elif kind == "assessment":
            response = (
                response_label(state)
                if c.models_response
                else "not assessed: nothing in this run models the disease"
            )
            c.record(
                "assessment",
                assessment_day=payload,
                primary=payload == fu.response_day,
                response=response,
                in_remission=state["in_remission"],
                mrd_positive=state["mrd_positive"],
                marrow_blasts_pct=state["marrow_blasts_pct"],
            )
        else:
            proc = p.procedures[payload]
            done = proc.when is None or proc.when(state)
            c.record(
                "procedure",
                name=proc.name,
                procedure_kind=proc.kind,
                done=done,
                reason=(proc.note or "planned")
                if done
                else f"not done: condition not met ({proc.when})",
            )
    yield c.until(end_h, END)
    c.record("end", reason=f"end of follow-up (day {c.horizon_day})")
