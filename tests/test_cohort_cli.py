"""cohort, compare and calibrate through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.calibration import TargetFile, calibrate
from sim.cli import app
from sim.cohort import CohortSetup, compare
from sim.errors import InputError
from sim.spec.load import load_protocol

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def _json(args: list[str]) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_compare_json_has_arms_metrics_differences_and_run() -> None:
    data = _json(
        ["compare", "cart19-be-02", "msk-19-28z", "--patients", "40", "--seed", "3", "--json"]
    )
    assert data["seed"] == 3
    assert [a["protocol"] for a in data["arms"]] == ["cart19-be-02", "msk-19-28z"]
    for arm in data["arms"]:
        assert arm["n"] == 40
        for slug in (
            "crs_grade3plus_rate",
            "cr_mrd_neg_d28_rate",
            "full_dose_rate",
            "hold_rate",
            "efs_12m",
            "os_12m",
            "peak_copies_median",
        ):
            metric = arm["metrics"][slug]
            assert {"value", "ci_low", "ci_high"} <= set(metric)
    diff = data["differences"][0]
    assert diff["arm"] == "msk-19-28z" and diff["versus"] == "cart19-be-02"
    assert data["run"]["patients"] == 40 and data["run"]["sim_events"] > 40 * 10
    assert data["run"]["wall_s"] >= 0


def test_same_seed_same_results_and_common_random_numbers() -> None:
    a = _json(["cohort", "penn-split", "--patients", "25", "--seed", "11", "--json"])
    b = _json(["cohort", "penn-split", "--patients", "25", "--seed", "11", "--json"])
    assert a["arms"] == b["arms"]
    c = _json(["cohort", "penn-split", "--patients", "25", "--seed", "12", "--json"])
    assert a["arms"] != c["arms"]


def test_cohort_csv_and_table(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    result = runner.invoke(app, ["cohort", "cart19-be-02", "--patients", "20", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "CRS grade >= 3" in result.output and "20 virtual patients" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "protocol,metric,value,ci_low,ci_high,n,method"
    assert any(line.startswith("cart19-be-02,crs_grade3plus_rate,") for line in lines)


def test_fix_covariate_and_bad_fix() -> None:
    ok = _json(
        ["cohort", "msk-19-28z", "--patients", "10", "--fix", "marrow_blasts_pct=2", "--json"]
    )
    assert ok["arms"][0]["metrics"]["cells_per_kg_delivered_median"]["value"] >= 1e6
    bad = runner.invoke(app, ["cohort", "msk-19-28z", "--patients", "5", "--fix", "spleen=3"])
    assert bad.exit_code == 2 and "error: --fix" in bad.output
    assert "Traceback" not in bad.output


def test_unknown_population_is_a_clear_error() -> None:
    bad = runner.invoke(app, ["cohort", "msk-19-28z", "--patients", "5", "--population", "x"])
    assert bad.exit_code == 2 and "unknown population 'x'" in bad.output


def _targets(tmp_path: Path, low: float, high: float) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {
                        "id": "t1",
                        "protocol": "cart19-be-02",
                        "population": "adult-rr-ball",
                        "fixed": {},
                        "published_n": 10,
                        "endpoint": "full_dose_rate",
                        "value": (low + high) / 2,
                        "ci_low": low,
                        "ci_high": high,
                        "tolerance": None,
                        "unit": "fraction",
                        "source": "test",
                        "status": "V",
                        "notes": None,
                    }
                ]
            }
        )
    )
    return path


def test_calibrate_accepts_any_targets_file_and_reports_pass_or_fail(tmp_path: Path) -> None:
    passing = runner.invoke(
        app, ["calibrate", "--targets", str(_targets(tmp_path, 0, 1)), "--patients", "20", "--json"]
    )
    assert passing.exit_code == 0, passing.output
    data = json.loads(passing.output)
    assert data["passed"] == 1 and data["targets"][0]["passes"] is True
    failing = runner.invoke(
        app, ["calibrate", "--targets", str(_targets(tmp_path, 0.0, 0.001)), "--patients", "20"]
    )
    assert failing.exit_code == 1
    assert "FAIL" in failing.output and "0 of 1 targets reproduced" in failing.output


def test_bad_targets_file_names_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("targets:\n  - id: x\n    protocol: cart19-be-02\n    endpoint: cr_rate\n")
    result = runner.invoke(app, ["calibrate", "--targets", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: targets[0].population: required field is missing" in result.output


def _two_cohort_targets() -> TargetFile:
    base = {
        "published_n": 10,
        "value": 0.5,
        "ci_low": 0.0,
        "ci_high": 1.0,
        "unit": "fraction",
        "source": "test",
        "status": "V",
    }
    return TargetFile.model_validate(
        {
            "targets": [
                {
                    **base,
                    "id": "a",
                    "protocol": "cart19-be-02",
                    "population": "adult-rr-ball",
                    "endpoint": "crs_any_rate",
                },
                {
                    **base,
                    "id": "b",
                    "protocol": "msk-19-28z",
                    "population": "adult-rr-ball",
                    "endpoint": "full_dose_rate",
                    "fixed": {"marrow_blasts_pct": 2},
                },
                {
                    **base,
                    "id": "c",
                    "protocol": "cart19-be-02",
                    "population": "adult-rr-ball",
                    "endpoint": "os_12m",
                },
            ]
        }
    )


def test_calibrate_pools_every_cohort_yet_equals_each_cohort_run_alone() -> None:
    """Calibration sends all cohorts' chunks to the workers together; each target must
    still get exactly what `compare` gives its cohort alone, whatever the worker count."""
    targets = _two_cohort_targets()
    serial = calibrate(targets, ROOT, 300, seed=5)
    pooled = calibrate(targets, ROOT, 300, seed=5, workers=2)
    assert serial == pooled
    for row, (protocol, fixed) in zip(
        serial,
        [("cart19-be-02", ()), ("msk-19-28z", (("marrow_blasts_pct", 2),)), ("cart19-be-02", ())],
        strict=True,
    ):
        setup = CohortSetup(population="adult-rr-ball", seed=5, fixed=fixed)
        alone = compare([load_protocol(protocol)], setup, 300).arm_metrics()[0]
        assert row["simulated"] == alone[row["endpoint"]].to_dict()


def test_calibrate_refuses_an_unknown_endpoint_before_simulating(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = _two_cohort_targets().model_dump()
    data["targets"][1]["endpoint"] = "crs_grade9_rate"

    def no_simulation(*args: object, **kwargs: object) -> None:
        raise AssertionError("simulated before checking the endpoints")

    monkeypatch.setattr("sim.workers.run_jobs", no_simulation)
    with pytest.raises(InputError, match="target b: unknown endpoint 'crs_grade9_rate'"):
        calibrate(TargetFile.model_validate(data), ROOT, 10)
