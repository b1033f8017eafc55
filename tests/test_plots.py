"""Figures from the event log: what they read, what they show, and the files they write."""

from __future__ import annotations

import re
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort import CohortSetup, run_patient_result
from sim.errors import InputError
from sim.model.kinetics import Kinetics
from sim.model.latent import draw_latent
from sim.model.patient_course import PatientModel
from sim.plots import episodes
from sim.plots.cohort import ArmRuns, run_arms
from sim.plots.expansion import expansion
from sim.plots.files import figure_bytes, figure_format, save_figure
from sim.plots.survival import km_curve
from sim.spec.load import load_protocol
from sim.stats import km_at
from sim.targets import run_target

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_text(fig: Any) -> str:
    return figure_bytes(fig, "svg").decode("utf-8")


def texts(svg: str) -> str:
    """The visible text of a matplotlib SVG (text is kept as text: svg.fonttype none)."""
    return " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))


# --- what is read from the event log --------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "seed"), [("cart19-be-02", 2), ("penn-split", 5), ("car-dli-no-ld", 1)]
)
def test_expansion_rise_matches_the_model(protocol: str, seed: int) -> None:
    """The rise rebuilt from the logged kinetics rows is the model's own curve."""
    loaded = load_protocol(protocol)
    setup = CohortSetup(seed=seed)
    params = setup.parameters()
    for i in range(12):
        result = run_patient_result(loaded, setup, i)
        exp = expansion(result.events)
        assert exp is not None
        model = PatientModel(
            params,
            result.patient,
            draw_latent(seed, i),
            product=loaded.protocol.product,
        )
        model.ld_given = any(e.kind == "ld_dose" for e in result.events)
        kinetics = Kinetics(model.kinetic_traits())
        for e in result.events:
            if e.kind == "infusion":
                kinetics.add_dose(e.time_h / 24, e.data["cells_per_kg"])
        main = kinetics.curves()[0]
        for t_h, copies in exp.rise(25):
            assert copies == pytest.approx(main.at(t_h / 24), rel=2e-3)
        assert exp.peak_time_h / 24 == pytest.approx(main.peak_day, abs=1e-3)


def test_no_expansion_without_the_model() -> None:
    assert expansion(run_target("fractionated-crs-hold").events) is None


def test_holds_from_the_log() -> None:
    (hold,) = episodes.holds(run_target("fractionated-crs-hold").events)
    assert (hold.fraction, hold.start_h, hold.end_h, hold.outcome) == ("F3", 58.0, 106.0, "given")
    assert hold.rule == "crs-or-icans"
    (stop,) = episodes.holds(run_target("fractionated-crs-stop").events)
    assert stop.outcome == "stopped" and stop.end_h - stop.start_h == 7 * 24


def test_grade_spans_from_the_log() -> None:
    spans = episodes.state_spans(run_target("fractionated-crs-hold").events, "crs_grade")
    assert [s.value for s in spans] == [1, 2, 1]
    assert all(a.end_h == b.start_h for a, b in pairwise(spans))


def test_km_curve_agrees_with_km_at() -> None:
    times = [5.0, 8.0, 8.0, 12.0, 20.0, 25.0, 30.0, 30.0]
    events = [True, True, False, True, False, True, False, True]
    xs, ss, lo, hi = km_curve(times, events)
    for t in (0.0, 6.0, 8.0, 15.0, 26.0):
        step = max(i for i, x in enumerate(xs) if x <= t)
        est = km_at(times, events, t)
        assert ss[step] == pytest.approx(est.value)
        assert (lo[step], hi[step]) == pytest.approx((est.ci_low, est.ci_high))


# --- one patient's timeline -----------------------------------------------------------------


def rendered_label_boxes(fig: Any) -> list[Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    return [t.get_window_extent(renderer) for t in ax.texts if t.get_text().strip()]


@pytest.mark.parametrize(
    "target",
    [
        "fractionated-crs-hold",
        "fractionated-crs-stop",
        "cart19-be-02",
        "penn-split",
        "b019",
        "ld-window-expired",
        "car-dli-gvhd",
    ],
)
def test_timeline_labels_do_not_overlap(target: str) -> None:
    from sim.plots.timeline import timeline_figure

    fig = timeline_figure(run_target(target))
    boxes = rendered_label_boxes(fig)
    assert len(boxes) >= 4
    for a, b in combinations(boxes, 2):
        assert not a.overlaps(b), (a, b)
    width = fig.get_size_inches()[0] * fig.dpi
    assert all(box.x0 >= 0 and box.x1 <= width for box in boxes)


def test_timeline_shows_the_course() -> None:
    from sim.plots.timeline import timeline_figure

    svg = svg_text(timeline_figure(run_target("fractionated-crs-hold")))
    shown = texts(svg)
    for label in (
        "study day (day 0 = first CAR-T infusion)",
        "F3 held 2 days",
        "CRS or ICANS present (crs-or-icans)",
        "CRS grade",
        "LD: fludarabine, cyclophosphamide",
        "MRD-negative CR",
        "gate hold",
        "not clinical advice",
    ):
        assert label in shown, label
    for dose in ("F1", "0.1", "F4", "2"):
        assert f">{dose}<" in svg or dose in shown


def test_timeline_with_the_model_has_an_expansion_axis() -> None:
    from sim.plots.timeline import timeline_figure

    fig = timeline_figure(run_target("cart19-be-02"))
    assert len(fig.axes) == 2
    assert fig.axes[1].get_yscale() == "log"
    shown = texts(svg_text(fig))
    assert "CAR-T expansion" in shown and "peak" in shown


def test_timeline_until_day_cuts_the_axis() -> None:
    from sim.plots.timeline import timeline_figure

    def items(fig: Any) -> list[str]:
        return re.findall(r"<text[^>]*>([^<]*)</text>", svg_text(fig))

    whole = items(timeline_figure(run_target("car-dli-gvhd")))
    assert whole.count("relapse") == 2 and "R2 stopped" in whole  # label + legend; day 146
    fig = timeline_figure(run_target("car-dli-gvhd"), until_day=30)
    assert fig.axes[0].get_xlim()[1] < 32
    shown = items(fig)
    assert shown.count("relapse") == 1  # the legend only: the day-90 relapse is cut off
    assert "R2 stopped" not in shown


def test_same_run_same_bytes() -> None:
    from sim.plots.timeline import timeline_figure

    a = figure_bytes(timeline_figure(run_target("fractionated-crs-hold")), "svg")
    b = figure_bytes(timeline_figure(run_target("fractionated-crs-hold")), "svg")
    assert a == b
    assert b"http" not in a.replace(b"http://www.w3.org/", b"")


# --- cohort figures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arms() -> list[ArmRuns]:
    loaded = [load_protocol("cart19-be-02"), load_protocol("msk-19-28z")]
    return run_arms(loaded, CohortSetup(seed=3), 24, keep=10)


def test_arm_runs_keep_what_the_plots_need(arms: list[ArmRuns]) -> None:
    be02, msk = arms
    assert be02.n == msk.n == 24 and len(be02.sample) == 10
    assert sum(be02.paths.values()) == 24
    # common random numbers: patient i has the same covariates in both arms
    assert [r["patient"] for r in be02.outcomes] == list(range(24))


def test_swimmer(arms: list[ArmRuns]) -> None:
    from sim.plots.swimmer import swimmer_figure

    fig = swimmer_figure(arms)
    assert len(fig.axes) == 2
    assert [len(ax.get_yticks()) for ax in fig.axes] == [10, 10]
    shown = texts(svg_text(fig))
    for label in (
        "cart19-be-02: virtual patients 0-9 of 24",
        "msk-19-28z: virtual patients 0-9 of 24",
        "days from the first CAR-T infusion",
        "CAR-T dose",
        "MRD-negative CR",
        "#9",
    ):
        assert label in shown, label


def test_survival_and_doses(arms: list[ArmRuns]) -> None:
    from sim.plots.distributions import distributions_figure
    from sim.plots.survival import survival_figure

    km = texts(svg_text(survival_figure(arms)))
    assert "Event-free survival" in km and "Overall survival" in km and "at risk" in km
    assert "24" in km  # everyone at risk at day 0
    doses = texts(svg_text(distributions_figure(arms)))
    assert "x10^6 cells/kg" in doses and "Time to the full planned dose" in doses
    reached = sum(bool(r["full_dose_delivered"]) for r in arms[0].outcomes)
    assert f"cart19-be-02: {reached} of 24 reached it" in doses


# --- files ----------------------------------------------------------------------------------


def test_figure_format_by_extension(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    assert figure_format(tmp_path / "a.PNG") == "png"
    assert figure_format(tmp_path / "a.svg") == "svg"
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        figure_format(tmp_path / "a.pdf")
    with pytest.raises(InputError, match="no such folder"):
        save_figure(Figure(), tmp_path / "missing" / "a.png", {})


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    target = tmp_path / "f.png"
    target.write_bytes(b"old")
    save_figure(fig, target, {"command": "test"})
    assert target.read_bytes().startswith(PNG_MAGIC)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.png.provenance.json"]


# --- command line ---------------------------------------------------------------------------


def test_cli_timeline_png_and_svg(tmp_path: Path) -> None:
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    for out in (png, svg):
        result = runner.invoke(app, ["plot", "fractionated-crs-hold", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.stdout
    assert png.read_bytes().startswith(PNG_MAGIC)
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "F3 held 2 days" in texts(text)


def test_cli_protocol_timeline_is_virtual_patient_0(tmp_path: Path) -> None:
    out = tmp_path / "p.svg"
    result = runner.invoke(app, ["plot", "cart19-be-02", "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "cart19-be-02: virtual patient, seed 1" in texts(out.read_text(encoding="utf-8"))


def test_cli_cohort_plot(tmp_path: Path) -> None:
    out = tmp_path / "c.svg"
    args = ["plot", "cart19-be-02", "msk-19-28z", "--patients", "6", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    shown = texts(out.read_text(encoding="utf-8"))
    assert "Simulated cohort" in shown and "Event-free survival" in shown
    assert "Delivered dose" in shown and "virtual patient" in shown


def test_cli_cohort_single_figure(tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = ["plot", "penn-split", "--patients", "5", "--figure", "survival", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["fractionated-crs-hold", "-o", "OUT.pdf"],
            "-o: 'OUT.pdf': the figure is written as .png or .svg",
        ),
        (["fractionated-crs-hold", "-o", "OUT.jpg"], ".png or .svg"),
        (["fractionated-crs-hold", "--patients", "4", "-o", "OUT.png"], "is a scenario"),
        (["penn-split", "--patients", "4", "--figure", "pie", "-o", "OUT.png"], "--figure"),
        (["penn-split", "--patients", "4", "--weight", "70", "-o", "OUT.png"], "--fix"),
        (["penn-split", "--fix", "weight_kg=70", "-o", "OUT.png"], "--patients"),
        (["no-such-thing", "-o", "OUT.png"], "no-such-thing"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    message = message.replace("OUT", str(tmp_path / "out"))
    result = runner.invoke(app, ["plot", *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ")
    assert message in result.output
    assert list(tmp_path.iterdir()) == []
