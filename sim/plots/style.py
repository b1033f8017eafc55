"""Shared look of the figures: fonts large enough to print, grade colours, time axes."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

RC: dict[Any, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.fonttype": "none",  # keep text as text: searchable, and legible at any zoom
}

# ASTCT grades 1-4 (5 = death): pale to dark
GRADE_COLOURS = {1: "#fdd49e", 2: "#fc8d59", 3: "#d7301f", 4: "#7f0000", 5: "#000000"}
TOXICITY_COLOURS = {
    "crs_grade": "#e66101",
    "icans_grade": "#5e3c99",
    "iec_hs_grade": "#8c510a",
    "gvhd_grade": "#1b7837",
}
TOXICITY_NAMES = {
    "crs_grade": "CRS",
    "icans_grade": "ICANS",
    "iec_hs_grade": "IEC-HS",
    "gvhd_grade": "GVHD",
}
ARM_COLOURS = ("#1f78b4", "#e31a1c", "#33a02c", "#6a3d9a", "#ff7f00", "#b15928")
HOLD_COLOUR = "#f4a582"
DOSE_COLOUR = "#2166ac"
H_PER_DAY = 24.0


@contextmanager
def style() -> Iterator[None]:
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def day_axis_label(anchor_day: int) -> str:
    return f"study day (day {anchor_day} = first CAR-T infusion)"


def compress_after(
    ax: Axes,
    start: float,
    break_day: float,
    end: float,
    share: float = 0.6,
    annotate: bool = True,
) -> list[float]:
    """Linear x scale up to ``break_day``, compressed after it; returns the tick days.

    The part from ``start`` to ``break_day`` takes ``share`` of the width, so the days of
    dosing stay readable on a two-year axis. The break is marked on the axis.
    """
    import numpy as np

    if end <= break_day:
        return []
    ratio = (break_day - start) * (1 - share) / share / (end - break_day)

    def forward(x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        return np.where(x <= break_day, x, break_day + (x - break_day) * ratio)

    def inverse(y: Any) -> Any:
        y = np.asarray(y, dtype=float)
        return np.where(y <= break_day, y, break_day + (y - break_day) / ratio)

    ax.set_xscale("function", functions=(forward, inverse))
    early = [float(d) for d in range(-28, math.ceil(break_day), 7) if start <= d < break_day]
    margin = max(30.0, 0.1 * (end - break_day))  # keep tick labels apart
    late = [float(d) for d in (90, 180, 365, 545, 730) if break_day + margin <= d <= end]
    last = late[-1] if late else break_day
    if end - last >= margin:  # label the end of a run that stops between round days
        late.append(float(math.floor(end)))
    ax.axvline(break_day, color="0.4", linewidth=0.8, linestyle=(0, (2, 2)))
    if annotate:
        ax.annotate(
            "scale\ncompressed",
            xy=(break_day, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -2),
            textcoords="offset points",
            fontsize=7,
            color="0.35",
            va="top",
        )
    ticks = [*early, break_day, *late]
    ax.set_xticks(ticks)
    return ticks
