"""What people read: labels, ranges, rounding, pass ranges and figure sizes."""

from __future__ import annotations

import re
from html import escape
from typing import Any

import pytest
from rich.console import Console

from sim.calibration import Target
from sim.cohort import CohortSetup, run_patient_result
from sim.plots.cohort import ArmRuns, run_arms
from sim.plots.files import DPI
from sim.report.cohort_table import cell, fmt, print_calibration, print_comparison
from sim.report.html import cohort_report, run_report
from sim.report.words import grade, measure
from sim.spec.load import load_protocol
from sim.targets import run_target


def element(html: str, css_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(css_id)}"', html)
    assert match is not None, f"no element with id {css_id}"
    end = html.index(f"</{match.group(1)}>", match.start())
    return html[match.start() : end]


def rows(table_html: str) -> list[list[str]]:
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", table_html)
        if "<td" in row
    ]


# ---- the schedule's "why" column --------------------------------------------------------------


def test_why_column_explains_a_held_fraction() -> None:
    schedule = rows(element(run_report(run_target("fractionated-crs-hold")), "run-schedule"))
    why = {row[0]: row[-1] for row in schedule}
    assert why["F3"].startswith("held: CRS or ICANS present")
    assert why["F1"] == why["F2"] == why["F4"] == ""


def test_why_column_says_how_a_stopped_protocol_ended() -> None:
    schedule = rows(element(run_report(run_target("fractionated-crs-stop")), "run-schedule"))
    why = {row[0]: row[-1] for row in schedule}
    assert "still held after 7 days" in why["F3"]
    assert why["F4"].startswith("protocol stopped")


# ---- comparison cells and paired differences ---------------------------------------------------


def test_ranges_read_low_to_high_without_a_double_dash() -> None:
    diff = {"value": -0.064, "ci_low": -0.089, "ci_high": -0.044}
    assert cell(diff, "rate", signed=True) == "-6.4 % (-8.9 to -4.4)"
    assert cell({"value": 0.083, "ci_low": 0.007, "ci_high": 0.181}, "rate", signed=True) == (
        "+8.3 % (0.7 to 18.1)"
    )
    assert cell({"value": 0.0, "ci_low": -0.06, "ci_high": 0.06}, "rate", signed=True) == (
        "0.0 % (-6.0 to 6.0)"
    )


def test_doses_and_large_numbers_are_written_for_people() -> None:
    assert fmt(3e6, "cells") == "3 x10^6/kg"
    assert cell({"value": 3e6, "ci_low": 1e6, "ci_high": 3e6}, "cells") == "3 x10^6/kg (1 to 3)"
    assert fmt(19_612.3, "num") == "19,600"
    assert fmt(9.137, "num") == "9.14"
    assert measure(42.525) == "42.5" and measure(70.0) == "70"
    assert grade(2.0) == "2"


@pytest.fixture(scope="module")
def cohort_html() -> str:
    loaded = [load_protocol("cart19-be-02"), load_protocol("msk-19-28z")]
    return cohort_report(loaded, CohortSetup(seed=2), 8)


def test_paired_differences_have_readable_labels(cohort_html: str) -> None:
    table = element(cohort_html, "differences")
    endpoints = [row[1] for row in rows(table)]
    assert "CRS grade &gt;= 3" in endpoints and "cells/kg delivered (mean)" in endpoints
    assert not any("_" in e for e in endpoints)  # no internal slugs
    for row in rows(table):
        assert re.fullmatch(r"[+-]?[\d.,]+ (%|x10\^6/kg) \([-\d.,]+ to [-\d.,]+\)", row[2]), row
    assert "%-" not in cohort_html and "e6" not in element(cohort_html, "comparison")


def test_terminal_comparison_uses_the_same_labels() -> None:
    data: dict[str, Any] = {
        "run": {"patients": 10, "sim_events": 5},
        "population": "adult-rr-ball",
        "seed": 0,
        "arms": [],
        "differences": [
            {
                "arm": "b",
                "versus": "a",
                "metrics": {
                    "crs_grade3plus_rate": {"value": -0.064, "ci_low": -0.089, "ci_high": -0.044}
                },
            }
        ],
    }
    console = Console(record=True, width=200)
    print_comparison(data, console)
    text = console.export_text()
    assert "CRS grade >= 3: -6.4 % (-8.9 to -4.4)" in text and "crs_grade3plus" not in text


# ---- the summary: rounding, grades, assumptions -------------------------------------------------


def test_summary_rounds_measurements_and_writes_grades_as_integers() -> None:
    html = run_report(run_target("car-dli-gvhd"))
    summary = element(html, "summary")
    assert re.search(r"GVHD \d<", summary) and not re.search(r"GVHD \d\.\d", summary)
    blasts = re.search(r"marrow blasts ([\d.]+) %", summary)
    assert blasts is not None and len(blasts.group(1).partition(".")[2]) <= 1


def test_virtual_patient_measurements_have_one_decimal(cohort_html: str) -> None:
    summary = element(cohort_html, "patient-0-summary")
    numbers = re.search(
        r"([\d.]+) kg, ([\d.]+) cm, ([\d.]+) years, marrow blasts ([\d.]+) %", summary
    )
    assert numbers is not None
    assert all(len(n.partition(".")[2]) <= 1 for n in numbers.groups())


def test_report_lists_the_protocol_assumptions() -> None:
    result = run_target("fractionated-crs-hold")
    html = run_report(result)
    listed = element(html, "run-assumptions")
    assert len(result.protocol.assumptions) > 1
    for a in result.protocol.assumptions:
        assert escape(a.note) in listed and escape(a.field) in listed


def test_patient_0_of_every_arm_is_drawn_on_the_same_days(cohort_html: str) -> None:
    from sim.plots.timeline import day_range

    pattern = r"study days (-?\d+) to (\d+) are shown"
    shown = [re.search(pattern, element(cohort_html, f"patient-{i}-timeline")) for i in (0, 1)]
    assert shown[0] is not None and shown[1] is not None
    assert shown[0].groups() == shown[1].groups()
    own = []
    for protocol in ("cart19-be-02", "msk-19-28z"):
        lp = load_protocol(protocol)
        run = run_patient_result(lp, CohortSetup(seed=2), 0)
        own.append(day_range(run.events, lp.protocol.follow_up.horizon_day))
    assert own[0] != own[1]  # each arm alone would be drawn over other days
    union = (min(r[0] for r in own), max(r[1] for r in own))
    assert shown[0].groups() == (f"{union[0]:.0f}", f"{union[1]:.0f}")


def test_same_days_give_the_same_axis() -> None:
    from sim.plots.timeline import day_range, timeline_figure

    setup = CohortSetup(seed=2)
    runs = [run_patient_result(load_protocol(p), setup, 0) for p in ("cart19-be-02", "msk-19-28z")]
    ranges = [day_range(r.events) for r in runs]
    assert ranges[0] != ranges[1]
    days = (min(r[0] for r in ranges), max(r[1] for r in ranges))
    limits = {timeline_figure(r, days=days).axes[0].get_xlim() for r in runs}
    assert len(limits) == 1


# ---- calibration ranges ------------------------------------------------------------------------


def _target(value: float, unit: str, tolerance: dict[str, float]) -> Target:
    return Target.model_validate(
        {
            "id": "t",
            "protocol": "cart19-be-02",
            "population": "adult-rr-ball",
            "endpoint": "cr_mrd_neg_d28_rate",
            "value": value,
            "tolerance": tolerance,
            "unit": unit,
            "source": "test",
            "status": "V",
        }
    )


def test_tolerance_of_a_probability_is_clipped_to_0_1_and_labelled() -> None:
    low, high, rule = _target(0.95, "fraction", {"abs": 0.1}).bounds()
    assert (low, high) == pytest.approx((0.85, 1.0)) and "tolerance" in rule
    low, high, _ = _target(0.05, "fraction", {"abs": 0.1}).bounds()
    assert (low, high) == pytest.approx((0.0, 0.15))
    low, high, _ = _target(100.0, "days", {"rel": 0.25}).bounds()  # not a probability
    assert (low, high) == pytest.approx((75.0, 125.0))


def test_calibration_table_shows_probabilities_as_percentages() -> None:
    target = _target(0.95, "fraction", {"abs": 0.1})
    low, high, rule = target.bounds()
    row = {
        "id": "t",
        "endpoint": target.endpoint,
        "unit": target.unit,
        "published": target.value,
        "published_low": low,
        "published_high": high,
        "rule": rule,
        "interval": rule,
        "simulated": {"value": 0.97, "ci_low": 0.9, "ci_high": 0.99},
        "passes": True,
    }
    console = Console(record=True, width=250)
    print_calibration([row], console)
    text = console.export_text()
    assert "85.0 % to 100.0 % (tolerance +/-10 points)" in text
    assert "97.0 % (90.0 % to 99.0 %)" in text and "1.05" not in text


# ---- the cohort figure -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arms() -> list[ArmRuns]:
    loaded = [load_protocol("cart19-be-02"), load_protocol("msk-19-28z")]
    return run_arms(loaded, CohortSetup(seed=3), 24, keep=10)


def test_cohort_figure_fits_a_slide(arms: list[ArmRuns]) -> None:
    from sim.plots.cohort_figure import cohort_figure

    width, height = (cohort_figure(arms).get_size_inches() * DPI).tolist()
    assert width <= 2000 and height <= 1200 and width > height


def _legend_labels(fig: Any) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_swimmer_legend_lists_only_what_occurs(arms: list[ArmRuns]) -> None:
    from sim.plots.cohort_figure import cohort_figure
    from sim.plots.swimmer import swimmer_figure

    events = [e for arm in arms for ev in arm.sample for e in ev]
    kinds = {e.kind for e in events}
    gvhd = any(e.kind == "state_change" and e.data["variable"] == "gvhd_grade" for e in events)
    assert not gvhd  # autologous products: no GVHD in these arms
    for fig in (swimmer_figure(arms), cohort_figure(arms)):
        labels = _legend_labels(fig)
        assert "CAR-T dose" in labels
        assert not any(label.startswith("GVHD") for label in labels)
        assert ("death" in labels) == ("death" in kinds)
        assert ("protocol stopped" in labels) == ("stop" in kinds)


@pytest.mark.parametrize("target", ["fractionated-crs-hold", "fractionated-no-toxicity"])
def test_timeline_legend_lists_only_what_occurs(target: str) -> None:
    from sim.plots import episodes
    from sim.plots.timeline import timeline_figure

    result = run_target(target)
    labels = _legend_labels(timeline_figure(result))
    kinds = {e.kind for e in result.events}
    grades = {
        int(span.value)
        for variable in ("crs_grade", "icans_grade", "iec_hs_grade", "gvhd_grade")
        for span in episodes.state_spans(result.events, variable)
    }
    assert {int(label[-1]) for label in labels if label.startswith("grade ")} == grades
    assert ("gate hold" in labels) == bool(episodes.holds(result.events))
    assert ("death" in labels) == ("death" in kinds)
    assert ("relapse" in labels) == (episodes.relapse_h(result.events) is not None)
    assert "CAR-T dose (area ~ dose)" in labels


def test_calibration_table_writes_large_numbers_without_exponents() -> None:
    row = {
        "id": "peak",
        "endpoint": "peak_copies_median",
        "unit": "copies/ug gDNA",
        "published": 31623.0,
        "published_low": 21082.0,
        "published_high": 47434.5,
        "rule": "tolerance x/1.5",
        "interval": "tolerance x/1.5",
        "simulated": {"value": 23650.0, "ci_low": 18800.0, "ci_high": 39200.0},
        "passes": True,
    }
    console = Console(record=True, width=250)
    print_calibration([row], console)
    text = console.export_text()
    assert "31,620" in text and "21,080 to 47,430" in text and "e+0" not in text


def test_held_column_counts_a_hold_that_ended_in_a_stop() -> None:
    schedule = rows(element(run_report(run_target("fractionated-crs-stop")), "run-schedule"))
    held = {row[0]: row[6] for row in schedule}
    assert held["F3"] == "7 days" and held["F4"] == "-"
    console = Console(record=True, width=200)
    from sim.report.schedule import print_schedule

    print_schedule(run_target("fractionated-crs-stop"), console)
    f3 = next(line for line in console.export_text().splitlines() if "F3" in line)
    assert "7 days" in f3
