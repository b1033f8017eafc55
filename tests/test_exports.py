"""Exports: tidy event tables (CSV, JSON lines, Parquet), patient tables, atomic writes and
provenance sidecars."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from sim import __version__
from sim.cli import app
from sim.cohort import CohortSetup, run_patient, run_patient_result
from sim.engine.run import RunResult
from sim.errors import InputError
from sim.exports.atomic import atomic_bytes, atomic_text
from sim.exports.events import EVENT_COLUMNS, event_rows, write_events
from sim.exports.nonmem import NONMEM_COLUMNS
from sim.exports.patients import PATIENT_COLUMNS, patient_row
from sim.exports.provenance import (
    PARQUET_KEY,
    current_command,
    provenance,
    read_sidecar,
    sidecar_path,
    write_output,
    write_text_output,
)
from sim.exports.tables import Column, TableWriter
from sim.outcomes import patient_outcomes
from sim.records import decisions, ledger
from sim.spec.load import builtin_ids, load_protocol
from sim.targets import run_target

runner = CliRunner()
COMMAND = "cartsim test-command --seed 1"
FORMATS = (".csv", ".jsonl", ".parquet")


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def decode_csv(path: Path, columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    """CSV cells back to typed values, by the declared column types."""
    kinds = {c.name: c.type for c in columns}

    def value(name: str, text: str) -> Any:
        if text == "":
            return None
        kind = kinds[name]
        if kind == "float":
            return float(text)
        if kind == "int":
            return int(text)
        if kind == "bool":
            assert text in ("true", "false")
            return text == "true"
        return text

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [c.name for c in columns]
        return [{k: value(k, v) for k, v in row.items()} for row in reader]


def read_back(path: Path, columns: tuple[Column, ...]) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        return decode_csv(path, columns)
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    table = pq.read_table(path)
    assert table.schema.names == [c.name for c in columns]
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


@pytest.fixture(scope="module")
def crs_hold() -> RunResult:
    return run_target("fractionated-crs-hold")


# --- the event table -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_event_table_round_trips_and_matches_the_log(
    tmp_path: Path, crs_hold: RunResult, suffix: str
) -> None:
    path = tmp_path / f"events{suffix}"
    write_events(crs_hold, path, command=COMMAND)
    rows = read_back(path, EVENT_COLUMNS)
    assert len(rows) == len(crs_hold.events)
    assert all(list(r) == [c.name for c in EVENT_COLUMNS] for r in rows)
    assert [(r["time_h"], r["day"], r["kind"]) for r in rows] == [
        (e.time_h, e.day, e.kind) for e in crs_hold.events
    ]
    doses = [r for r in rows if r["kind"] == "infusion"]
    assert [(r["time_h"], r["fraction"], r["cells"], r["cells_per_kg"]) for r in doses] == [
        (d["time_h"], d["fraction"], d["cells"], d["cells_per_kg"]) for d in ledger(crs_hold.events)
    ]
    gates = [r for r in rows if r["kind"] == "gate"]
    expected = decisions(crs_hold.events)
    assert [(g["time_h"], g["action"], g["rule"], g["reason"]) for g in gates] == [
        (d["time_h"], d["action"], d["rule"], d["reason"]) for d in expected
    ]
    assert [json.loads(g["state"]) for g in gates] == [d["state"] for d in expected]
    assert {r["protocol"] for r in rows} == {"cart19-be-02-resume"}
    assert all(r["patient"] is None for r in rows)


def test_the_three_formats_hold_the_same_table(tmp_path: Path, crs_hold: RunResult) -> None:
    tables = []
    for suffix in FORMATS:
        path = tmp_path / f"events{suffix}"
        write_events(crs_hold, path, command=COMMAND, patient_index=7)
        tables.append(read_back(path, EVENT_COLUMNS))
    assert tables[0] == tables[1] == tables[2]
    assert {r["patient"] for r in tables[0]} == {7}


def cohort_runs() -> Iterator[tuple[int, RunResult]]:
    """Patients of every built-in protocol (repeat doses, LD, procedures, deaths...)."""
    for ident in builtin_ids("protocol"):
        loaded = load_protocol(ident)
        population = "post-allo-relapse" if ident.startswith("car-dli") else "adult-rr-ball"
        setup = CohortSetup(population, 3)
        for i in range(4):
            yield i, run_patient_result(loaded, setup, i)


def test_every_field_of_every_built_in_run_has_a_column() -> None:
    kinds: set[str] = set()
    runs = [run_target(t) for t in builtin_ids("scenario") + builtin_ids("protocol")]
    for result in runs + [r for _, r in cohort_runs()]:
        for row in event_rows(result):
            kinds.add(row["kind"])
    assert {"infusion", "gate", "hold", "resume", "state_change", "ld_dose"} <= kinds
    assert {"repeat_phase", "procedure", "assessment", "kinetics", "ld_expired"} <= kinds


def test_run_events_option_writes_parquet_with_provenance(tmp_path: Path) -> None:
    out = tmp_path / "run.parquet"
    result = invoke("run", "fractionated-crs-hold", "--events", str(out))
    assert result.exit_code == 0, result.output
    assert files_in(tmp_path) == ["run.parquet", "run.parquet.provenance.json"]
    table = pq.read_table(out)
    assert table.num_rows == len(run_target("fractionated-crs-hold").events)
    embedded = json.loads(table.schema.metadata[PARQUET_KEY])
    sidecar = read_sidecar(out)
    assert embedded == {k: v for k, v in sidecar.items() if k != "output"}
    assert sidecar["scenario"] == "fractionated-crs-hold"


def test_run_events_csv_is_the_tidy_table(tmp_path: Path) -> None:
    out = tmp_path / "run.csv"
    assert invoke("run", "fractionated-crs-hold", "--events", str(out)).exit_code == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == tuple(c.name for c in EVENT_COLUMNS)
    assert read_sidecar(out)["output"]["rows"] == len(rows)


# --- provenance ------------------------------------------------------------------------------


def test_provenance_names_version_seed_protocol_hash_and_command(
    tmp_path: Path, crs_hold: RunResult
) -> None:
    path = tmp_path / "events.jsonl"
    write_events(crs_hold, path, command=COMMAND)
    record = read_sidecar(path)
    assert record["cartsim_version"] == __version__
    assert record["command"] == COMMAND
    assert record["seed"] == crs_hold.seed == 2
    assert record["protocols"] == [
        {"id": "cart19-be-02-resume", "hash": load_protocol("cart19-be-02-resume").hash}
    ]
    assert record["scenario"] == "fractionated-crs-hold"
    assert set(record["environment"]) >= {"python", "numpy", "simpy"}
    output = record["output"]
    assert output["file"] == "events.jsonl" and output["format"] == "jsonl"
    assert output["rows"] == len(crs_hold.events)
    assert output["columns"] == [c.name for c in EVENT_COLUMNS]
    assert output["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not any("time" in key for key in record)  # no wall clock


def test_provenance_rejects_replacing_standard_keys_and_non_json() -> None:
    with pytest.raises(ValueError, match="seed"):
        provenance(COMMAND, seed=1, protocols=[], extra={"seed": 2})
    with pytest.raises(ValueError):
        provenance(COMMAND, seed=1, protocols=[], extra={"x": float("nan")})


def test_current_command_never_records_a_path() -> None:
    assert current_command(["/usr/local/bin/cartsim", "run", "a b"]) == "cartsim run 'a b'"
    assert current_command(["/x/y/fit_model.py", "--write"]) == "fit_model.py --write"


def test_sidecar_for_files_written_otherwise(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    record = provenance(COMMAND, seed=5, protocols=[("p", "abc")])
    write_text_output(report, '{"a": 1}\n', record, file_format="json")
    assert json.loads(report.read_text()) == {"a": 1}
    assert (
        read_sidecar(report)["output"]["sha256"] == hashlib.sha256(report.read_bytes()).hexdigest()
    )
    picture = tmp_path / "plot.png"
    write_output(picture, b"\x89PNG", record, file_format="png")
    assert sidecar_path(picture).is_file()
    assert read_sidecar(picture)["output"]["format"] == "png"


@pytest.mark.parametrize("suffix", FORMATS)
def test_same_command_gives_byte_identical_files(tmp_path: Path, suffix: str) -> None:
    outputs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        out = folder / f"events{suffix}"
        result = invoke("run", "cart19-be-02", "--seed", "4", "--events", str(out))
        assert result.exit_code == 0, result.output
        outputs.append((out.read_bytes(), sidecar_path(out).read_bytes()))
    assert outputs[0] == outputs[1]


# --- atomic writes ---------------------------------------------------------------------------


class Boom(Exception):
    pass


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_failed_table_leaves_nothing_behind(
    tmp_path: Path, suffix: str, error: type[BaseException]
) -> None:
    path = tmp_path / f"t{suffix}"
    with pytest.raises(error), TableWriter(path, ["a", "b"], {}, batch_rows=2) as writer:
        for i in range(5):  # two batches flushed to the temporary file
            writer.write({"a": i, "b": "x"})
        raise error()
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_failed_table_leaves_an_existing_file_intact(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    path.write_bytes(b"old")
    sidecar_path(path).write_text("old sidecar")
    with pytest.raises(Boom), TableWriter(path, ["a"], {}, batch_rows=1) as writer:
        writer.write({"a": 1.5})
        writer.write({"a": 2.5})
        raise Boom()
    assert path.read_bytes() == b"old"
    assert sidecar_path(path).read_text() == "old sidecar"
    assert files_in(tmp_path) == sorted([path.name, sidecar_path(path).name])


def test_a_bug_in_a_row_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with pytest.raises(ValueError, match="not columns"), TableWriter(path, ["a"], {}) as writer:
        writer.write({"a": 1, "b": 2})
    with pytest.raises(TypeError, match="'a'"), TableWriter(path, ["a"], {}, batch_rows=1) as w:
        w.write({"a": 1})
        w.write({"a": "one"})  # the first batch made 'a' an int column
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("opener", [atomic_text, atomic_bytes])
def test_atomic_files_replace_on_success_and_keep_the_old_on_failure(
    tmp_path: Path, opener: Any
) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    payload: Any = "new" if opener is atomic_text else b"new"
    with pytest.raises(KeyboardInterrupt), opener(path) as fh:
        fh.write(payload)
        raise KeyboardInterrupt
    assert path.read_text() == "old" and files_in(tmp_path) == ["f.txt"]
    with opener(path) as fh:
        fh.write(payload)
    assert path.read_text() == "new" and files_in(tmp_path) == ["f.txt"]


def test_bad_destinations_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"out\.txt.*\.csv, \.jsonl, \.parquet"):
        TableWriter(tmp_path / "out.txt", ["a"], {}, option="--events")
    with pytest.raises(InputError, match="no such folder"):
        TableWriter(tmp_path / "nope" / "out.csv", ["a"], {})
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"not a regular file \(a folder\)"):
        TableWriter(tmp_path / "dir.csv", ["a"], {})
    assert files_in(tmp_path) == ["dir.csv"]


# --- table writer details --------------------------------------------------------------------


def test_parquet_streams_in_batches_and_types_none_only_columns(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    columns = [Column("n", "int"), Column("x", "float"), "flag", "empty"]
    with TableWriter(path, columns, {"k": 1}, batch_rows=10) as writer:
        for i in range(35):
            writer.write({"n": i, "x": i / 4, "flag": i % 2 == 0})
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 4 and meta.num_rows == 35
    table = pq.read_table(path)
    assert [str(t) for t in table.schema.types] == ["int64", "double", "bool", "string"]
    assert table.column("empty").null_count == 35
    assert table.column("x").to_pylist()[:3] == [0.0, 0.25, 0.5]


def test_csv_and_json_cells_are_typed_and_deterministic(tmp_path: Path) -> None:
    columns = [Column("i", "int"), Column("f", "float"), Column("b", "bool"), Column("s", "str")]
    rows = [{"i": 3.0, "f": 2, "b": True, "s": 'a,"b"'}, {"f": 0.1 + 0.2, "b": False}]
    for suffix in (".csv", ".jsonl"):
        with TableWriter(tmp_path / f"t{suffix}", columns, {}) as writer:
            writer.write_all(rows)
    assert (tmp_path / "t.csv").read_text() == (
        'i,f,b,s\n3,2.0,true,"a,""b"""\n,0.30000000000000004,false,\n'
    )
    assert (tmp_path / "t.jsonl").read_text() == (
        '{"i":3,"f":2.0,"b":true,"s":"a,\\"b\\""}\n'
        '{"i":null,"f":0.30000000000000004,"b":false,"s":null}\n'
    )
    with (
        pytest.raises(ValueError, match="finite"),
        TableWriter(tmp_path / "n.csv", columns, {}) as w,
    ):
        w.write({"f": float("inf")})


# --- the per-patient table -------------------------------------------------------------------


def test_patient_rows_from_either_form_agree_and_round_trip(tmp_path: Path) -> None:
    loaded = load_protocol("car-dli-ld")
    setup = CohortSetup("post-allo-relapse", 0)
    rows = []
    for i in range(6):
        result = run_patient_result(loaded, setup, i)
        row = patient_row(loaded.protocol.id, i, result.patient, patient_outcomes(result.events))
        cohort_row, _ = run_patient(loaded, setup, i)
        assert patient_row(loaded.protocol.id, i, result.patient, cohort_row) == row
        flat = {"protocol": "car-dli-ld", "patient": i, **result.patient.model_dump(mode="json")}
        assert patient_row({**flat, **patient_outcomes(result.events)}) == row
        rows.append(row)
    assert any(r["repeat_doses_given"] for r in rows)
    for suffix in FORMATS:
        path = tmp_path / f"patients{suffix}"
        with TableWriter(path, PATIENT_COLUMNS, {}) as writer:
            writer.write_all(rows)
        assert read_back(path, PATIENT_COLUMNS) == rows


def test_patient_row_refuses_fields_without_a_column() -> None:
    result = run_target("cart19-be-02")
    outcomes = patient_outcomes(result.events)
    with pytest.raises(ValueError, match="surprise"):
        patient_row("cart19-be-02", 0, result.patient, {**outcomes, "surprise": 1})
    del outcomes["os_days"]
    with pytest.raises(ValueError, match="os_days"):
        patient_row("cart19-be-02", 0, result.patient, outcomes)


def test_export_patients_and_events_for_a_cohort(tmp_path: Path) -> None:
    out = tmp_path / "patients.parquet"
    args = ["cart19-be-02", "--patients", "5", "--seed", "2", "-o"]
    result = invoke("export", *args[:1], "--format", "patients", *args[1:], str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pylist()
    assert [r["patient"] for r in table] == [0, 1, 2, 3, 4]
    setup = CohortSetup("adult-rr-ball", 2)
    first = run_patient_result(load_protocol("cart19-be-02"), setup, 0)
    assert table[0]["weight_kg"] == first.patient.weight_kg
    assert read_sidecar(out)["patients"] == 5
    events = tmp_path / "events.csv"
    result = invoke("export", *args[:1], "--format", "events", *args[1:], str(events))
    assert result.exit_code == 0, result.output
    rows = decode_csv(events, EVENT_COLUMNS)
    assert sorted({r["patient"] for r in rows}) == [0, 1, 2, 3, 4]
    assert sum(r["kind"] == "infusion" for r in rows if r["patient"] == 0) == len(
        ledger(first.events)
    )


def test_every_column_is_documented() -> None:
    text = (Path(__file__).parent.parent / "docs" / "exports.md").read_text(encoding="utf-8")
    for columns in (EVENT_COLUMNS, PATIENT_COLUMNS, NONMEM_COLUMNS):
        for column in columns:
            assert f"| `{column.name}` | {column.type} | {column.doc} |" in text, column.name


# --- bad input -------------------------------------------------------------------------------


EXPORT = "export cart19-be-02 --format"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("run fractionated-no-toxicity --events {dir}/out.txt", "out.txt"),
        (f"{EXPORT} events -o {{dir}}/out.xlsx", "out.xlsx"),
        (f"{EXPORT} nonmem -o {{dir}}/d.parquet", "d.parquet"),
        (f"{EXPORT} sas -o {{dir}}/d.csv", "nonmem, events"),
        (f"{EXPORT} nonmem -o {{dir}}/x/d.csv", "no such folder"),
        (f"{EXPORT} nonmem -o {{dir}}/d.csv --patients 2 --population martians", "martians"),
        ("export fractionated-crs-hold --format nonmem -o {dir}/d.csv --patients 3", "scenario"),
    ],
)
def test_bad_exports_exit_2_with_one_clear_message(
    tmp_path: Path, command: str, expected: str
) -> None:
    result = invoke(*command.replace("{dir}", str(tmp_path)).split())
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], result.output
    assert files_in(tmp_path) == []
