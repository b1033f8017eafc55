"""A protocol's population and eligibility: one-patient runs draw from the protocol's own
population, and a patient outside its limits is refused (exit 2) unless forced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from sim.cli import app
from sim.model.parameters import load_parameters
from sim.spec.eligibility import ineligible, protocol_population
from sim.spec.load import builtin_dir, builtin_ids, load_protocol
from sim.spec.protocol import Eligibility, Limits
from sim.spec.scenario import Patient

runner = CliRunner()
CHILD = Patient(weight_kg=30, height_cm=133, age_y=9, cns_disease=True)


def test_chop_cns_runs_a_child_or_young_adult_with_cns_relapse() -> None:
    result = runner.invoke(app, ["run", "chop-cart19-cns", "--json"])
    assert result.exit_code == 0, result.output
    patient = json.loads(result.stdout)["patient"]
    assert patient["age_y"] <= 29
    assert patient["cns_disease"] is True


def test_b019_refuses_an_adult_population_naming_the_rule() -> None:
    result = runner.invoke(app, ["run", "b019", "--population", "adult-rr-ball"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "eligibility.age_y" in result.output
    assert "above the maximum 18 y" in result.output
    assert "--force" in result.output


def test_force_runs_the_ineligible_patient() -> None:
    result = runner.invoke(app, ["run", "b019", "--population", "adult-rr-ball", "--force"])
    assert result.exit_code == 0, result.output
    assert "56.8 y" in result.output


@pytest.mark.parametrize("command", ["explain", "plot", "report", "export"])
def test_every_one_patient_command_checks_eligibility(command: str, tmp_path: Path) -> None:
    extra = {
        "explain": [],
        "plot": ["-o", str(tmp_path / "t.svg")],
        "report": ["-o", str(tmp_path / "r.html")],
        "export": ["--format", "events", "-o", str(tmp_path / "e.csv")],
    }[command]
    refused = runner.invoke(app, [command, "b019", "--population", "adult-rr-ball", *extra])
    assert refused.exit_code == 2, refused.output
    assert "eligibility.age_y: age 56.8 y is above the maximum 18 y" in refused.output
    assert not any(tmp_path.iterdir()), "nothing is written for a refused patient"


def test_an_override_that_breaks_a_required_status_is_refused() -> None:
    result = runner.invoke(app, ["run", "car-dli-ld", "--age", "40"])
    assert result.exit_code == 0, result.output  # post-allo population: prior_allo_hct
    missing = runner.invoke(
        app, ["run", "car-dli-ld", "--population", "adult-rr-ball", "--seed", "1"]
    )
    assert missing.exit_code == 2
    assert "eligibility.require: prior_allo_hct" in missing.output


def test_a_scenario_patient_outside_its_protocol_is_refused_unless_forced() -> None:
    refused = runner.invoke(app, ["run", "single-dose-cns", "--age", "40"])
    assert refused.exit_code == 2
    assert "eligibility.age_y: age 40 y is above the maximum 29 y" in refused.output
    assert runner.invoke(app, ["run", "single-dose-cns", "--age", "40", "--force"]).exit_code == 0


def test_population_is_refused_for_a_scenario() -> None:
    result = runner.invoke(app, ["run", "single-dose-cns", "--population", "adult-rr-ball"])
    assert result.exit_code == 2
    assert "--population" in result.output


@pytest.mark.parametrize("ident", builtin_ids("protocol"))
def test_every_built_in_protocol_declares_a_known_population_and_admits_its_default_patient(
    ident: str,
) -> None:
    protocol = load_protocol(ident).protocol
    assert protocol.population is not None, "every built-in protocol declares its patients"
    assert protocol.population.note, "and says where the limits come from"
    assert protocol_population(protocol) in load_parameters().populations
    result = runner.invoke(app, ["run", ident, "--json"])
    assert result.exit_code == 0, result.output


def test_limits_are_inclusive_and_each_broken_rule_is_named() -> None:
    protocol = load_protocol("chop-cart19-cns").protocol
    assert ineligible(protocol, CHILD) == []
    assert ineligible(protocol, CHILD.model_copy(update={"age_y": 29.0})) == []
    old_no_cns = CHILD.model_copy(update={"age_y": 30.0, "cns_disease": False})
    problems = ineligible(protocol, old_no_cns)
    assert [p.split(":")[0] for p in problems] == ["eligibility.age_y", "eligibility.require"]


def test_limits_and_flags_are_validated() -> None:
    with pytest.raises(ValidationError, match="give min, max or both"):
        Limits()
    with pytest.raises(ValidationError, match="above max"):
        Limits(min=30, max=20)
    with pytest.raises(ValidationError, match="both required and excluded"):
        Eligibility(require=["cns_disease"], exclude=["cns_disease"])


def test_a_bad_population_block_is_a_file_line_field_error(tmp_path: Path) -> None:
    text = (builtin_dir("protocol") / "b019.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("age_y: {max: 18}", "age_y: {max: 18, mx: 3}"), encoding="utf-8")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "population.eligibility.age_y" in result.output
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(text.replace("name: paediatric-ya-ball", "name: martians"), "utf-8")
    run = runner.invoke(app, ["run", str(unknown)])
    assert run.exit_code == 2
    assert "population.name: unknown population 'martians'" in run.output


def test_schema_lists_the_eligibility_fields() -> None:
    result = runner.invoke(app, ["schema", "--kind", "protocol"])
    schema = json.loads(result.stdout)
    assert {"age_y", "weight_kg", "require", "exclude"} <= set(
        schema["$defs"]["Eligibility"]["properties"]
    )


def test_cohort_commands_default_to_the_protocols_population() -> None:
    result = runner.invoke(app, ["cohort", "b019", "--patients", "3", "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["population"] == "paediatric-ya-ball"
    mixed = runner.invoke(app, ["compare", "b019", "cart19-be-02", "--patients", "3"])
    assert mixed.exit_code == 2
    assert "b019: paediatric-ya-ball, cart19-be-02: adult-rr-ball" in mixed.output
    chosen = ["compare", "b019", "cart19-be-02", "--patients", "3", "--json", "--quiet"]
    chosen += ["--population", "adult-rr-ball"]
    picked = runner.invoke(app, chosen)
    assert picked.exit_code == 0, picked.output
    assert json.loads(picked.stdout)["population"] == "adult-rr-ball"
