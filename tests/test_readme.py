"""The README's examples run as written (executable documentation)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    found = re.findall(r"cartsim ((?:run|explain|check|list|schema)(?![a-z])[^`\n|]*)", README)
    commands = []
    for cmd in found:
        cmd = cmd.strip()
        if "[" in cmd or any(re.fullmatch(r"[A-Z][A-Z0-9]*(\.\.\.)?", tok) for tok in cmd.split()):
            continue  # a synopsis with placeholders (TARGET, PROTOCOL, N ...), not an example
        commands.append(cmd)
    return sorted(set(commands))


def test_readme_has_examples() -> None:
    assert "fractionated-crs-hold" in " ".join(_commands())


def test_readme_starts_with_the_two_fresh_machine_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)
    assert "pip install . && cartsim run" in blocks[0]
    assert 'pip install ".[dev]" && python -m pytest' in blocks[1]


@pytest.mark.parametrize("command", _commands())
def test_readme_command_runs(command: str) -> None:
    result = CliRunner().invoke(app, shlex.split(command))
    assert result.exit_code == 0, result.output
    assert result.output.strip()


def _cohort_examples() -> list[str]:
    """Examples of the cohort, plot, report and export commands (run smaller, see below)."""
    text = README.replace("\\\n", " ")
    found = re.findall(
        r"cartsim ((?:cohort|compare|sweep|paths|plot|report|export)(?![a-z])[^`\n|]*)", text
    )
    commands = []
    for cmd in found:
        cmd = " ".join(cmd.split())
        if "[" in cmd or any(re.fullmatch(r"[A-Z][A-Z0-9]*(\.\.\.)?", tok) for tok in cmd.split()):
            continue
        commands.append(cmd)
    return sorted(set(commands))


def test_readme_has_cohort_examples() -> None:
    verbs = {c.split()[0] for c in _cohort_examples()}
    assert {"compare", "sweep", "paths", "plot", "report", "export"} <= verbs


@pytest.mark.parametrize("command", _cohort_examples())
def test_readme_cohort_example_runs(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As written, except --patients is cut to 12 and --workers to 1 to keep the suite quick;
    output files land in a temporary folder."""
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command)
    for option, small in (("--patients", "12"), ("--workers", "1")):
        if option in args:
            args[args.index(option) + 1] = small
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() or any(tmp_path.iterdir())
