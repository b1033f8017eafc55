"""Cohort swimmer plot: one row per virtual patient, one panel per protocol arm.

Each row runs from the first lymphodepletion day to the end of the patient's run and
shows, from the event log only: CAR-T doses (marker area grows with the dose), gate
holds, toxicity episodes (CRS, ICANS, IEC-HS, GVHD; thicker from grade 3), the
day-28 response, relapse, the protocol stopping, and death (or an arrow when the
patient is alive at the end of follow-up). Days are counted from each patient's first
CAR-T infusion; the axis is compressed after day 35 so the dosing days stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.plots import episodes
from sim.plots.cohort import ArmRuns
from sim.plots.style import (
    DOSE_COLOUR,
    H_PER_DAY,
    HOLD_COLOUR,
    TOXICITY_COLOURS,
    TOXICITY_NAMES,
    compress_after,
    style,
)
from sim.records import Event

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, FigureBase

WIDTH_IN = 11.0
ROW_IN = 0.2
COMPRESS_AFTER_DAY = 35.0
OFFSETS = {"crs_grade": -0.27, "icans_grade": -0.09, "iec_hs_grade": 0.09, "gvhd_grade": 0.27}
RESPONSE_STYLE: dict[str, dict[str, Any]] = {
    "MRD-negative CR": dict(marker="o", color="#1a9850", markerfacecolor="#1a9850"),
    "CR, MRD-positive": dict(marker="o", color="#1a9850", markerfacecolor="white"),
}
NO_RESPONSE: dict[str, Any] = dict(marker="o", color="0.45", markerfacecolor="white")


def _origin(events: Sequence[Event]) -> float:
    first = episodes.first(events, "infusion")
    return first.time_h if first is not None else 0.0


def draw_row(ax: Axes, y: float, events: Sequence[Event]) -> None:
    """One patient's row at height ``y``, days counted from the first CAR-T infusion."""
    t0 = _origin(events)

    def day(t: float) -> float:
        return (t - t0) / H_PER_DAY

    start = min(
        (e.time_h for e in events if e.kind in ("ld_dose", "procedure", "gate")), default=t0
    )
    end = episodes.end_h(events)
    ax.plot([day(start), day(end)], [y, y], color="0.8", linewidth=5, solid_capstyle="butt")
    for h in episodes.holds(events):
        ax.plot(
            [day(h.start_h), day(h.end_h)],
            [y, y],
            color=HOLD_COLOUR,
            linewidth=5,
            solid_capstyle="butt",
        )
    for variable, offset in OFFSETS.items():
        for span in episodes.state_spans(events, variable):
            ax.plot(
                [day(span.start_h), day(span.end_h)],
                [y + offset, y + offset],
                color=TOXICITY_COLOURS[variable],
                linewidth=2.6 if span.value >= 3 else 1.2,
                solid_capstyle="butt",
            )
    doses = [e for e in events if e.kind == "infusion"]
    if doses:
        top = max(e.data["cells_per_kg"] for e in doses)
        ax.scatter(
            [day(e.time_h) for e in doses],
            [y] * len(doses),
            s=[6 + 30 * e.data["cells_per_kg"] / top for e in doses],
            color=DOSE_COLOUR,
            zorder=3,
            linewidths=0,
        )
    for e in events:
        if e.kind == "assessment":
            look = RESPONSE_STYLE.get(e.data["response"], NO_RESPONSE)
            ax.plot([day(e.time_h)], [y], markersize=5, zorder=4, **look)
        elif e.kind == "stop":
            ax.plot([day(e.time_h)], [y], marker="|", color="#b2182b", markersize=9, mew=2)
    relapse = episodes.relapse_h(events)
    if relapse is not None:
        ax.plot([day(relapse)], [y], marker="^", color="#b2182b", markersize=5, zorder=4)
    death = episodes.first(events, "death")
    if death is not None:
        ax.plot([day(death.time_h)], [y], marker="X", color="black", markersize=6, zorder=4)
    else:
        ax.plot([day(end)], [y], marker=">", color="0.45", markersize=4, zorder=4)


LEGEND_IN, TOP_IN = 0.8, 0.65


def days_shown(samples: Sequence[Sequence[Event]]) -> tuple[float, float]:
    """First and last day of the rows (from each patient's first CAR-T infusion)."""
    end = max(
        ((episodes.end_h(ev) - _origin(ev)) / H_PER_DAY for ev in samples),
        default=60.0,
    )
    x0 = min(
        ((min(e.time_h for e in ev) - _origin(ev)) / H_PER_DAY for ev in samples if ev),
        default=-7.0,
    )
    return max(x0, -30.0) - 1.0, end


def _panel_heights(arms: Sequence[ArmRuns]) -> list[float]:
    return [max(len(arm.sample), 1) * ROW_IN + 0.75 for arm in arms]


def swimmer_height(arms: Sequence[ArmRuns]) -> float:
    return sum(_panel_heights(arms)) + LEGEND_IN + TOP_IN + 0.3


def swimmer_figure(arms: Sequence[ArmRuns]) -> Figure:
    """One panel per arm, one row per kept patient (``ArmRuns.sample``), in index order.

    Rows are in patient order in every arm, so row i is the same virtual patient in each
    panel (common random numbers).
    """
    from matplotlib.figure import Figure

    with style():
        fig = Figure(figsize=(WIDTH_IN, swimmer_height(arms)))
        draw_swimmer(fig, arms)
    return fig


def draw_swimmer(fig: FigureBase, arms: Sequence[ArmRuns]) -> None:
    """Draw into ``fig`` (a figure or sub-figure WIDTH_IN wide, swimmer_height tall)."""
    shown = [arm.sample for arm in arms]
    heights = _panel_heights(arms)
    height = swimmer_height(arms)
    legend_in, top_in = LEGEND_IN, TOP_IN
    first_ax: Axes | None = None
    compressed = False
    y_in = height - top_in
    x0, end = days_shown([ev for sample in shown for ev in sample])
    for arm, sample, h in zip(arms, shown, heights, strict=True):
        y_in -= h
        box = (1.0 / WIDTH_IN, (y_in + 0.45) / height, 9.7 / WIDTH_IN, (h - 0.75) / height)
        ax = fig.add_axes(box, sharex=first_ax)
        if first_ax is None:
            first_ax = ax
            ax.set_xlim(x0, end + 5)
            compressed = bool(
                compress_after(ax, x0, COMPRESS_AFTER_DAY, end + 5, share=0.55, annotate=False)
            )
        elif compressed:
            ax.axvline(COMPRESS_AFTER_DAY, color="0.4", linewidth=0.8, linestyle=(0, (2, 2)))
        for i, events in enumerate(sample):
            draw_row(ax, i, events)
        ax.set_ylim(len(sample) - 0.4, -0.6)
        ax.set_yticks(range(len(sample)))
        ax.set_yticklabels([f"#{i}" for i in range(len(sample))], fontsize=6.5)
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="x", color="0.9", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_title(
            f"{arm.protocol}: virtual patients 0-{len(sample) - 1} of {arm.n}",
            loc="left",
            fontsize=9.5,
        )
        ax.set_ylabel("patient")
        ax.set_xlabel(
            "days from the first CAR-T infusion"
            + (
                f" (scale compressed after day {COMPRESS_AFTER_DAY:g}, dashed line)"
                if compressed
                else ""
            )
        )
    fig.text(
        0.01,
        1 - 0.32 / height,
        "Swimmer plot: the same virtual patients in each arm (row i = patient i)",
        fontsize=11,
        fontweight="bold",
    )
    fig.text(
        0.01,
        1 - 0.55 / height,
        "Simulated cohort for research and teaching; not clinical advice.",
        fontsize=8,
        color="0.3",
    )
    legend(
        fig, (0.5, legend_in / height / 2), shown_marks([ev for sample in shown for ev in sample])
    )


def shown_marks(samples: Sequence[Sequence[Event]]) -> set[str]:
    """The marks that occur in these event logs (what the legend needs to explain)."""
    marks = {"follow-up"}
    for events in samples:
        kinds = {e.kind for e in events}
        if "infusion" in kinds:
            marks.add("dose")
        if episodes.holds(events):
            marks.add("hold")
        for variable in OFFSETS:
            spans = episodes.state_spans(events, variable)
            if spans:
                marks.add(variable)
                if any(s.value >= 3 for s in spans):
                    marks.add(f"{variable}>=3")
        marks.update(
            f"response:{e.data['response']}" if e.data["response"] in RESPONSE_STYLE else "none"
            for e in events
            if e.kind == "assessment"
        )
        if "stop" in kinds:
            marks.add("stop")
        if episodes.relapse_h(events) is not None:
            marks.add("relapse")
        marks.add("death" if "death" in kinds else "alive")
    return marks


def legend(fig: FigureBase, centre: tuple[float, float], marks: set[str], ncol: int = 5) -> None:
    """A legend of the marks that occur (``marks`` from :func:`shown_marks`) only."""
    from matplotlib.lines import Line2D

    def line(label: str, **kw: Any) -> Line2D:
        return Line2D([], [], label=label, **kw)

    def toxicity(v: str, colour: str) -> Line2D:
        thick = " (thick: grade >= 3)" if f"{v}>=3" in marks else ""
        return line(f"{TOXICITY_NAMES[v]}{thick}", color=colour, linewidth=2.2)

    candidates: list[tuple[str, Line2D]] = [
        ("follow-up", line("follow-up", color="0.8", linewidth=5)),
        ("dose", line("CAR-T dose", marker="o", color=DOSE_COLOUR, linestyle="none")),
        ("hold", line("gate hold", color=HOLD_COLOUR, linewidth=5)),
        *((v, toxicity(v, c)) for v, c in TOXICITY_COLOURS.items()),
        *(
            (f"response:{r}", line(r, linestyle="none", **look))
            for r, look in RESPONSE_STYLE.items()
        ),
        ("none", line("no remission (or relapse) at day 28", linestyle="none", **NO_RESPONSE)),
        ("relapse", line("relapse", marker="^", color="#b2182b", linestyle="none")),
        ("stop", line("protocol stopped", marker="|", color="#b2182b", linestyle="none", mew=2)),
        ("death", line("death", marker="X", color="black", linestyle="none")),
        ("alive", line("alive at end of follow-up", marker=">", color="0.45", linestyle="none")),
    ]
    fig.legend(
        handles=[handle for key, handle in candidates if key in marks],
        loc="center",
        bbox_to_anchor=centre,
        ncol=ncol,
        frameon=False,
        handlelength=1.8,
    )
