"""Kaplan-Meier curves of event-free and overall survival, one curve per arm.

Times come from each patient's outcome row (:func:`sim.outcomes.patient_outcomes`,
days from the first CAR-T infusion); curves use :func:`sim.stats.kaplan_meier`, with
a pointwise 95 % log(-log) band (Greenwood) and ticks at censored times. The number
of patients still at risk is printed under each panel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.plots.cohort import ArmRuns
from sim.plots.style import ARM_COLOURS, style
from sim.stats import kaplan_meier

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

Z95 = 1.959963984540054
AT_RISK_DAYS = (0, 90, 180, 365, 545, 730)
ENDPOINTS = (("efs", "Event-free survival"), ("os", "Overall survival"))


def km_curve(
    times: Sequence[float], events: Sequence[bool]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Step points (time, survival, low, high) starting at (0, 1), with log(-log) limits."""
    xs, ss, lo, hi = [0.0], [1.0], [1.0], [1.0]
    for t, s, se, _ in kaplan_meier(times, events):
        xs.append(t)
        ss.append(s)
        if 0.0 < s < 1.0 and se > 0.0:
            w = Z95 * (se / s) / abs(math.log(s))
            lo.append(s ** math.exp(w))
            hi.append(s ** math.exp(-w))
        else:
            lo.append(s)
            hi.append(s)
    end = max(times, default=0.0)
    if end > xs[-1]:
        xs.append(end)
        ss.append(ss[-1])
        lo.append(lo[-1])
        hi.append(hi[-1])
    return xs, ss, lo, hi


def survival_panel(ax: Axes, arms: Sequence[ArmRuns], kind: str, title: str, first: bool) -> None:
    end = 0.0
    for k, arm in enumerate(arms):
        colour = ARM_COLOURS[k % len(ARM_COLOURS)]
        times = [r[f"{kind}_days"] for r in arm.outcomes]
        events = [bool(r[f"{kind}_event"]) for r in arm.outcomes]
        end = max(end, *times)
        xs, ss, lo, hi = km_curve(times, events)
        ax.step(xs, ss, where="post", color=colour, linewidth=1.6, label=f"{arm.protocol}")
        ax.fill_between(xs, lo, hi, step="post", color=colour, alpha=0.15, linewidth=0)
        censored = [(t, _at(xs, ss, t)) for t, e in zip(times, events, strict=True) if not e]
        if censored:
            ax.plot(
                [c[0] for c in censored],
                [c[1] for c in censored],
                linestyle="none",
                marker="|",
                color=colour,
                markersize=6,
            )
    ax.set_title(title, loc="left")
    ax.set_xlabel("days from the first CAR-T infusion")
    if first:
        ax.set_ylabel("probability (95 % CI shaded)")
    ax.set_ylim(0, 1.03)
    ax.set_xlim(0, end * 1.02 if end else 1.0)
    ticks = [d for d in AT_RISK_DAYS if d <= end]
    ax.set_xticks(ticks)
    ax.grid(color="0.92", linewidth=0.6)
    ax.legend(loc="upper right", frameon=False, title="| censored", title_fontsize=7.5)
    _at_risk(ax, arms, kind, ticks, first)


def _at(xs: Sequence[float], ss: Sequence[float], t: float) -> float:
    value = ss[0]
    for x, s in zip(xs, ss, strict=True):
        if x > t:
            break
        value = s
    return value


def _at_risk(
    ax: Axes, arms: Sequence[ArmRuns], kind: str, ticks: Sequence[float], names: bool
) -> None:
    """Numbers at risk under the axis (patients whose time is >= the tick)."""
    where = ax.get_xaxis_transform()
    if names:
        ax.text(-0.06, -0.3, "at risk", transform=ax.transAxes, ha="right", fontsize=7.5)
    for k, arm in enumerate(arms):
        times = [r[f"{kind}_days"] for r in arm.outcomes]
        y = -0.3 - 0.09 * (k + 1)
        if names:
            ax.text(
                -0.06,
                y,
                arm.protocol,
                transform=ax.transAxes,
                ha="right",
                fontsize=7,
                color=ARM_COLOURS[k % len(ARM_COLOURS)],
            )
        for t in ticks:
            ax.text(
                t,
                y,
                str(sum(1 for x in times if x >= t)),
                transform=where,
                ha="center",
                fontsize=7,
                color=ARM_COLOURS[k % len(ARM_COLOURS)],
            )


WIDTH_IN = 11.0


def survival_height(arms: Sequence[ArmRuns]) -> float:
    return 4.0 + 0.22 * len(arms)


def survival_figure(arms: Sequence[ArmRuns]) -> Figure:
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(WIDTH_IN, survival_height(arms)))
        draw_survival(fig, arms)
    return fig


def draw_survival(fig: FigureBase, arms: Sequence[ArmRuns]) -> None:
    """Draw into ``fig`` (a figure or sub-figure WIDTH_IN wide, survival_height tall)."""
    height = survival_height(arms)
    fig.subplots_adjust(
        left=0.15, right=0.98, top=1 - 0.6 / height, bottom=(1.0 + 0.22 * len(arms)) / height
    )
    axes: Any = fig.subplots(1, 2, sharey=True)
    for i, (ax, (kind, title)) in enumerate(zip(axes, ENDPOINTS, strict=True)):
        survival_panel(ax, arms, kind, title, first=i == 0)
    n = ", ".join(f"{a.protocol} n = {a.n}" for a in arms)
    fig.suptitle(
        f"Kaplan-Meier estimates ({n}); EFS events: relapse, death, no remission at day 28",
        x=0.01,
        ha="left",
        fontsize=10.5,
        fontweight="bold",
    )
