"""The Python API (sim/api.py): the public surface, equality with the commands' --json,
patient N of a cohort, protocols written in Python, DataFrames and Jupyter display."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.cli import app
from sim.report.trace import dumps

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _cli_json(*args: str) -> object:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_public_surface_is_pinned() -> None:
    """Removing or renaming a public name is a breaking change: this list changes with it."""
    assert sim.__all__ == [
        "Calendar",
        "Calibration",
        "Cohort",
        "DoseAmount",
        "Drug",
        "FollowUp",
        "Fraction",
        "GateRule",
        "InputError",
        "Lymphodepletion",
        "Paths",
        "Patient",
        "Problem",
        "Product",
        "Protocol",
        "Run",
        "Scenario",
        "Source",
        "Sweep",
        "__version__",
        "calibrate",
        "compare",
        "decision_paths",
        "load",
        "protocol",
        "run",
        "run_cohort",
        "sweep",
    ]
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name
    assert sim.run.__doc__ and sim.Run.events.__doc__
    with pytest.raises(AttributeError, match="no attribute 'nonesuch'"):
        _ = sim.nonesuch  # type: ignore[attr-defined]


def test_import_sim_stays_cheap() -> None:
    """The command line imports sim: the API, pandas and the engine load on first use."""
    code = (
        "import sys, sim; "
        "print(sorted(m for m in ('sim.api', 'pandas', 'simpy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (["fractionated-crs-hold"], {}),
        (["fractionated-crs-stop", "--seed", "4", "--weight", "60"], {"seed": 4, "weight": 60}),
        (
            ["cart19-be-02", "--seed", "3", "--age", "30", "--blasts", "12"],
            {"seed": 3, "age": 30, "blasts": 12},
        ),
    ],
)
def test_run_to_json_is_the_cli_json(args: list[str], kwargs: dict[str, float]) -> None:
    result = CliRunner().invoke(app, ["run", *args, "--json"])
    assert result.exit_code == 0, result.output
    r = sim.run(args[0], **kwargs)  # type: ignore[arg-type]
    assert dumps(r.to_json()) + "\n" == result.output
    loaded = sim.run(sim.load(args[0]), **kwargs)  # type: ignore[arg-type]
    assert loaded.to_json() == r.to_json()


def test_run_tables_are_dataframes_of_the_log() -> None:
    r = sim.run("fractionated-crs-hold")
    events = r.events
    assert isinstance(events, pd.DataFrame)
    assert len(events) == len(r.result.events)
    assert list(events["kind"]) == [e.kind for e in r.result.events]
    assert str(events["day"].dtype) == "Int64" and str(events["time_h"].dtype) == "float64"
    schedule = r.schedule.set_index("fraction")
    assert schedule.loc["F3", "held_h"] == 48.0 and schedule.loc["F3", "status"] == "given"
    held = r.decisions.query("action == 'delay'")
    assert set(held["fraction"]) == {"F3"} and len(held) > 0
    assert list(r.ledger["fraction"]) == ["F1", "F2", "F3", "F4"]
    assert r.metrics.loc[0, "holds"] == 1
    assert r.outcomes.loc[0, "protocol"] == "cart19-be-02-resume"


def test_patient_n_is_that_patient_of_the_cohort() -> None:
    """sim.run(patient=i) is virtual patient i of the cohort with the same seed, population
    and fixed covariates: the same covariates, and with the cohort's follow-up the same
    outcome row as the cohort's patient table."""
    fix = {"marrow_blasts_pct": 2.0}
    c = sim.run_cohort("cart19-be-02", patients=6, seed=5, population="paediatric-ya-ball", fix=fix)
    table = c.patients
    assert list(table["patient"]) == list(range(6))
    for i in (0, 4):
        one = sim.run(
            "cart19-be-02",
            patient=i,
            seed=5,
            population="paediatric-ya-ball",
            fix=fix,
            horizon_day=760,
            force=True,  # children, outside cart19-be-02's eligibility: cohorts are not screened
        )
        pd.testing.assert_frame_equal(
            one.outcomes, table.iloc[[i]].reset_index(drop=True), check_exact=True
        )
    # patient 4 is not patient 0; and the protocol's own horizon keeps the same person
    short = sim.run(
        "cart19-be-02", patient=4, seed=5, population="paediatric-ya-ball", fix=fix, force=True
    )
    assert short.patient == one.patient
    other = sim.run("cart19-be-02", seed=5, population="paediatric-ya-ball", force=True)
    assert short.patient != other.patient


def test_cohort_and_compare_to_json_are_the_cli_json() -> None:
    args = ["--patients", "8", "--seed", "2", "--json", "--no-timing"]
    cli = _cli_json("compare", "cart19-be-02", "penn-split", *args)
    c = sim.compare(["cart19-be-02", "penn-split"], patients=8, seed=2)
    assert c.to_json(timing=False) == cli
    assert "wall_s" in c.to_json()["run"]
    one = sim.run_cohort("penn-split", patients=8, seed=2, fix={"weight_kg": 70})
    cli_one = _cli_json("cohort", "penn-split", *args, "--fix", "weight_kg=70")
    assert one.to_json(timing=False) == cli_one


def test_cohort_tables() -> None:
    c = sim.compare(["cart19-be-02", "penn-split"], patients=5, seed=1, keep_events=True)
    metrics = c.metrics
    assert set(metrics["protocol"]) == {"cart19-be-02", "penn-split"}
    full = metrics.set_index(["protocol", "metric"]).loc[("penn-split", "full_dose_rate")]
    data = c.to_json(timing=False)
    assert full["value"] == data["arms"][1]["metrics"]["full_dose_rate"]["value"]
    diffs = c.differences
    assert set(diffs["arm"]) == {"penn-split"} and set(diffs["versus"]) == {"cart19-be-02"}
    patients = c.patients
    assert len(patients) == 10 and patients["weight_kg"].notna().all()
    events = c.events
    assert set(events["patient"]) == set(range(5)) and set(events["protocol"]) == {
        "cart19-be-02",
        "penn-split",
    }
    lean = sim.run_cohort("penn-split", patients=3, keep_patients=False)
    with pytest.raises(ValueError, match="keep_patients=True"):
        _ = lean.patients


def test_sweep_to_json_is_the_cli_json() -> None:
    setting = "fractions.1.min_interval_h=24,48"
    args = ["--patients", "6", "--json", "--no-timing"]
    cli = _cli_json("sweep", "cart19-be-02", "--set", setting, *args)
    from_strings = sim.sweep("cart19-be-02", [setting], patients=6)
    from_mapping = sim.sweep("cart19-be-02", {"fractions.1.min_interval_h": [24, 48]}, patients=6)
    assert from_strings.to_json(timing=False) == cli
    assert from_mapping.to_json(timing=False) == cli
    table = from_mapping.table
    assert list(table.index) == [v["variant"] for v in cli["variants"]]  # type: ignore[index]


def test_paths_to_json_is_the_cli_json() -> None:
    cli = _cli_json("paths", "cart19-be-02", "--patients", "10", "--seed", "3", "--json")
    p = sim.decision_paths("cart19-be-02", patients=10, seed=3)
    assert p.to_json() == cli
    table = p.table
    roots = table[table["depth"] == 0]
    assert roots["patients"].sum() == 10
    assert "F1" in str(p)


def test_calibrate_to_json_is_the_cli_json(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "targets:\n"
        "  - {id: t1, protocol: cart19-be-02, population: adult-rr-ball, endpoint: "
        "full_dose_rate, value: 0.8, tolerance: {abs: 0.2}, unit: fraction, source: test, "
        "status: S}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["calibrate", "--targets", str(targets), "--patients", "6", "--json"]
    )
    assert result.exit_code in (0, 1), result.output
    cal = sim.calibrate(targets=targets, patients=6)
    assert cal.to_json() == json.loads(result.output)
    assert list(cal.table["id"]) == ["t1"]


def _python_protocol() -> sim.Protocol:
    gate = sim.GateRule(
        name="crs",
        when="crs_grade >= 1",
        action="delay",
        recheck_h=12,
        max_wait_h=168,
        on_timeout="stop",
    )
    return sim.Protocol(
        id="two-gated-steps",
        title="Two gated steps (test)",
        summary="Two fractions 3 days apart, the second held while CRS lasts",
        source=sim.Source(trial="test", citation="none", status="assumed"),
        product=sim.Product(name="CD19 CAR-T", kind="autologous"),
        gates={"safety": [gate]},
        fractions=[
            sim.Fraction(id="F1", day=0, dose=sim.DoseAmount(cells_per_kg=1e5)),
            sim.Fraction(
                id="F2", min_interval_h=72, dose=sim.DoseAmount(cells_per_kg=9e5), use_gate="safety"
            ),
        ],
        follow_up=sim.FollowUp(horizon_day=28),
    )


def test_a_protocol_written_in_python_runs_like_its_file(tmp_path: Path) -> None:
    import yaml

    mine = _python_protocol()
    loaded = sim.protocol(mine)
    assert loaded.origin == "<python>"
    r = sim.run(mine, patient=2, seed=1)
    assert r.to_json()["protocol"]["hash"] == loaded.hash
    # the same protocol written to a file gives the same run
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(mine.model_dump(mode="json")), encoding="utf-8")
    from_file = sim.run(str(path), patient=2, seed=1)
    assert from_file.to_json()["events"] == r.to_json()["events"]
    # a plain dict of its fields too, and variants made with model_copy
    assert sim.protocol(mine.model_dump(mode="json")).hash == loaded.hash
    sweep = sim.sweep(mine, {"fractions.1.dose.cells_per_kg": [3e5, 9e5]}, patients=4)
    assert [v["variant"] for v in sweep.to_json()["variants"]] == [
        "fractions.1.dose.cells_per_kg=300000.0",
        "fractions.1.dose.cells_per_kg=900000.0",
    ]


def test_bad_input_is_an_input_error_naming_the_field() -> None:
    mine = _python_protocol()
    bad = mine.model_copy(update={"fractions": [*mine.fractions[:1], mine.fractions[0]]})
    with pytest.raises(sim.InputError, match=r"<python>: fractions"):
        sim.protocol(bad)
    data = mine.model_dump(mode="json")
    data["fractions"][0]["dose"] = {"cells_per_kg": -1}
    with pytest.raises(sim.InputError, match=r"fractions\[0\]\.dose\.cells_per_kg"):
        sim.run(data)
    with pytest.raises(sim.InputError, match="fix: 'weight' is not a covariate"):
        sim.run_cohort("cart19-be-02", patients=2, fix={"weight": 70})
    with pytest.raises(sim.InputError, match="patient: applies to protocols"):
        sim.run("fractionated-crs-hold", patient=3)
    with pytest.raises(sim.InputError, match="is a scenario"):
        sim.run_cohort("fractionated-crs-hold", patients=2)
    with pytest.raises(sim.InputError, match="nonesuch"):
        sim.run("nonesuch")
    with pytest.raises(sim.InputError, match="patients: from 1"):
        sim.run_cohort("cart19-be-02", patients=0)
    with pytest.raises(sim.InputError, match=r"--set fractions\.9\.day"):
        sim.sweep("cart19-be-02", {"fractions.9.day": [1]}, patients=2)
    with pytest.raises(TypeError, match="list of protocols"):
        sim.compare("cart19-be-02", patients=2)


def test_dataframes_without_pandas_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    r = sim.run("fractionated-crs-hold")
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ImportError, match=re.escape('pip install "cartsim[pandas]"')):
        _ = r.events
    assert r.to_json()["schedule"]  # the rest works without pandas


def test_jupyter_display() -> None:
    html = sim.run("fractionated-crs-hold")._repr_html_()
    assert html.count("<svg") == 1 and "F3" in html and "2 days" in html
    assert "crs-or-icans" in html  # the hold and its rule
    two = sim.run("fractionated-crs-stop")._repr_html_()
    ids = set(re.findall(r'<figure id="([^"]+)"', html + two))
    assert len(ids) == 2  # each figure shown gets its own SVG ids
    c = sim.compare(["cart19-be-02", "penn-split"], patients=4)
    table = c._repr_html_()
    assert "cart19-be-02 (n = 4)" in table and "penn-split minus cart19-be-02" in table
    assert "<table" in sim.decision_paths("penn-split", patients=4)._repr_html_()
    assert "<table" in sim.sweep("penn-split", ["fractions.1.day=1,2"], patients=2)._repr_html_()


def test_readme_python_section_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README's Python section, executed as written (cohorts cut to 12 patients)."""
    section = README.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's Python section has no python block"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        code = re.sub(r"patients=\d+", "patients=12", block)
        exec(compile(code, "README.md (Python)", "exec"), {"__name__": "readme"})
