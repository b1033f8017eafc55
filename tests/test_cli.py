"""The ``cartsim`` command line, driven through Typer's CliRunner."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.commands.common import console
from sim.spec.load import builtin_dir, builtin_ids

runner = CliRunner()
PROTOCOL_FILE = builtin_dir("protocol") / "cart19-be-02.yaml"
PROTOCOL_TEXT = PROTOCOL_FILE.read_text(encoding="utf-8")
F2_DOSE = "dose: {cells_per_kg: 3.0e5}"
ACTIONS = {"give", "delay", "skip", "stop", "reduce"}
FRACTIONS = ["F1", "F2", "F3", "F4"]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_clean(result: Result) -> None:
    """No traceback, and any exception is the exit of a handled error."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def run_json(*args: str) -> dict[str, Any]:
    result = invoke("run", *args, "--json")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def in_order(ids: list[str]) -> bool:
    """Fractions of cart19-be-02, each listed once, in protocol order, starting with F1."""
    return bool(ids) and ids[0] == "F1" and ids == [f for f in FRACTIONS if f in ids]


def line_of(text: str, needle: str) -> int:
    (line,) = [i for i, t in enumerate(text.splitlines(), 1) if needle in t]
    return line


# --- run ------------------------------------------------------------------------------------------


def test_run_json_is_one_object_with_the_documented_keys() -> None:
    data = run_json("cart19-be-02", "--weight", "70")
    assert {"protocol", "patient", "seed", "events", "ledger", "decisions", "metrics"} <= set(data)
    assert data["protocol"]["id"] == "cart19-be-02"
    assert data["patient"]["weight_kg"] == 70
    assert data["seed"] == 0
    assert isinstance(data["metrics"], dict) and data["metrics"]
    assert data["events"]
    for event in data["events"]:
        assert isinstance(event["time_h"], int | float)
        assert isinstance(event["day"], int)
        assert isinstance(event["kind"], str) and event["kind"]
    times = [e["time_h"] for e in data["events"]]
    assert times == sorted(times)


PLANNED_PER_KG = {"F1": 1.0e5, "F2": 3.0e5, "F3": 6.0e5, "F4": 2.0e6}


@pytest.mark.parametrize("seed", ["0", "3"])
def test_run_json_ledger_has_plain_cell_numbers(seed: str) -> None:
    ledger = run_json("cart19-be-02", "--weight", "70", "--seed", seed)["ledger"]
    assert in_order([row["fraction"] for row in ledger])
    for row in ledger:
        assert {"fraction", "time_h", "cells_per_kg", "cells"} <= set(row)
        assert isinstance(row["time_h"], int | float)
        assert row["cells_per_kg"] == pytest.approx(PLANNED_PER_KG[row["fraction"]])
        assert row["cells"] == pytest.approx(row["cells_per_kg"] * 70)
    assert ledger[0]["cells_per_kg"] == 1.0e5
    assert ledger[0]["cells"] == 7000000.0


def test_quiet_run_ledger_gives_all_four_fractions() -> None:
    ledger = run_json("fractionated-no-toxicity")["ledger"]
    assert [row["fraction"] for row in ledger] == FRACTIONS
    assert [row["cells"] for row in ledger] == pytest.approx([7.0e6, 2.1e7, 4.2e7, 1.4e8])


@pytest.mark.parametrize("seed", ["0", "3"])
def test_run_json_decisions(seed: str) -> None:
    decisions = run_json("cart19-be-02", "--seed", seed)["decisions"]
    checked = list(dict.fromkeys(d["fraction"] for d in decisions))
    assert checked[0] == "LD"  # lymphodepletion's own gate comes first
    assert in_order(checked[1:])
    for d in decisions:
        assert {"time_h", "fraction", "action", "rule", "reason"} <= set(d)
        assert d["action"] in ACTIONS
        assert d["reason"]


def test_run_json_decisions_record_a_hold_with_its_rule() -> None:
    decisions = run_json("fractionated-crs-hold")["decisions"]
    delays = [d for d in decisions if d["action"] == "delay"]
    assert delays
    assert {d["fraction"] for d in delays} == {"F3"}
    assert {d["rule"] for d in delays} == {"crs-or-icans"}
    assert all(d["action"] in ACTIONS for d in decisions)


@pytest.mark.parametrize("target", ["cart19-be-02", "fractionated-no-toxicity"])
def test_weight_changes_the_cells(target: str) -> None:
    usual = run_json(target, "--weight", "70")
    light = run_json(target, "--weight", "50")
    assert light["patient"]["weight_kg"] == 50
    assert light["ledger"][0]["fraction"] == usual["ledger"][0]["fraction"] == "F1"
    assert usual["ledger"][0]["cells"] == pytest.approx(7.0e6)
    assert light["ledger"][0]["cells"] == pytest.approx(5.0e6)
    for row in light["ledger"]:
        assert row["cells"] == pytest.approx(row["cells_per_kg"] * 50)


@pytest.mark.parametrize("seed", ["7", "123"])
def test_seed_is_echoed(seed: str) -> None:
    assert run_json("cart19-be-02", "--seed", seed)["seed"] == int(seed)


def test_run_scenario_id_uses_its_patient_and_seed() -> None:
    data = run_json("fractionated-crs-stop")
    assert data["protocol"]["id"] == "cart19-be-02-resume"
    assert data["patient"]["weight_kg"] == 64
    assert data["seed"] == 3
    assert data["metrics"]["stopped"] is True


def test_run_scenario_file_path() -> None:
    path = builtin_dir("scenario") / "fractionated-crs-hold.yaml"
    data = run_json(str(path))
    assert data["protocol"]["id"] == "cart19-be-02-resume"
    assert data["patient"]["age_y"] == 52
    assert data["seed"] == 2


def test_run_scenario_file_copied_elsewhere(tmp_path: Path) -> None:
    text = (builtin_dir("scenario") / "fractionated-no-toxicity.yaml").read_text()
    path = tmp_path / "copy.yaml"
    path.write_text(text)
    data = run_json(str(path), "--seed", "9")
    assert data["seed"] == 9
    assert [row["fraction"] for row in data["ledger"]] == FRACTIONS


def test_run_protocol_file_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(PROTOCOL_TEXT.replace("dose: {cells_per_kg: 1.0e5}", "dose: {cells: 2.5e7}"))
    data = run_json(str(path), "--weight", "70")
    assert data["protocol"]["origin"] == str(path)
    assert data["ledger"][0]["fraction"] == "F1"
    assert data["ledger"][0]["cells"] == pytest.approx(2.5e7)


def test_run_without_json_prints_a_schedule() -> None:
    result = invoke("run", "cart19-be-02")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    assert "F4" in result.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_events_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = invoke("run", "fractionated-no-toxicity", "--events", str(out), "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(json.loads(result.stdout)["events"])
    assert all({"time_h", "day", "kind"} <= set(row) for row in rows)
    assert [r["fraction"] for r in rows if r["kind"] == "infusion"] == ["F1", "F2", "F3", "F4"]
    assert not list(tmp_path.glob("*.tmp"))


def test_events_csv(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = invoke("run", "fractionated-crs-hold", "--events", str(out))
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert {"time_h", "day", "kind", "fraction", "action", "rule", "reason"} <= set(rows[0])
    kinds = {row["kind"] for row in rows}
    assert "gate" in kinds
    for row in rows:
        float(row["time_h"])
        int(row["day"])
    gates = [r for r in rows if r["kind"] == "gate" and r["action"] != "give"]
    assert gates and all(r["rule"] and r["reason"] for r in gates)


def test_events_into_a_missing_folder_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("run", "cart19-be-02", "--events", str(tmp_path / "nope" / "out.jsonl"))
    assert result.exit_code == 2
    assert_clean(result)
    assert error_lines(result)


# --- explain, list, schema, check ----------------------------------------------------------------


def test_explain_mentions_the_hold_and_its_reason() -> None:
    result = invoke("explain", "fractionated-crs-hold")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    held = [line for line in result.output.splitlines() if "held" in line and "F3" in line]
    assert held
    assert any("CRS or ICANS present - hold until it resolves" in line for line in held)
    assert "re-check in 12 h" in result.output
    assert "F3 was held for 2 days" in result.output


def test_explain_quiet_run_has_no_hold() -> None:
    result = invoke("explain", "fractionated-no-toxicity")
    assert result.exit_code == 0, result.output
    assert "hold until it resolves" not in result.output
    assert "4 of 4 fractions given" in result.output


def test_list_lists_every_built_in_id() -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    listed = {line.split()[0] for line in result.output.splitlines() if line.startswith("  ")}
    expected = set(builtin_ids("protocol")) | set(builtin_ids("scenario"))
    assert expected
    assert listed == expected
    assert result.output.index("Protocols:") < result.output.index("Scenarios:")


def test_schema_without_kind_is_the_protocol_json_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == json.loads(invoke("schema", "--kind", "protocol").stdout)
    assert data["title"] == "Protocol"
    assert "fractions" in data["properties"]


@pytest.mark.parametrize(("kind", "field"), [("protocol", "fractions"), ("scenario", "patient")])
def test_schema_of_one_kind(kind: str, field: str) -> None:
    result = invoke("schema", "--kind", kind)
    assert result.exit_code == 0, result.output
    assert field in json.loads(result.stdout)["properties"]


def test_schema_of_an_unknown_kind_is_an_error() -> None:
    result = invoke("schema", "--kind", "fraction")
    assert result.exit_code == 2
    assert_clean(result)
    assert error_lines(result)


def good_files() -> list[Path]:
    return sorted(builtin_dir("protocol").glob("*.yaml")) + sorted(
        builtin_dir("scenario").glob("*.yaml")
    )


def test_check_good_files() -> None:
    files = [str(p) for p in good_files()]
    result = invoke("check", *files)
    assert result.exit_code == 0, result.output
    assert_clean(result)
    assert result.stdout.splitlines() == [f"ok: {name}" for name in files]


def test_check_reports_good_and_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = PROTOCOL_TEXT.replace(F2_DOSE, "dose: {cell_per_kg: 3.0e5}")
    bad.write_text(text)
    result = invoke("check", str(PROTOCOL_FILE), str(bad))
    assert result.exit_code == 2
    assert_clean(result)
    assert f"ok: {PROTOCOL_FILE}" in result.stdout
    assert error_lines(result) == [
        f"error: {bad}:{line_of(text, 'cell_per_kg')}: fractions[1].dose.cell_per_kg: "
        "unknown field 'cell_per_kg' (did you mean 'cells_per_kg'?)"
    ]


# --- bad input -----------------------------------------------------------------------------------

BAD_FILES: list[tuple[str, str, str, str]] = [
    # id, text, a needle on the offending line, a piece of the message
    (
        "yaml-syntax",
        PROTOCOL_TEXT.replace("  anchor_day: 0\n", "  anchor_day: [0\n"),
        "infusion_hour: 10",
        "YAML syntax error",
    ),
    (
        "unknown-field",
        PROTOCOL_TEXT.replace(F2_DOSE, "dose: {cell_per_kg: 3.0e5}"),
        "cell_per_kg",
        "fractions[1].dose.cell_per_kg: unknown field 'cell_per_kg' (did you mean",
    ),
    (
        "negative-dose",
        PROTOCOL_TEXT.replace(F2_DOSE, "dose: {cells_per_kg: -3.0e5}"),
        "cells_per_kg: -3.0e5",
        "fractions[1].dose.cells_per_kg: Input should be greater than",
    ),
    (
        "unknown-toxicity",
        PROTOCOL_TEXT.replace(
            "when: crs_grade >= 1 or icans_grade >= 1", "when: cytokine_storm >= 1"
        ),
        "cytokine_storm",
        "gates.safety[1].when: unknown name 'cytokine_storm' at column 1",
    ),
    ("non-utf8", "", "", "not UTF-8 text"),
]


@pytest.mark.parametrize("command", ["run", "check", "explain"])
@pytest.mark.parametrize(
    ("text", "needle", "message"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_file_is_one_clean_error(
    tmp_path: Path, command: str, text: str, needle: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    if text:
        path.write_text(text, encoding="utf-8")
        where = f"{path}:{line_of(text, needle)}:"
    else:
        raw = PROTOCOL_TEXT.encode() + b"\nnote: caf\xe9\n"
        path.write_bytes(raw)
        where = f"{path}:{len(raw.splitlines())}:"
    result = invoke(command, str(path))
    assert result.exit_code == 2, result.output
    assert_clean(result)
    errors = error_lines(result)
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"error: {where}")
    assert message in errors[0]
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["run", "check", "explain"])
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no-such-protocol", "no such file, built-in protocol or scenario"),
        ("cart19-be-03", "no such file, built-in protocol or scenario"),
        ("missing/protocol.yaml", "no such file"),
        ("missing.yml", "no such file"),
    ],
)
def test_missing_protocol(command: str, target: str, message: str) -> None:
    result = invoke(command, target)
    assert result.exit_code == 2, result.output
    assert_clean(result)
    errors = error_lines(result)
    assert errors == [errors[0]]
    assert errors[0].startswith(f"error: {target}: {message}")


def test_missing_protocol_lists_what_is_built_in() -> None:
    (error,) = error_lines(invoke("run", "no-such-protocol"))
    for ident in builtin_ids("protocol"):
        assert ident in error


def test_scenario_with_missing_protocol(tmp_path: Path) -> None:
    text = (builtin_dir("scenario") / "fractionated-no-toxicity.yaml").read_text()
    text = text.replace("protocol: cart19-be-02", "protocol: no-such-protocol")
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    result = invoke("run", str(path))
    assert result.exit_code == 2
    assert_clean(result)
    first, second = error_lines(result)
    line = line_of(text, "protocol: no-such-protocol")
    assert first == f"error: {path}:{line}: protocol: cannot load protocol 'no-such-protocol'"
    assert second.startswith("error: no-such-protocol: no protocol file or built-in protocol")


@pytest.mark.parametrize("command", ["run", "explain"])
@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--weight", "-5", "weight_kg"),
        ("--weight", "0", "weight_kg"),
        ("--weight", "nan", "weight_kg"),
        ("--height", "1000", "height_cm"),
        ("--age", "-1", "age_y"),
        ("--blasts", "101", "marrow_blasts_pct"),
    ],
)
def test_bad_patient_override(command: str, option: str, value: str, field: str) -> None:
    result = invoke(command, "cart19-be-02", option, value)
    assert result.exit_code == 2, result.output
    assert_clean(result)
    (error,) = error_lines(result)
    assert error.startswith(f"error: command line: {field}: ")
    assert value in error


def test_weight_override_applies_to_a_scenario() -> None:
    data = run_json("fractionated-no-toxicity", "--weight", "80")
    assert data["patient"]["weight_kg"] == 80
    assert data["patient"]["age_y"] == 45  # from the scenario
    assert data["ledger"][0]["cells"] == pytest.approx(8.0e6)


def test_weight_override_error_in_a_scenario() -> None:
    result = invoke("run", "fractionated-no-toxicity", "--weight", "-5")
    assert result.exit_code == 2
    assert_clean(result)
    assert re.match(r"error: command line: weight_kg: .*-5", error_lines(result)[0])


def test_a_folder_is_not_a_protocol(tmp_path: Path) -> None:
    result = invoke("run", str(tmp_path))
    assert result.exit_code == 2
    assert_clean(result)
    assert error_lines(result) == [f"error: {tmp_path}: is a folder, not a file"]


def test_scenario_age_override_re_runs_the_scenario_checks(tmp_path: Path) -> None:
    scenario = tmp_path / "ice.yaml"
    scenario.write_text(
        "id: ice\ntitle: t\nsummary: s\nprotocol: cart19-be-02\n"
        "patient: {weight_kg: 40, height_cm: 150, age_y: 30}\n"
        "episodes:\n  - name: icans\n    start: {after: F1, hours: 30}\n"
        "    icans_signs: {ice_score: 5}\n    hours: 24\n"
    )
    assert invoke("run", str(scenario)).exit_code == 0
    young = invoke("run", str(scenario), "--age", "9")
    assert young.exit_code == 2
    assert_clean(young)
    assert "eligibility.age_y" in young.output  # cart19-be-02 is for adults
    forced = invoke("run", str(scenario), "--age", "9", "--force")
    assert forced.exit_code == 2  # --force waives eligibility only, not the other checks
    assert "CAPD" in forced.output


def test_events_with_an_unknown_suffix_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("run", "fractionated-no-toxicity", "--events", str(tmp_path / "out.txt"))
    assert result.exit_code == 2
    assert_clean(result)


def test_the_console_prints_colon_words_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    console().print("reason: hold :fire: until :stop_sign: clears", markup=False)
    assert ":fire:" in capsys.readouterr().out
