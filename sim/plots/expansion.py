"""CAR-T expansion as far as the event log tells it.

After every dose the virtual-patient model logs a ``kinetics`` row: the predicted peak
(``peak_copies``, copies/ug of genomic DNA), its day after the first dose
(``peak_day``), the fold expansion (peak over the copies seeded by the doses that feed
the main expansion) and the persistence (days until the level falls below the
quantification limit). From these rows alone the rising part of the curve is exact:

* the copies seeded by dose k are ``peak_k / fold_k - peak_(k-1) / fold_(k-1)`` (doses
  given after the peak seed nothing into the main expansion and are left out);
* the expansion rate ``rho`` is the one for which the seeds, each growing as
  ``seed x exp(rho x (t - t_dose))``, reach the last logged peak on its logged day.

The fall after the peak (a biexponential whose rates the log does not carry) is not
drawn; only the day the level leaves the quantifiable range is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.records import Event

if TYPE_CHECKING:
    from matplotlib.axes import Axes

H_PER_DAY = 24.0
EXPANSION_COLOUR = "#2c7bb6"
LABEL_FONT = 7.5


@dataclass(frozen=True)
class Expansion:
    seeds: tuple[tuple[float, float], ...]  # (time_h, copies/ug seeded)
    rho_per_day: float
    peak_time_h: float
    peak_copies: float
    persistence_end_h: float

    def copies_at(self, time_h: float) -> float:
        """The level on the rising curve (valid up to the peak)."""
        return sum(
            c * math.exp(self.rho_per_day * (time_h - t) / H_PER_DAY)
            for t, c in self.seeds
            if t <= time_h
        )

    def rise(self, points: int = 200) -> list[tuple[float, float]]:
        """(time_h, copies) from the first dose to the peak, ``points`` samples plus doses."""
        start = self.seeds[0][0]
        span = self.peak_time_h - start
        times = {start + span * i / (points - 1) for i in range(points)} if span > 0 else set()
        times |= {t for t, _ in self.seeds} | {self.peak_time_h}
        return [(t, self.copies_at(t)) for t in sorted(times)]


def _solve_rho(seeds: Sequence[tuple[float, float]], peak_time_h: float, peak: float) -> float:
    def level(rho: float) -> float:
        return sum(c * math.exp(rho * (peak_time_h - t) / H_PER_DAY) for t, c in seeds)

    if level(0.0) >= peak:
        return 0.0
    lo, hi = 0.0, 1.0
    while level(hi) < peak:
        hi *= 2.0
        if hi > 1e3:
            return hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if level(mid) < peak:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def expansion(events: Sequence[Event]) -> Expansion | None:
    """The expansion read from the ``kinetics`` rows, or None when the model is off."""
    rows = [e for e in events if e.kind == "kinetics" and e.data.get("peak_copies")]
    if not rows:
        return None
    seeds: list[tuple[float, float]] = []
    seeded_before = 0.0
    for e in rows:
        seeded = e.data["peak_copies"] / e.data["fold_expansion"]
        added = seeded - seeded_before
        if added > 1e-6 * seeded:
            seeds.append((e.time_h, added))
            seeded_before = seeded
    last = rows[-1].data
    first_h = rows[0].time_h
    peak_time_h = first_h + last["peak_day"] * H_PER_DAY
    seeds = [(t, c) for t, c in seeds if t <= peak_time_h] or seeds[:1]
    return Expansion(
        seeds=tuple(seeds),
        rho_per_day=_solve_rho(seeds, peak_time_h, last["peak_copies"]),
        peak_time_h=peak_time_h,
        peak_copies=last["peak_copies"],
        persistence_end_h=first_h + last["persistence_days"] * H_PER_DAY,
    )


def draw_expansion(ax: Axes, exp: Expansion, x1: float) -> None:
    """The rise, the peak and when the level leaves the quantifiable range; ``x1`` is the
    last day shown."""
    rise = exp.rise()
    ax.plot([t / H_PER_DAY for t, _ in rise], [c for _, c in rise], color=EXPANSION_COLOUR, lw=1.6)
    peak_day = exp.peak_time_h / H_PER_DAY
    ax.plot([peak_day], [exp.peak_copies], marker="o", color=EXPANSION_COLOUR, markersize=6)
    ax.annotate(
        f"peak {exp.peak_copies:,.0f} copies/ug, day {peak_day:.1f}",
        xy=(peak_day, exp.peak_copies),
        xytext=(8, -3),
        textcoords="offset points",
        fontsize=LABEL_FONT,
        va="top",
    )
    ax.set_yscale("log")
    ax.set_ylim(min(c for _, c in rise) / 3, exp.peak_copies * 5)
    end_day = exp.persistence_end_h / H_PER_DAY
    if end_day <= x1:
        ax.axvline(end_day, color=EXPANSION_COLOUR, linestyle=":", linewidth=1)
        after = f"below the quantification limit from day {end_day:.0f} (dotted line)"
    else:
        after = f"still quantifiable at the end of this window (until day {end_day:.0f})"
    ax.text(
        0.995,
        0.05,
        "rise rebuilt from the logged kinetics; the fall after the peak is not in the log; "
        + after,
        transform=ax.transAxes,
        ha="right",
        fontsize=LABEL_FONT,
        color="0.3",
    )
    ax.set_ylabel("CAR-T expansion\n(copies/ug DNA, log)")
    ax.grid(axis="x", color="0.92", linewidth=0.6)
