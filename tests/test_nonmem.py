"""``cartsim export --format nonmem``: the realised doses as a NONMEM-style dataset."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.cohort import CohortSetup, run_patient_result
from sim.exports.nonmem import NONMEM_COLUMNS, nonmem_rows
from sim.exports.provenance import read_sidecar, sidecar_path
from sim.records import ledger
from sim.spec.load import load_protocol
from sim.targets import run_target

runner = CliRunner()
REQUIRED = ["ID", "TIME", "EVID", "AMT", "CMT", "MDV", "DV"]
COVARIATES = ["WT", "HT", "AGE", "BSA", "BLAST", "EMD", "CNS", "ALLO", "LD"]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def read_dataset(path: Path) -> list[dict[str, float]]:
    """The dataset as R's read.csv would see it: every cell a number."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [c.name for c in NONMEM_COLUMNS]
        return [{k: float(v) for k, v in row.items()} for row in reader]


def export(tmp_path: Path, *args: str, name: str = "data.csv") -> list[dict[str, float]]:
    out = tmp_path / name
    result = invoke("export", *args, "--format", "nonmem", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return read_dataset(out)


def test_columns_are_the_nonmem_items_in_upper_case_then_covariates() -> None:
    names = [c.name for c in NONMEM_COLUMNS]
    assert names[: len(REQUIRED)] == REQUIRED
    assert set(COVARIATES) <= set(names)
    assert all(n == n.upper() for n in names)
    assert all(c.type in ("int", "float") for c in NONMEM_COLUMNS)  # numeric only


def test_one_run_gives_its_ledger_as_dose_records(tmp_path: Path) -> None:
    rows = export(tmp_path, "fractionated-crs-hold")
    doses = ledger(run_target("fractionated-crs-hold").events)
    t0 = doses[0]["time_h"]
    assert [(r["TIME"], r["AMT"], r["DOSEKG"]) for r in rows] == [
        (d["time_h"] - t0, d["cells"], d["cells_per_kg"]) for d in doses
    ]
    assert [r["TIME"] for r in rows] == [0.0, 24.0, 96.0, 120.0]  # F3 held two days
    assert {(r["ID"], r["EVID"], r["CMT"], r["MDV"], r["DV"]) for r in rows} == {(1, 1, 1, 1, 0)}
    assert [r["FRAC"] for r in rows] == [1, 2, 3, 4] and {r["LD"] for r in rows} == {1}
    patient = run_target("fractionated-crs-hold").patient
    assert {(r["WT"], r["HT"], r["AGE"]) for r in rows} == {
        (patient.weight_kg, patient.height_cm, patient.age_y)
    }


def test_repeat_doses_are_dose_records_too() -> None:
    result = run_target("car-dli-gvhd")
    rows = nonmem_rows(result, 9)
    assert [(r["DOSENO"], r["REPEAT"], r["FRAC"]) for r in rows] == [(1, 0, 1), (2, 1, 1)]
    assert [r["TIME"] for r in rows] == [0.0, 2328.0]  # R1 a week after the day-90 relapse
    assert {r["ID"] for r in rows} == {9}


def test_a_cohort_dataset_matches_each_patients_ledger(tmp_path: Path) -> None:
    n = 12
    args = ["car-dli-ld", "--patients", str(n), "--seed", "5", "--population", "post-allo-relapse"]
    rows = export(tmp_path, *args)
    ids = [int(r["ID"]) for r in rows]
    assert ids == sorted(ids) and set(ids) <= set(range(1, n + 1))
    loaded = load_protocol("car-dli-ld")
    setup = CohortSetup("post-allo-relapse", 5)
    repeats = 0
    for i in range(n):
        doses = ledger(run_patient_result(loaded, setup, i).events)
        mine = [r for r in rows if r["ID"] == i + 1]
        assert len(mine) == len(doses)
        if not doses:
            continue
        times = [r["TIME"] for r in mine]
        assert times == sorted(times) and times[0] == 0.0
        assert [r["AMT"] for r in mine] == [d["cells"] for d in doses]
        assert times == [round(d["time_h"] - doses[0]["time_h"], 6) for d in doses]
        repeats += sum(int(r["REPEAT"]) for r in mine)
    assert repeats > 0  # the cohort exercises CAR-DLI repeat doses
    assert {r["LD"] for r in rows} == {1.0}
    sidecar = read_sidecar(tmp_path / "data.csv")
    assert sidecar["seed"] == 5 and sidecar["patients"] == n
    assert sidecar["population"] == "post-allo-relapse"
    assert sidecar["export_format"] == "nonmem" and sidecar["output"]["rows"] == len(rows)


def test_no_lymphodepletion_is_the_ld_covariate(tmp_path: Path) -> None:
    rows = export(tmp_path, "car-dli-no-ld", "--patients", "3", "--population", "post-allo-relapse")
    assert rows and {r["LD"] for r in rows} == {0.0}


def test_a_patient_without_a_car_t_dose_has_no_records(tmp_path: Path) -> None:
    scenario = tmp_path / "early-crs.yaml"
    scenario.write_text(
        "id: early-crs\ntitle: t\nsummary: s\nprotocol: cart19-be-02\n"
        "patient: {weight_kg: 70, height_cm: 170, age_y: 40}\n"
        "episodes:\n  - name: crs\n    start: {day: -1}\n    set: {crs_grade: 3}\n",
        encoding="utf-8",
    )
    assert not ledger(run_target(str(scenario)).events)
    assert export(tmp_path, str(scenario)) == []
    assert (tmp_path / "data.csv").read_text() == ",".join(c.name for c in NONMEM_COLUMNS) + "\n"


def test_the_same_export_twice_is_byte_identical(tmp_path: Path) -> None:
    args = ("cart19-be-02", "--patients", "4", "--seed", "11")
    export(tmp_path, *args, name="a.csv")
    export(tmp_path, *args, name="b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    first, second = read_sidecar(tmp_path / "a.csv"), read_sidecar(tmp_path / "b.csv")
    assert first["output"]["sha256"] == second["output"]["sha256"]
    assert sidecar_path(tmp_path / "a.csv").exists()


@pytest.mark.parametrize("target", ["cart19-be-02", "fractionated-no-toxicity"])
def test_export_prints_one_summary_line(tmp_path: Path, target: str) -> None:
    out = tmp_path / "d.csv"
    result = invoke("export", target, "--format", "nonmem", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote 4 rows (nonmem) from 1 run to ")
    assert "d.csv.provenance.json" in result.output
