"""One patient's course on a time line, drawn from the event log only.

Lanes, top to bottom: lymphodepletion and procedures; CAR-T doses given (marker area
grows with the dose, labelled with the fraction and x10^6 cells/kg); the planned time
of each fraction; gate holds with their reason (also shaded across the figure); CRS,
ICANS, IEC-HS and GVHD grades as coloured bands; infection and grade >= 3 cytopenia;
visits, the response assessment, relapse and death. When the virtual-patient model
ran, a second panel shows the CAR-T expansion (:mod:`sim.plots.expansion`).

Labels that would overlap (four fractions 24 h apart on a month-long axis) are stacked
in rows; the lane grows to hold them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.engine.run import RunResult
from sim.plots import episodes
from sim.plots.expansion import EXPANSION_COLOUR, draw_expansion, expansion
from sim.plots.lanes import LANE_IN, Lane, ToInches
from sim.plots.style import (
    DOSE_COLOUR,
    GRADE_COLOURS,
    H_PER_DAY,
    HOLD_COLOUR,
    compress_after,
    day_axis_label,
    style,
)
from sim.records import Event
from sim.report.words import duration, measure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH_IN = 11.0
LEFT_IN, RIGHT_IN = 1.45, 0.3
EXPANSION_IN = 1.7
TOP_IN, GAP_IN, LEGEND_IN = 0.7, 0.45, 0.75
COMPRESS_AFTER_DAY = 35.0
LONG_RUN_DAYS = 90.0
LD_COLOUR = "#9e9ac8"
FLAG_COLOUR = "#969696"


def day_range(events: Sequence[Event], until_day: float | None = None) -> tuple[float, float]:
    """The study days a timeline of ``events`` spans (cut at ``until_day``), before padding;
    pass the union of several runs' ranges as ``days`` to draw them on the same axis."""
    times = [e.time_h for e in events if e.kind not in ("dose_plan", "planned")]
    times += [e.data["planned_time_h"] for e in events if e.kind == "planned"]
    start = min(times) / H_PER_DAY - 1.0
    end = episodes.end_h(events) / H_PER_DAY
    if until_day is not None:
        end = min(end, until_day)
    return start, max(end, start + 2.0)


def _x_range(days: tuple[float, float]) -> tuple[float, float]:
    start, end = days
    return start, end + 0.5 + 0.01 * (end - start)


def _lanes(result: RunResult) -> dict[str, Lane]:
    events = result.events
    seen = {e.data["variable"] for e in events if e.kind == "state_change"}
    grades = {"crs_grade": "CRS grade", "icans_grade": "ICANS grade"}
    if "iec_hs_grade" in seen:
        grades["iec_hs_grade"] = "IEC-HS grade"
    if result.protocol.product.kind == "allogeneic_donor" or "gvhd_grade" in seen:
        grades["gvhd_grade"] = "GVHD grade"
    flags = {
        v: name
        for v, name in (("active_infection", "infection"), ("severe_cytopenia", "cytopenia >= G3"))
        if episodes.state_spans(events, v)
    }
    return {
        "ld": Lane("lymphodepletion,\nprocedures", 0.7),
        "dose": Lane("CAR-T dose given\n(x10^6 cells/kg)", 0.9),
        "planned": Lane("planned time\nof each dose", 0.6),
        "hold": Lane("gate holds,\nskips, stops", 0.7),
        **{v: Lane(name, 0.8) for v, name in grades.items()},
        **{v: Lane(name, 0.6) for v, name in flags.items()},
        "visit": Lane("visits, response,\nrelapse, death", 0.7),
    }


def _labels(events: Sequence[Event], lanes: dict[str, Lane]) -> None:
    """Every text label, by lane (before anything is drawn, to size the lanes)."""
    courses: dict[int, list[int]] = {}
    drugs: dict[int, list[str]] = {}
    for e in events:
        if e.kind == "ld_dose":
            courses.setdefault(e.data["course"], []).append(e.day)
            drugs.setdefault(e.data["course"], []).append(e.data["drug"])
        elif e.kind == "procedure":
            text = e.data["name"] + ("" if e.data["done"] else " (not done)")
            lanes["ld"].labels.add(e.time_h / H_PER_DAY, text)
    for course, days in courses.items():
        word = "LD" if course == 1 else f"LD again (course {course})"
        names = ", ".join(dict.fromkeys(drugs[course]))
        lanes["ld"].labels.add((min(days) + max(days) + 1) / 2, f"{word}: {names}")
    infusions = [e for e in events if e.kind == "infusion"]
    for e in infusions:
        text = f"{e.data['fraction']}\n{e.data['cells_per_kg'] / 1e6:.3g}"
        if e.data["dose_level"] < 1.0:
            text += f" ({e.data['dose_level']:.0%})"
        lanes["dose"].labels.add(e.time_h / H_PER_DAY, text)
    given = {e.data["fraction"] for e in infusions}
    fate = {"skip": "skipped", "not_given": "not given"}
    fates = {e.data["fraction"]: fate[e.kind] for e in events if e.kind in fate}
    for e in events:
        if e.kind == "planned":
            label = e.data["fraction"]
            x = e.data["planned_time_h"] / H_PER_DAY
            if label in given:
                lanes["planned"].labels.add(x, label, color="0.25")
            else:
                missed = fates.get(label, "not given")
                lanes["planned"].labels.add(x, f"{label} {missed}", color="#b2182b")
    then = {"given": "", "skipped": ", then skipped", "stopped": ", then stopped"}
    for h in episodes.holds(events):
        head = f"{h.fraction} held {duration(h.end_h - h.start_h)}{then.get(h.outcome, '')}"
        reason = h.reason.split(" - ")[0]
        mid = (h.start_h + h.end_h) / 2 / H_PER_DAY
        lanes["hold"].labels.add(mid, f"{head}\n{reason} ({h.rule})")
    held = {(h.fraction, h.end_h) for h in episodes.holds(events)}
    for e in events:
        if e.kind in ("skip", "stop") and (e.data["fraction"], e.time_h) not in held:
            word = "skipped" if e.kind == "skip" else "stopped"
            text = f"{e.data['fraction']} {word}\n{e.data['reason'].split(' - ')[0]}"
            lanes["hold"].labels.add(e.time_h / H_PER_DAY, text, color="#b2182b")
    visit = lanes["visit"].labels
    for e in events:
        if e.kind == "assessment":
            visit.add(e.time_h / H_PER_DAY, f"day {e.data['assessment_day']}\n{e.data['response']}")
        elif e.kind == "death":
            visit.add(e.time_h / H_PER_DAY, f"death\n{e.data['cause']}")
    relapse = episodes.relapse_h(events)
    if relapse is not None:
        visit.add(relapse / H_PER_DAY, "relapse")


def timeline_figure(
    result: RunResult,
    until_day: float | None = None,
    title: str | None = None,
    days: tuple[float, float] | None = None,
) -> Figure:
    """The patient's course; ``until_day`` cuts the time axis (default: the whole run);
    ``days`` (from :func:`day_range`) sets the axis instead, e.g. the same for several arms."""
    from matplotlib.figure import Figure

    events = result.events
    p = result.protocol
    lanes = _lanes(result)
    _labels(events, lanes)
    x0, x1 = _x_range(days or day_range(events, until_day))
    exp = expansion(events)
    with style():
        fig = Figure(figsize=(WIDTH_IN, 6.0))
        ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
        ax.set_xlim(x0, x1)
        if x1 - x0 > LONG_RUN_DAYS:
            compress_after(ax, x0, COMPRESS_AFTER_DAY, x1)
        width_in = WIDTH_IN - LEFT_IN - RIGHT_IN
        scale = ax.xaxis.get_transform()
        f0, f1 = (float(scale.transform([v])[0]) for v in (x0, x1))

        def to_inches(day: float) -> float:
            return (float(scale.transform([day])[0]) - f0) / (f1 - f0) * width_in

        y = 0.0
        for lane in reversed(lanes.values()):
            lane.labels.items = [i for i in lane.labels.items if x0 <= i[0] <= x1]
            lane.placed = lane.labels.place(to_inches, width_in)
            lane.y = y
            y += lane.height
        main_in = y * LANE_IN
        lower_in = EXPANSION_IN + GAP_IN if exp is not None else 0.0
        height = TOP_IN + main_in + lower_in + GAP_IN + LEGEND_IN
        fig.set_size_inches(WIDTH_IN, height)
        bottom = LEGEND_IN + GAP_IN + lower_in
        ax.set_position(
            (LEFT_IN / WIDTH_IN, bottom / height, width_in / WIDTH_IN, main_in / height)
        )
        ax.set_ylim(0, y)
        ax.set_yticks([lane.y + lane.height / 2 for lane in lanes.values()])
        ax.set_yticklabels([lane.name for lane in lanes.values()])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        for lane in lanes.values():
            ax.axhline(lane.y, color="0.85", linewidth=0.6)
        ax.grid(axis="x", color="0.92", linewidth=0.6)
        ax.set_axisbelow(True)
        _draw_marks(ax, events, lanes, to_inches)
        for lane in lanes.values():
            lane.draw_labels(ax, width_in)
        axis_label = day_axis_label(p.calendar.anchor_day)
        if exp is not None:
            ex_ax = fig.add_axes(
                (LEFT_IN / WIDTH_IN, (LEGEND_IN + GAP_IN) / height, width_in / WIDTH_IN, 0.1),
                sharex=ax,
            )
            ex_ax.set_position(
                (
                    LEFT_IN / WIDTH_IN,
                    (LEGEND_IN + GAP_IN) / height,
                    width_in / WIDTH_IN,
                    EXPANSION_IN / height,
                )
            )
            draw_expansion(ex_ax, exp, x1)
            for h in episodes.holds(events):
                ex_ax.axvspan(
                    h.start_h / H_PER_DAY, h.end_h / H_PER_DAY, color=HOLD_COLOUR, alpha=0.15, lw=0
                )
            ax.tick_params(axis="x", labelbottom=False)
            ex_ax.set_xlabel(axis_label)
        else:
            ax.set_xlabel(axis_label)
        pt = result.patient
        who = f"scenario {result.scenario}" if result.scenario else "virtual patient"
        heading = title or (
            f"{p.id}: {who}, seed {result.seed} - {measure(pt.weight_kg)} kg, "
            f"{measure(pt.age_y)} years, marrow blasts {measure(pt.marrow_blasts_pct)} %"
        )
        fig.text(0.012, 1 - 0.28 / height, heading, fontsize=11, fontweight="bold")
        fig.text(
            0.012,
            1 - 0.5 / height,
            f"{p.title}. A simulated course, for research and teaching; not clinical advice.",
            fontsize=8,
            color="0.3",
        )
        _legend(fig, LEGEND_IN / height, exp is not None, _marks(events))
    return fig


def _draw_marks(
    ax: Axes, events: Sequence[Event], lanes: dict[str, Lane], to_inches: ToInches
) -> None:
    ld = lanes["ld"]
    for day in sorted({e.day for e in events if e.kind == "ld_dose"}):
        ld.bar(ax, day + 0.1, day + 0.9, LD_COLOUR)
    for e in events:
        if e.kind == "procedure":
            ax.plot([e.time_h / H_PER_DAY], [ld.mid], marker="D", color="#54278f", markersize=5)
    dose = lanes["dose"]
    infusions = [e for e in events if e.kind == "infusion"]
    top = max((e.data["cells_per_kg"] for e in infusions), default=1.0)
    for e in infusions:
        ax.scatter(
            [e.time_h / H_PER_DAY],
            [dose.mid],
            s=20 + 200 * e.data["cells_per_kg"] / top,  # area grows with the dose
            marker="D" if e.data["phase"] == "repeat" else "o",
            color=DOSE_COLOUR,
            edgecolors="white",
            linewidths=0.6,
            zorder=3,
        )
    planned = lanes["planned"]
    given = {e.data["fraction"] for e in infusions}
    for e in events:
        if e.kind == "planned":
            missed = e.data["fraction"] not in given
            ax.scatter(
                [e.data["planned_time_h"] / H_PER_DAY],
                [planned.mid],
                s=30,
                facecolors="white",
                edgecolors="#b2182b" if missed else "0.35",
                linewidths=1.2,
                zorder=3,
            )
    for h in episodes.holds(events):
        x0, x1 = h.start_h / H_PER_DAY, h.end_h / H_PER_DAY
        lanes["hold"].bar(ax, x0, x1, HOLD_COLOUR)
        ax.axvspan(x0, x1, color=HOLD_COLOUR, alpha=0.15, linewidth=0)
    for e in events:
        if e.kind in ("skip", "stop"):
            ax.plot(
                [e.time_h / H_PER_DAY],
                [lanes["hold"].mid],
                marker="X" if e.kind == "stop" else "s",
                color="#b2182b",
                markersize=6,
                linestyle="none",
            )
    for variable in ("crs_grade", "icans_grade", "iec_hs_grade", "gvhd_grade"):
        if variable in lanes:
            _grade_band(ax, lanes[variable], episodes.state_spans(events, variable), to_inches)
    for variable in ("active_infection", "severe_cytopenia"):
        if variable in lanes:
            for span in episodes.state_spans(events, variable):
                lanes[variable].bar(
                    ax, span.start_h / H_PER_DAY, span.end_h / H_PER_DAY, FLAG_COLOUR
                )
    visit = lanes["visit"]
    style_of: dict[str, dict[str, Any]] = {
        "visit": dict(marker="v", color="0.45", markersize=5),
        "assessment": dict(marker="*", color="#1a9850", markersize=10),
        "death": dict(marker="X", color="black", markersize=8),
    }
    last_day = ax.get_xlim()[1]
    for e in events:
        # not clipped (a death on the last day stays whole), so skip what lies beyond
        if e.kind in style_of and e.time_h / H_PER_DAY <= last_day:
            ax.plot(
                [e.time_h / H_PER_DAY],
                [visit.mid],
                linestyle="none",
                clip_on=False,
                **style_of[e.kind],
            )
    relapse = episodes.relapse_h(events)
    if relapse is not None:
        ax.plot([relapse / H_PER_DAY], [visit.mid], marker="^", color="#b2182b", markersize=7)


def _grade_band(ax: Axes, lane: Lane, spans: Sequence[episodes.Span], to_inches: ToInches) -> None:
    for span in spans:
        grade = min(int(span.value), 5)
        x0, x1 = span.start_h / H_PER_DAY, span.end_h / H_PER_DAY
        lane.bar(ax, x0, x1, GRADE_COLOURS[grade])
        if to_inches(x1) - to_inches(x0) > 0.16:
            ax.text(
                (x0 + x1) / 2,
                lane.mid,
                str(grade),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if grade >= 3 else "black",
                clip_on=True,
            )


GRADED = ("crs_grade", "icans_grade", "iec_hs_grade", "gvhd_grade")


def _marks(events: Sequence[Event]) -> set[str]:
    """The kinds of mark drawn for these events (the legend explains only these)."""
    kinds = {e.kind for e in events}
    marks = {
        mark
        for mark, kind in (
            ("ld", "ld_dose"),
            ("dose", "infusion"),
            ("planned", "planned"),
            ("skip", "skip"),
            ("skip", "stop"),
            ("visit", "visit"),
            ("response", "assessment"),
            ("death", "death"),
        )
        if kind in kinds
    }
    if episodes.holds(events):
        marks.add("hold")
    if episodes.relapse_h(events) is not None:
        marks.add("relapse")
    marks.update(
        f"grade {min(int(span.value), 5)}"
        for variable in GRADED
        for span in episodes.state_spans(events, variable)
    )
    return marks


def _legend(fig: Figure, height: float, with_expansion: bool, marks: set[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def marker(label: str, **kw: Any) -> Line2D:
        return Line2D([], [], linestyle="none", label=label, **kw)

    candidates: list[tuple[str, Any]] = [
        ("ld", Patch(color=LD_COLOUR, label="lymphodepletion day")),
        ("dose", marker("CAR-T dose (area ~ dose)", marker="o", color=DOSE_COLOUR)),
        (
            "planned",
            marker("planned time", marker="o", markerfacecolor="white", markeredgecolor="0.35"),
        ),
        ("hold", Patch(color=HOLD_COLOUR, label="gate hold")),
        ("skip", marker("skip / stop", marker="X", color="#b2182b")),
        *((f"grade {g}", Patch(color=GRADE_COLOURS[g], label=f"grade {g}")) for g in range(1, 6)),
        ("visit", marker("visit", marker="v", color="0.45")),
        ("response", marker("response assessed", marker="*", color="#1a9850", markersize=9)),
        ("relapse", marker("relapse", marker="^", color="#b2182b")),
        ("death", marker("death", marker="X", color="black")),
    ]
    handles = [handle for key, handle in candidates if key in marks]
    if with_expansion:
        handles.append(Line2D([], [], color=EXPANSION_COLOUR, label="CAR-T expansion"))
    fig.legend(
        handles=handles,
        loc="center",
        bbox_to_anchor=(0.5, height * 0.5),
        ncol=7,
        frameon=False,
        handlelength=1.5,
        columnspacing=1.4,
    )
