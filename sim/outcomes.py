"""One virtual patient's outcomes, derived from the event log only.

Times are in days from the first CAR-T infusion. Event-free survival counts relapse,
death, and no remission at the day-28 assessment (as an event on that day); overall
survival counts death. Relapse-free survival is defined for patients in remission at the
main response assessment only, from that assessment to relapse or death. Non-relapse
mortality is a death with no relapse before it. Patients without an event are censored
at the end of the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sim.metrics import patient_metrics
from sim.records import Event

DAY = 24.0


def _episode(events: Sequence[Event], variable: str) -> tuple[float | None, float | None]:
    """Onset and end time (h) of the first episode where ``variable`` > 0."""
    onset = end = None
    for e in events:
        if e.kind == "state_change" and e.data["variable"] == variable:
            if onset is None and e.data["new"] > 0:
                onset = e.time_h
            elif onset is not None and end is None and e.data["new"] == 0:
                end = e.time_h
    return onset, end


def _ever(events: Sequence[Event], variable: str) -> bool:
    """Whether ``variable`` was ever set above 0 (or true)."""
    return any(
        e.kind == "state_change" and e.data["variable"] == variable and bool(e.data["new"])
        for e in events
    )


def _first_at_least(events: Sequence[Event], variable: str, level: float) -> float | None:
    """Time (h) the graded ``variable`` first reaches ``level``."""
    return next(
        (
            e.time_h
            for e in events
            if e.kind == "state_change"
            and e.data["variable"] == variable
            and e.data["new"] >= level
        ),
        None,
    )


def patient_outcomes(events: Sequence[Event]) -> dict[str, Any]:
    m = patient_metrics(events)
    out: dict[str, Any] = {
        k: m[k]
        for k in (
            "fractions_planned",
            "fractions_given",
            "full_dose_delivered",
            "holds",
            "held_h",
            "stopped",
            "given_cells_per_kg",
            "dose_delivered_share",
            "repeat_doses_given",
            "crs_max_grade",
            "icans_max_grade",
            "iec_hs_max_grade",
            "gvhd_max_grade",
            "last_fraction_after_first_h",
            "response",
        )
    }
    infusions = [e for e in events if e.kind == "infusion"]
    t0 = infusions[0].time_h if infusions else None
    end = events[-1].time_h
    out["infused"] = t0 is not None
    onset, stop = _episode(events, "crs_grade")
    out["crs_onset_day"] = (onset - t0) / DAY if onset is not None and t0 is not None else None
    out["crs_duration_days"] = (
        (stop - onset) / DAY if onset is not None and stop is not None else None
    )
    out["tocilizumab_given"] = _ever(events, "tocilizumab_doses")
    out["steroids_given"] = _ever(events, "steroids_active")
    kinetics = [e for e in events if e.kind == "kinetics"]
    last = kinetics[-1].data if kinetics else {}
    for key in ("peak_copies", "peak_day", "auc_0_28", "persistence_days", "fold_expansion"):
        out[key] = last.get(key)
    response = m["response"] or ""
    out["cr"] = response.startswith(("MRD-negative CR", "CR"))
    out["cr_mrd_negative"] = response == "MRD-negative CR"
    death = next((e.time_h for e in events if e.kind == "death"), None)
    relapse = next(
        (
            e.time_h
            for e in events
            if e.kind == "state_change"
            and e.data["variable"] == "relapse"
            and e.data["new"] is True
        ),
        None,
    )
    assessments = [e for e in events if e.kind == "assessment"]
    assessment = next((e for e in assessments if e.data.get("primary", True)), None)
    failure = assessment.time_h if assessment is not None and not out["cr"] else None
    origin = t0 if t0 is not None else 0.0
    efs_times = [t for t in (relapse, death, failure) if t is not None]
    out["efs_days"] = ((min(efs_times) if efs_times else end) - origin) / DAY
    out["efs_event"] = bool(efs_times)
    out["os_days"] = ((death if death is not None else end) - origin) / DAY
    out["os_event"] = death is not None

    def days(time_h: float | None) -> float | None:
        return None if time_h is None else (time_h - origin) / DAY

    # response at every assessment (day -> in CR), and overall (best) response
    out["cr_at"] = {
        int(e.data["assessment_day"]): str(e.data["response"]).startswith(("MRD-negative CR", "CR"))
        for e in assessments
    }
    out["overall_response"] = any(out["cr_at"].values())
    # relapse-free survival: responders at the main assessment, from that assessment
    if assessment is not None and out["cr"] and (relapse is None or relapse > assessment.time_h):
        rfs_end = [t for t in (relapse, death) if t is not None]
        out["rfs_days"] = ((min(rfs_end) if rfs_end else end) - assessment.time_h) / DAY
        out["rfs_event"] = bool(rfs_end)
    else:
        out["rfs_days"] = out["rfs_event"] = None
    # non-relapse mortality: death with no relapse before it; relapse competes with it
    out["nrm_day"] = days(death) if death is not None and relapse is None else None
    out["relapse_day"] = days(relapse)
    out["alive_end_day"] = days(end) if death is None else None
    out["icans_onset_day"] = days(_episode(events, "icans_grade")[0])
    for grade in (1, 2, 3):
        out[f"gvhd_grade{grade}_day"] = days(_first_at_least(events, "gvhd_grade", grade))
    return out
