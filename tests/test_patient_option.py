"""``--patient N``: exactly virtual patient N of the cohort with that seed and population.

Patients are 0-based, as the ``patient`` column of ``cohort --patients-out``. Each command
is checked against the cohort's own files or against the cohort's run of that patient
(:func:`sim.cohort.run_patient_result`), never against itself.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.cohort import CohortSetup, run_patient_result
from sim.model.parameters import load_parameters
from sim.spec.load import load_protocol

runner = CliRunner()
PROTOCOL = "cart19-be-02"
SEED = "3"
POPULATION = "paediatric-ya-ball"
COHORT = ["--seed", SEED, "--population", POPULATION]
N = 4
EXPORT = ["export", "--format", "events", "-o", "x.csv"]


def invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def cohort_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``cohort --patients-out`` and ``--events`` of 6 patients (patients 0..5)."""
    folder = tmp_path_factory.mktemp("cohort")
    patients, events = folder / "patients.csv", folder / "events.csv"
    ok(
        "cohort", PROTOCOL, "--patients", "6", *COHORT, "-q",
        "--patients-out", str(patients), "--events", str(events),
    )  # fmt: skip
    return patients, events


def cohort_result(index: int, population: str = POPULATION, seed: int = int(SEED)) -> Any:
    setup = CohortSetup(population=population, seed=seed, params=load_parameters())
    return run_patient_result(load_protocol(PROTOCOL), setup, index)


@pytest.mark.parametrize("index", [0, N])
def test_export_patient_n_is_row_n_of_patients_out(
    tmp_path: Path, cohort_files: tuple[Path, Path], index: int
) -> None:
    out = tmp_path / "one.csv"
    args = ["--format", "patients", "--patient", str(index), "-o", str(out)]
    ok("export", PROTOCOL, *args, *COHORT)
    (row,) = rows(out)
    cohort_rows = rows(cohort_files[0])
    assert row["patient"] == str(index)
    assert row == cohort_rows[index]
    assert row != cohort_rows[index + 1]


def test_run_patient_n_logs_the_events_of_patient_n_in_the_cohort(
    tmp_path: Path, cohort_files: tuple[Path, Path]
) -> None:
    out = tmp_path / "events.csv"
    ok("run", PROTOCOL, "--patient", str(N), *COHORT, "--events", str(out))
    expected = [r for r in rows(cohort_files[1]) if r["patient"] == str(N)]
    assert len(expected) > 10
    assert rows(out) == expected


def test_run_patient_n_json_names_the_cohort_and_draws_row_n(
    cohort_files: tuple[Path, Path],
) -> None:
    data = json.loads(ok("run", PROTOCOL, "--patient", str(N), *COHORT, "--json").stdout)
    assert data["cohort"] == {"patient": N, "population": POPULATION}
    assert data["seed"] == int(SEED)
    row = rows(cohort_files[0])[N]
    for name, value in data["patient"].items():
        assert str(value).lower() == row[name].lower(), name


def test_export_nonmem_patient_n_has_the_cohort_id(tmp_path: Path) -> None:
    one, many = tmp_path / "one.csv", tmp_path / "many.csv"
    ok("export", PROTOCOL, "--format", "nonmem", "--patient", str(N), "-o", str(one), *COHORT)
    ok("export", PROTOCOL, "--format", "nonmem", "--patients", str(N + 1), "-o", str(many), *COHORT)
    expected = [r for r in rows(many) if r["ID"] == str(N + 1)]
    assert expected and rows(one) == expected


def test_explain_patient_n_tells_the_cohort_run_of_patient_n() -> None:
    from sim.report.explain import explain_lines

    text = ok("explain", PROTOCOL, "--patient", str(N), *COHORT).stdout
    assert text.splitlines() == list(explain_lines(cohort_result(N)))
    assert text != ok("explain", PROTOCOL, "--patient", str(N + 1), *COHORT).stdout


def test_plot_patient_n_draws_the_cohort_run_of_patient_n(tmp_path: Path) -> None:
    from sim.plots.files import figure_bytes
    from sim.plots.timeline import timeline_figure

    out = tmp_path / "t.svg"
    ok("plot", PROTOCOL, "--patient", str(N), *COHORT, "-o", str(out))
    assert out.read_bytes() == figure_bytes(timeline_figure(cohort_result(N)), "svg")


def test_report_patient_n_reports_the_cohort_run_of_patient_n(tmp_path: Path) -> None:
    from sim.report.html import run_report

    out = tmp_path / "r.html"
    ok("report", PROTOCOL, "--patient", str(N), *COHORT, "-o", str(out))
    assert out.read_text(encoding="utf-8") == run_report(cohort_result(N))


def test_fix_and_default_seed_choose_the_cohort(tmp_path: Path) -> None:
    patients, one = tmp_path / "p.csv", tmp_path / "e.csv"
    fix = ["--fix", "marrow_blasts_pct=2"]
    ok("cohort", PROTOCOL, "--patients", "3", *fix, "--patients-out", str(patients), "-q")
    ok("run", PROTOCOL, "--patient", "2", *fix, "--events", str(one))
    data = json.loads(ok("run", PROTOCOL, "--patient", "2", *fix, "--json").stdout)
    assert data["patient"]["marrow_blasts_pct"] == 2
    assert str(data["patient"]["weight_kg"]) == rows(patients)[2]["weight_kg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", PROTOCOL, "--patient", "-1"], "--patient"),
        (["run", PROTOCOL, "--patient", "two"], "--patient"),
        (["run", PROTOCOL, "--patient", "1.5"], "--patient"),
        (["explain", PROTOCOL, "--patient", "10000000"], "--patient"),
        (["run", "fractionated-crs-hold", "--patient", "1"], "is a scenario"),
        (["run", PROTOCOL, "--patient", "1", "--weight", "70"], "--weight"),
        (["run", PROTOCOL, "--patient", "1", "--population", "martians"], "martians"),
        (["run", PROTOCOL, "--population", POPULATION], "eligibility"),
        (["plot", PROTOCOL, "--patient", "1", "--patients", "5", "-o", "x.png"], "--patient"),
        (["report", PROTOCOL, "penn-split", "--patient", "1", "-o", "x.html"], "--patient"),
        ([*EXPORT, PROTOCOL, "--patient", "1", "--patients", "3"], "--patient"),
        ([*EXPORT, "fractionated-crs-hold", "--patient", "1"], "--patient"),
    ],
)
def test_bad_patient_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not any(tmp_path.iterdir()), "no file is written"
