"""How much of the planned dose each arm delivered, and how fast.

Left: the share of patients by total CAR-T cells/kg delivered in the planned fractions
(bars per distinct value when there are few, a histogram otherwise). Right: the share
of patients who had received their full planned dose by each day after the first
infusion (a step curve that levels off at the share who ever got it). Both come from
the outcome rows (:func:`sim.outcomes.patient_outcomes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.plots.cohort import ArmRuns
from sim.plots.style import ARM_COLOURS, H_PER_DAY, style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

MAX_BARS = 12


def dose_panel(ax: Axes, arms: Sequence[ArmRuns], max_bars: int = MAX_BARS) -> None:
    """Bars per distinct delivered dose when there are at most ``max_bars``, else a histogram."""
    import numpy as np

    values = [[r["given_cells_per_kg"] / 1e6 for r in arm.outcomes] for arm in arms]
    distinct = sorted({round(v, 4) for vs in values for v in vs})
    width = 0.8 / len(arms)
    if len(distinct) <= max_bars:
        for k, (arm, vs) in enumerate(zip(arms, values, strict=True)):
            shares = [sum(1 for v in vs if round(v, 4) == d) / len(vs) for d in distinct]
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(distinct))]
            bars = ax.bar(
                xs, shares, width=width, color=ARM_COLOURS[k % len(ARM_COLOURS)], label=arm.protocol
            )
            if len(arms) <= 3:
                shown = [f"{v:.0%}" if v >= 0.005 else ("<1%" if v else "") for v in shares]
                ax.bar_label(bars, labels=shown, fontsize=7, padding=1)
        ax.set_xticks(range(len(distinct)))
        ax.set_xticklabels([f"{d:g}" for d in distinct])
    else:
        bins = np.linspace(min(distinct), max(distinct), 21).tolist()
        for k, (arm, vs) in enumerate(zip(arms, values, strict=True)):
            weights = [1 / len(vs)] * len(vs)
            ax.hist(
                vs,
                bins=bins,
                weights=weights,
                histtype="step",
                lw=1.6,
                color=ARM_COLOURS[k % len(ARM_COLOURS)],
                label=arm.protocol,
            )
    ax.set_xlabel("CAR-T cells delivered in the planned fractions (x10^6 cells/kg)")
    ax.set_ylabel("share of patients")
    ax.set_title("Delivered dose", loc="left")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", color="0.92", linewidth=0.6)
    ax.legend(frameon=False, loc="upper left")


def full_dose_panel(ax: Axes, arms: Sequence[ArmRuns]) -> None:
    curves = []
    for arm in arms:
        days = sorted(
            r["last_fraction_after_first_h"] / H_PER_DAY
            for r in arm.outcomes
            if r["full_dose_delivered"] and r["last_fraction_after_first_h"] is not None
        )
        curves.append((arm, days))
    last = max((d[-1] for _, d in curves if d), default=0.0)
    right = last * 1.3 + 0.5
    for k, (arm, days) in enumerate(curves):
        n = len(arm.outcomes)
        ys = [(i + 1) / n for i in range(len(days))]
        label = f"{arm.protocol}: {len(days)} of {n} reached it"
        colour = ARM_COLOURS[k % len(ARM_COLOURS)]
        ax.step(
            [0.0, *days, right],
            [0.0, *ys, ys[-1] if ys else 0.0],
            where="post",
            color=colour,
            linewidth=1.6,
            label=label,
        )
        ax.plot(days, ys, linestyle="none", marker="o", markersize=2.5, color=colour)
    ax.set_xlim(-0.05 * right, right)
    ax.set_xlabel("days from the first CAR-T infusion to the last planned fraction")
    ax.set_ylabel("share with the full planned dose")
    ax.set_title("Time to the full planned dose", loc="left")
    ax.set_ylim(0, 1.05)
    ax.grid(color="0.92", linewidth=0.6)
    ax.legend(frameon=False, loc="lower right")


WIDTH_IN = 11.0
HEIGHT_IN = 4.2


def distributions_height(arms: Sequence[ArmRuns]) -> float:
    return HEIGHT_IN


def distributions_figure(arms: Sequence[ArmRuns]) -> Figure:
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        draw_distributions(fig, arms)
    return fig


def draw_distributions(fig: FigureBase, arms: Sequence[ArmRuns]) -> None:
    """Draw into ``fig`` (a figure or sub-figure WIDTH_IN wide, HEIGHT_IN tall)."""
    fig.subplots_adjust(left=0.07, right=0.98, top=0.84, bottom=0.14, wspace=0.25)
    axes: Any = fig.subplots(1, 2)
    dose_panel(axes[0], arms)
    full_dose_panel(axes[1], arms)
    fig.suptitle(
        "Dose delivered per patient ("
        + ", ".join(f"{a.protocol} n = {a.n}" for a in arms)
        + "); simulated, not clinical advice",
        x=0.01,
        ha="left",
        fontsize=10.5,
        fontweight="bold",
    )
