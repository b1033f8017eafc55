"""All cohort figures on one landscape page that fits a slide (16:9, 2000 x 1125 px at the
default 150 dpi): the swimmer plot with one column per arm on the left; Kaplan-Meier EFS and
OS, the delivered dose and the time to the full planned dose on the right."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sim.plots.cohort import ArmRuns
from sim.plots.distributions import dose_panel, full_dose_panel
from sim.plots.style import compress_after, style
from sim.plots.survival import ENDPOINTS, survival_panel
from sim.plots.swimmer import COMPRESS_AFTER_DAY, days_shown, draw_row, legend, shown_marks

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN = 13.33, 7.5
TOP_IN = 0.85  # title and subtitle
SWIMMER_IN = 6.9  # width of the swimmer part
LEGEND_IN = 0.95


def _box(x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
    """An axes box given in inches from the lower left corner."""
    return x / WIDTH_IN, y / HEIGHT_IN, w / WIDTH_IN, h / HEIGHT_IN


def _swimmer(fig: Figure, arms: Sequence[ArmRuns]) -> None:
    samples = [ev for arm in arms for ev in arm.sample]
    x0, end = days_shown(samples)
    left, gap = 0.6, 0.15
    width = (SWIMMER_IN - left - gap * (len(arms) - 1)) / len(arms)
    bottom = LEGEND_IN + 0.45
    height = HEIGHT_IN - TOP_IN - 0.3 - bottom
    rows = max((len(arm.sample) for arm in arms), default=1)
    first: Axes | None = None
    for k, arm in enumerate(arms):
        ax = fig.add_axes(
            _box(left + k * (width + gap), bottom, width, height), sharex=first, sharey=first
        )
        if first is None:
            first = ax
            ax.set_xlim(x0, end + 5)
            compress_after(ax, x0, COMPRESS_AFTER_DAY, end + 5, share=0.55, annotate=False)
            ax.set_xticks([t for t in ax.get_xticks() if t % 14 == 0 or t in (365, 730)])
            ax.set_ylim(rows - 0.4, -0.6)
            ax.set_yticks(range(rows))
            ax.set_yticklabels([f"#{i}" for i in range(rows)], fontsize=6)
            ax.set_ylabel(f"virtual patients 0-{rows - 1}")
        else:
            ax.axvline(COMPRESS_AFTER_DAY, color="0.4", linewidth=0.8, linestyle=(0, (2, 2)))
            ax.tick_params(axis="y", labelleft=False)
        for i, events in enumerate(arm.sample):
            draw_row(ax, i, events)
        ax.tick_params(axis="y", length=0)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_title(arm.protocol, fontsize=9)
    fig.text(
        SWIMMER_IN / 2 / WIDTH_IN,
        (LEGEND_IN + 0.12) / HEIGHT_IN,
        f"days from the first CAR-T infusion (compressed after day {COMPRESS_AFTER_DAY:g}, "
        "dashed line)",
        ha="center",
        fontsize=8,
    )
    legend(fig, (SWIMMER_IN / 2 / WIDTH_IN, LEGEND_IN / 2 / HEIGHT_IN), shown_marks(samples), 3)


def _right(fig: Figure, arms: Sequence[ArmRuns]) -> None:
    x0, width, gap = SWIMMER_IN + 1.15, 2.3, 0.6
    km_bottom, km_height = HEIGHT_IN - TOP_IN - 0.3 - 2.0, 2.0
    axes = [fig.add_axes(_box(x0 + i * (width + gap), km_bottom, width, km_height)) for i in (0, 1)]
    axes[1].sharey(axes[0])
    for i, (ax, (kind, title)) in enumerate(zip(axes, ENDPOINTS, strict=True)):
        survival_panel(ax, arms, kind, title, first=i == 0)
        ax.set_xlabel("days from the first infusion", fontsize=8)
    axes[0].set_ylabel("probability (95 % CI)")
    dose_axes = [fig.add_axes(_box(x0 + i * (width + gap), 0.55, width, 2.1)) for i in (0, 1)]
    dose_panel(dose_axes[0], arms, max_bars=6)  # a narrow panel: fewer bars fit
    full_dose_panel(dose_axes[1], arms)
    dose_axes[0].set_xlabel("cells delivered (x10^6/kg)", fontsize=8)
    dose_axes[1].set_xlabel("days to the last planned fraction", fontsize=8)
    dose_axes[1].set_ylabel("share with the full dose")


def cohort_figure(arms: Sequence[ArmRuns]) -> Figure:
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        n = ", ".join(f"{a.protocol} n = {a.n}" for a in arms)
        same = (
            " (the same virtual patients in every arm: row i is patient i)" if len(arms) > 1 else ""
        )
        fig.text(
            0.01,
            1 - 0.3 / HEIGHT_IN,
            f"Simulated cohort: {n}{same}",
            fontsize=12,
            fontweight="bold",
        )
        fig.text(
            0.01,
            1 - 0.55 / HEIGHT_IN,
            "EFS events: relapse, death, no remission at day 28. For research and teaching; "
            "not clinical advice.",
            fontsize=8.5,
            color="0.3",
        )
        _swimmer(fig, arms)
        _right(fig, arms)
    return fig
