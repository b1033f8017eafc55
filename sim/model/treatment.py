"""Treatment of CRS, ICANS and IEC-HS as the patient state shows it (the protocol's
``management`` policy, applied by the virtual-patient model).

The channel says how many tocilizumab doses have been given, and whether steroids or
anakinra are being given; each change is logged with its reason (drug, dose, why).
Tocilizumab: 12 mg/kg under 30 kg, 8 mg/kg from 30 kg, at most 800 mg a dose (Kymriah
label, Table 1). Steroids run from the first indication until CRS and ICANS have both
resolved; anakinra while IEC-HS lasts (Hines 2023). Tapering is not modelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sim.model.timeline import Timeline


def tocilizumab_mg(weight_kg: float) -> float:
    per_kg = 12.0 if weight_kg < 30 else 8.0
    return round(min(800.0, per_kg * weight_kg))


@dataclass(frozen=True, slots=True)
class Course:
    """One indication for a drug: from ``start_h`` to ``end_h``, and why."""

    start_h: float
    end_h: float
    why: str


def treatment_timeline(
    weight_kg: float,
    tocilizumab: Sequence[tuple[float, str]],
    steroids: Sequence[Course],
    anakinra: Sequence[Course],
) -> Timeline:
    """The treatment channel: ``tocilizumab`` doses ``(time_h, why)``, steroid and anakinra
    courses (overlapping courses of one drug merge)."""
    mg = tocilizumab_mg(weight_kg)
    changes: dict[float, list[str]] = {}
    for n, (t, why) in enumerate(sorted(tocilizumab), start=1):
        changes.setdefault(t, []).append(f"tocilizumab {mg:g} mg (dose {n}) for {why}")
    for name, courses in (("steroids", steroids), ("anakinra", anakinra)):
        if courses:
            start = min(c.start_h for c in courses)
            end = max(c.end_h for c in courses)
            first = min(courses, key=lambda c: c.start_h)
            changes.setdefault(start, []).append(f"{name} started for {first.why}")
            changes.setdefault(end, []).append(f"{name} stopped")
    if not changes:
        return []

    def active(courses: Sequence[Course], t: float) -> bool:
        return bool(courses) and min(c.start_h for c in courses) <= t < max(
            c.end_h for c in courses
        )

    timeline: Timeline = []
    for t in sorted(changes):
        values = {
            "tocilizumab_doses": sum(1 for d, _ in tocilizumab if d <= t),
            "steroids_active": active(steroids, t),
            "anakinra_active": active(anakinra, t),
            "why": "; ".join(changes[t]),
        }
        timeline.append((t, values))
    return timeline
