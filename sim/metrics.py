"""Per-patient metrics, derived from the event log only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.records import Event, schedule

GRADES = ("crs_grade", "icans_grade", "iec_hs_grade", "gvhd_grade")


def patient_metrics(events: Sequence[Event]) -> dict[str, Any]:
    rows = schedule(events)
    planned = [r for r in rows if r.get("planned_time_h") is not None]
    infusions = [e for e in events if e.kind == "infusion"]
    fraction_doses = [e for e in infusions if e.data["phase"] == "fraction"]
    repeat_doses = [e for e in infusions if e.data["phase"] == "repeat"]
    planned_cells = sum(r["planned_cells"] for r in planned)
    given_cells = sum(e.data["cells"] for e in fraction_doses)
    max_grades = {g: 0 for g in GRADES}
    for e in events:
        if e.kind == "state_change" and e.data["variable"] in max_grades:
            max_grades[e.data["variable"]] = max(max_grades[e.data["variable"]], e.data["new"])
    holds = [e for e in events if e.kind == "hold"]
    held_h = sum(r.get("held_h") or 0.0 for r in rows)
    stops = [e for e in events if e.kind == "stop"]
    assessment = next(
        (e for e in events if e.kind == "assessment" and e.data.get("primary", True)), None
    )
    first = infusions[0].time_h if infusions else None
    last_fraction = fraction_doses[-1].time_h if fraction_doses else None
    return {
        "fractions_planned": len(planned),
        "fractions_given": sum(1 for r in planned if r["status"].startswith("given")),
        "fractions_skipped": sum(1 for r in planned if r["status"] == "skipped"),
        "fractions_not_given": sum(1 for r in planned if r["status"] == "not_given"),
        "planned_cells": planned_cells,
        "given_cells": given_cells,
        "planned_cells_per_kg": sum(r["planned_cells_per_kg"] for r in planned),
        "given_cells_per_kg": sum(e.data["cells_per_kg"] for e in fraction_doses),
        "dose_delivered_share": given_cells / planned_cells if planned_cells else 0.0,
        "full_dose_delivered": bool(planned) and given_cells >= planned_cells * (1 - 1e-9),
        "holds": len(holds),
        "held_h": held_h,
        "stopped": bool(stops),
        "stop_reason": stops[0].data["reason"] if stops else None,
        "first_infusion_time_h": first,
        "last_fraction_after_first_h": (
            last_fraction - first if last_fraction is not None and first is not None else None
        ),
        "repeat_doses_given": len(repeat_doses),
        **{f"{g.removesuffix('_grade')}_max_grade": v for g, v in max_grades.items()},
        "response": assessment.data["response"] if assessment else None,
    }
