"""How times and doses are written for people."""

from __future__ import annotations

import math
from typing import Any


def when(time_h: float | None) -> str:
    """``day 2 10:00`` for hours since 00:00 of day 0."""
    if time_h is None:
        return "-"
    day = math.floor(time_h / 24 + 1e-9)
    minutes = round((time_h - day * 24) * 60)
    if minutes >= 24 * 60:
        day, minutes = day + 1, minutes - 24 * 60
    return f"day {day} {minutes // 60:02d}:{minutes % 60:02d}"


def millions(value: float) -> str:
    """A cell number in units of 10^6, e.g. ``0.1`` or ``140``."""
    x = value / 1e6
    return f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def dose(cells_per_kg: float | None, cells: float | None) -> str:
    if not cells:
        return "-"
    per_kg = f"{millions(cells_per_kg)} x10^6/kg" if cells_per_kg else ""
    return f"{per_kg} ({millions(cells)} x10^6 cells)".strip()


def duration(hours: float) -> str:
    if hours < 48:
        return f"{hours:g} h"
    return f"{hours / 24:.3g} days"


def measure(value: float) -> str:
    """A body measurement or percentage for people: at most one decimal (``42.5``, ``70``)."""
    return f"{round(value, 1):g}"


def grade(value: float) -> str:
    """A toxicity grade: ``2``, never ``2.0``."""
    return f"{value:g}"


def patient(pt: Any, blasts: str = "marrow blasts {} %") -> str:
    """``96.4 kg, 162.4 cm, 56.8 years, marrow blasts 42.5 %`` (a scenario's patient)."""
    return (
        f"{measure(pt.weight_kg)} kg, {measure(pt.height_cm)} cm, {measure(pt.age_y)} years, "
        + blasts.format(measure(pt.marrow_blasts_pct))
    )
