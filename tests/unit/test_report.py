"""Readable outputs: schedule table, explanation, JSON and event files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console

from sim.report.explain import explain_lines
from sim.report.schedule import print_schedule
from sim.report.trace import run_json, write_events
from sim.report.words import dose, when
from sim.targets import run_target


def test_when_and_dose_wording() -> None:
    assert when(10.0) == "day 0 10:00"
    assert when(-111.0) == "day -5 09:00"
    assert when(None) == "-"
    assert dose(1e5, 7e6) == "0.1 x10^6/kg (7 x10^6 cells)"


def test_schedule_table_shows_holds_and_reasons() -> None:
    console = Console(record=True, width=200)
    print_schedule(run_target("fractionated-crs-hold"), console)
    text = console.export_text()
    assert "day 4 10:00" in text and "2 days" in text
    assert "F3: delay (rule crs-or-icans)" in text


def test_explain_tells_the_hold_and_why() -> None:
    lines = list(explain_lines(run_target("fractionated-crs-hold")))
    held = [line for line in lines if "F3" in line and "held" in line]
    assert held and "CRS or ICANS present" in held[0]
    assert any("CRS grade: 1 -> 2" in line for line in lines)
    assert any(line.startswith("In short: 4 of 4 fractions given") for line in lines)


def test_json_has_the_documented_keys() -> None:
    data = run_json(run_target("fractionated-crs-stop"))
    assert {"protocol", "patient", "seed", "events", "ledger", "decisions", "metrics"} <= set(data)
    assert data["protocol"]["id"] == "cart19-be-02-resume" and data["seed"] == 3
    assert {d["action"] for d in data["decisions"]} == {"give", "delay", "stop"}
    json.dumps(data, allow_nan=False)


def test_event_files(tmp_path: Path) -> None:
    result = run_target("fractionated-no-toxicity")
    jsonl = tmp_path / "e.jsonl"
    write_events(result, jsonl)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == len(result.events) and rows[0]["kind"] == "dose_plan"
    out = tmp_path / "e.csv"
    write_events(result, out)
    with out.open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(result.events)
    assert {"time_h", "day", "kind", "fraction", "cells_per_kg"} <= set(table[0])
    assert [r["kind"] for r in table] == [e.kind for e in result.events]
    assert not list(tmp_path.glob("*.tmp"))


def test_the_glossary_numbers_the_first_infusion_as_the_protocol_does() -> None:
    penn = list(explain_lines(run_target("penn-split")))  # Penn numbered it Day 1
    assert any(line.startswith("  - Day 1: the day of the first CAR-T infusion") for line in penn)
    assert not any("Day 0: the day of the first CAR-T infusion" in line for line in penn)
    be02 = list(explain_lines(run_target("fractionated-no-toxicity")))
    assert any(line.startswith("  - Day 0: the day of the first CAR-T infusion") for line in be02)


def test_the_glossary_explains_capd_for_young_children_and_gvhd_for_donor_products() -> None:
    child = "\n".join(explain_lines(run_target("single-dose-cns")))  # a 9-year-old
    assert "Cornell Assessment of Pediatric Delirium" in child
    assert "overall acute GVHD grade" not in child  # an autologous product
    donor = "\n".join(explain_lines(run_target("car-dli-gvhd")))
    assert "overall acute GVHD grade I-IV (MAGIC" in donor
    assert "Cornell" not in donor  # a 43-year-old


def test_worst_grades_are_printed_as_grades_not_floats() -> None:
    console = Console(record=True, width=200)
    print_schedule(run_target("car-dli-gvhd"), console)  # the script sets gvhd_grade: 2
    assert "GVHD 2;" in console.export_text()
