"""Command-line presentation: flags in --help, and the gate variables listed by schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.spec.variables import VARIABLES

runner = CliRunner()
COMMANDS = sorted(
    c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
)
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_command_is_listed() -> None:
    assert {"run", "explain", "schema", "cohort", "plot", "report", "export"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_flags_without_a_value(command: str) -> None:
    text = runner.invoke(app, [command, "--help"]).output
    assert "--help" in text
    assert "<bool>" not in text
    for flag in ("--json", "--quiet", "--help"):
        for line in text.splitlines():
            if line.strip().startswith(flag + " "):
                assert not re.match(rf"\s*{flag}\s+<", line), line


def test_help_still_shows_what_an_option_takes() -> None:
    text = runner.invoke(app, ["run", "--help"]).output
    assert re.search(r"--seed <int", text)
    assert re.search(r"^\s*--json\s+print one JSON object", text, flags=re.M)


def test_schema_lists_every_gate_variable_with_its_meaning() -> None:
    result = runner.invoke(app, ["schema", "--kind", "variables"])
    assert result.exit_code == 0, result.output
    listed = re.findall(r"^  ([a-z_]+)  +(.+)$", result.output, flags=re.M)
    assert [name for name, _ in listed] == list(VARIABLES)
    assert [meaning for _, meaning in listed] == [v.description for v in VARIABLES.values()]
    assert "a grade from 0 to 5; used in conditions, scenario scripts" in result.output


def test_schema_variables_as_json() -> None:
    result = runner.invoke(app, ["schema", "--kind", "variables", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)["variables"]
    assert list(data) == list(VARIABLES)
    assert data["marrow_blasts_pct"]["dose_selection"] is True
    assert data["fever"]["scenario_scripts"] is False
    assert data["crs_grade"]["meaning"] == VARIABLES["crs_grade"].description


def test_every_variable_the_readme_names_is_listed() -> None:
    gates = README.split("**Gates.**", 1)[1].split("\n- **", 1)[0]
    named = re.findall(r"`([a-z_]+)`", gates)
    variables = [n for n in named if n in VARIABLES or n.endswith(("_grade", "_pct"))]
    assert len(variables) > 10
    assert set(variables) <= set(VARIABLES)
    assert "cartsim schema --kind variables" in gates


def test_the_readme_protocol_table_lists_every_built_in_protocol() -> None:
    from sim.spec.load import builtin_ids

    table = README.split("## Built-in protocols", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`([a-z0-9-]+)`", table))
    assert set(builtin_ids("protocol")) <= listed
