"""Everything the clinic reports, derived from its one event log.

Per patient: what became of them (``treated``: a first CAR-T infusion was given;
``died_waiting``; ``dropped_out``: progression while waiting, manufacturing failed, or
the protocol ended before any infusion; ``waiting``: none of these by the end of the
period), vein-to-vein time (start of apheresis to first infusion), ward and ICU days,
fractions held by the site. Per day: mean and peak ward and ICU beds in use. Per arm and
replication: the metrics of :data:`METRICS`. Across replications: each metric's mean
with a Student t interval (:func:`sim.stats.mean_ci`), and the paired difference of
each arm from the first (the arms share referrals and patients).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sim.clinic.resources import QUEUES, ClinicEvent
from sim.clinic.spec import DAYS_PER_MONTH
from sim.stats import Estimate, Moments, mean_ci

OUTCOMES = ("treated", "waiting", "dropped_out", "died_waiting")
SETTLE_DAYS = 60
"""Bed and ICU days per patient count patients first infused at least this many days
before the end of the period (or whose course ended), so that a stay cut short by the
end of the period does not pull the mean down."""
METRICS: dict[str, str] = {
    "referred": "patients referred",
    "treated": "patients given a first infusion",
    "waiting": "patients still waiting (or in LD) at the end",
    "dropped_out": "dropped out before any infusion",
    "died_waiting": "died while waiting",
    "treated_per_month": "patients treated per month",
    "vein_to_vein_days": "apheresis to first infusion, days (mean over treated)",
    "bed_occupancy_mean": "ward beds in use, time average",
    "bed_occupancy_peak": "ward beds in use, peak",
    "icu_occupancy_mean": "ICU beds in use, time average",
    "icu_occupancy_peak": "ICU beds in use, peak",
    "bed_days_per_patient": "ward days per treated patient (infused >= 60 days before the end)",
    "icu_days_per_patient": "ICU days per treated patient (infused >= 60 days before the end)",
    "icu_admissions": "ICU admissions",
    "icu_transfers_out": "transfers out for want of an ICU bed",
    "fractions_held": "doses held because no bed was free or the patient was in ICU/away",
    **{f"{q}_wait_days": f"mean wait in the {q} queue, days (all who queued)" for q in QUEUES},
}


def _intervals(
    events: Sequence[ClinicEvent], start: str, stop: str, end_h: float
) -> dict[int, list[tuple[float, float]]]:
    open_at: dict[int, float] = {}
    out: dict[int, list[tuple[float, float]]] = {}
    for ev in events:
        if ev.kind == start:
            open_at[ev.patient] = ev.time_h
        elif ev.kind == stop and ev.patient in open_at:
            out.setdefault(ev.patient, []).append((open_at.pop(ev.patient), ev.time_h))
    for patient, t in open_at.items():
        out.setdefault(patient, []).append((t, end_h))
    return out


def queue_waits(
    events: Sequence[ClinicEvent], end_h: float
) -> dict[str, list[tuple[int, float, float]]]:
    """Every wait in every queue: (patient, joined, left) in hours; open waits end at
    ``end_h``."""
    open_at: dict[tuple[str, int], float] = {}
    out: dict[str, list[tuple[int, float, float]]] = {q: [] for q in QUEUES}
    for ev in events:
        if ev.kind == "queue_join":
            open_at[(ev.data["queue"], ev.patient)] = ev.time_h
        elif ev.kind == "queue_leave":
            key = (ev.data["queue"], ev.patient)
            if key in open_at:
                out[key[0]].append((ev.patient, open_at.pop(key), ev.time_h))
    for (queue, patient), t in open_at.items():
        out[queue].append((patient, t, end_h))
    return out


def patient_rows(events: Sequence[ClinicEvent], end_h: float) -> list[dict[str, Any]]:
    """One row per referred patient, in referral order."""
    rows: dict[int, dict[str, Any]] = {}
    beds = _intervals(events, "bed_in", "bed_out", end_h)
    icu = _intervals(events, "icu_in", "icu_out", end_h)
    for ev in events:
        day = round(ev.time_h / 24.0, 6)
        if ev.kind == "referred":
            rows[ev.patient] = {
                "patient": ev.patient,
                "population": ev.data["population"],
                "referred_day": day,
                "outcome": "waiting",
                "reason": "",
                "bridging": False,
                "apheresis_day": None,
                "manufacturing_attempts": 0,
                "ld_start_day": None,
                "first_infusion_day": None,
                "vein_to_vein_days": None,
                "course_ended": False,
                "bed_days": 0.0,
                "icu_days": 0.0,
                "icu_admissions": 0,
                "transfers_out": 0,
                "fractions_held": 0,
            }
            continue
        row = rows[ev.patient]
        if ev.kind == "bridging":
            row["bridging"] = True
        elif ev.kind == "apheresis":
            row["apheresis_day"] = day
        elif ev.kind == "manufacturing_start":
            row["manufacturing_attempts"] += 1
        elif ev.kind == "course_start":
            row["ld_start_day"] = day
        elif ev.kind == "first_infusion":
            row["first_infusion_day"] = day
            row["vein_to_vein_days"] = round(day - row["apheresis_day"], 6)
            row["outcome"] = "treated"
        elif ev.kind == "died_waiting":
            row["outcome"] = "died_waiting"
        elif ev.kind == "dropped_out":
            row["outcome"], row["reason"] = "dropped_out", ev.data["reason"]
        elif ev.kind == "course_end":
            row["course_ended"] = True
            if not ev.data["infused"]:
                row["outcome"] = "dropped_out"
                row["reason"] = f"no infusion: {ev.data['reason']}"
        elif ev.kind == "icu_in":
            row["icu_admissions"] += 1
        elif ev.kind == "transfer_out":
            row["transfers_out"] += 1
        elif ev.kind == "fraction_held":
            row["fractions_held"] += 1
    for patient, row in rows.items():
        row["bed_days"] = round(sum(b - a for a, b in beds.get(patient, [])) / 24.0, 6)
        row["icu_days"] = round(sum(b - a for a, b in icu.get(patient, [])) / 24.0, 6)
    return [rows[k] for k in sorted(rows)]


def _steps(events: Sequence[ClinicEvent], start: str, stop: str) -> list[tuple[float, int]]:
    out = []
    for ev in events:
        if ev.kind == start:
            out.append((ev.time_h, 1))
        elif ev.kind == stop:
            out.append((ev.time_h, -1))
    return out


def _by_day(steps: list[tuple[float, int]], days: int) -> tuple[list[float], list[int]]:
    """Mean and peak of a step function (changes at ``steps``) in each day."""
    means = [0.0] * days
    peaks = [0] * days
    level = 0
    t = 0.0
    k = 0
    for day in range(days):
        end = (day + 1) * 24.0
        area = 0.0
        peak = level
        while k < len(steps) and steps[k][0] < end:
            at, change = steps[k]
            area += level * (at - t)
            t = at
            level += change
            peak = max(peak, level)
            k += 1
        area += level * (end - t)
        t = end
        means[day] = area / 24.0
        peaks[day] = peak
    return means, peaks


def day_rows(events: Sequence[ClinicEvent], days: int) -> list[dict[str, Any]]:
    """One row per day: mean and peak ward and ICU beds in use."""
    bed_mean, bed_peak = _by_day(_steps(events, "bed_in", "bed_out"), days)
    icu_mean, icu_peak = _by_day(_steps(events, "icu_in", "icu_out"), days)
    return [
        {
            "day": d,
            "beds_mean": round(bed_mean[d], 6),
            "beds_peak": bed_peak[d],
            "icu_mean": round(icu_mean[d], 6),
            "icu_peak": icu_peak[d],
        }
        for d in range(days)
    ]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def arm_metrics(
    events: Sequence[ClinicEvent],
    rows: Sequence[dict[str, Any]],
    days_rows: Sequence[dict[str, Any]],
    end_h: float,
) -> dict[str, float]:
    """The metrics of one arm in one replication (NaN when undefined, e.g. no one
    treated)."""
    out: dict[str, float] = {"referred": float(len(rows))}
    for outcome in OUTCOMES:
        out[outcome] = float(sum(r["outcome"] == outcome for r in rows))
    out["treated_per_month"] = out["treated"] / (end_h / 24.0 / DAYS_PER_MONTH)
    treated = [r for r in rows if r["outcome"] == "treated"]
    out["vein_to_vein_days"] = _mean([r["vein_to_vein_days"] for r in treated])
    days = len(days_rows)
    out["bed_occupancy_mean"] = _mean([d["beds_mean"] for d in days_rows])
    out["bed_occupancy_peak"] = float(max((d["beds_peak"] for d in days_rows), default=0))
    out["icu_occupancy_mean"] = _mean([d["icu_mean"] for d in days_rows])
    out["icu_occupancy_peak"] = float(max((d["icu_peak"] for d in days_rows), default=0))
    settled_by = end_h / 24.0 - SETTLE_DAYS
    complete = [r for r in treated if r["course_ended"] or r["first_infusion_day"] <= settled_by]
    out["bed_days_per_patient"] = _mean([r["bed_days"] for r in complete])
    out["icu_days_per_patient"] = _mean([r["icu_days"] for r in complete])
    out["icu_admissions"] = float(sum(r["icu_admissions"] for r in rows))
    out["icu_transfers_out"] = float(sum(r["transfers_out"] for r in rows))
    out["fractions_held"] = float(sum(r["fractions_held"] for r in rows))
    for queue, waits in queue_waits(events, end_h).items():
        out[f"{queue}_wait_days"] = _mean([(b - a) / 24.0 for _, a, b in waits]) if waits else 0.0
    assert days > 0
    return out


class MetricTally:
    """Per-metric moments across replications, and paired differences from arm 0."""

    def __init__(self) -> None:
        self.moments: dict[str, Moments] = {k: Moments() for k in METRICS}

    def add(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if not math.isnan(value):
                self.moments[key].add(value)

    def estimates(self) -> dict[str, Estimate]:
        return {k: mean_ci(m) for k, m in self.moments.items()}
