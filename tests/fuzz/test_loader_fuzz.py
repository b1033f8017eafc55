"""Fuzz the loader and ``cartsim check`` with broken copies of the built-in files.

Cases come from :func:`tests.fuzz.mutations.mutated_files` (every built-in protocol and
scenario, one to three mutations each: bytes, lines, values, keys, names, encodings,
nesting, aliases, empty files). Per run of the suite:

* ``LOAD_EXAMPLES`` (600) cases through :func:`sim.spec.load.load_target`: it returns
  a loaded file or raises :class:`sim.errors.InputError` and nothing else; every
  problem names a file, the first one the broken file; when the file parsed as a YAML
  mapping, each of its problems also names a line within the file and a field. A file
  that still loads is then run (its scenario script, or a virtual patient) and must run
  or fail with an input or runaway error.
* ``CLI_EXAMPLES`` (200) cases through ``cartsim check FILE`` (Typer's CliRunner): exit
  0 with ``ok: FILE``, or exit 2 with ``error: FILE:...`` lines on stderr, never a
  traceback.

Each case must finish within ``BUDGET_S`` seconds (hypothesis ``deadline`` too).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import event, given
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError, RunawayError
from sim.spec.load import LoadedScenario, load_target
from sim.spec.yamlio import parse_yaml
from sim.targets import run_target
from tests.fuzz.mutations import mutated_files
from tests.property.profiles import budget

LOAD_EXAMPLES = 600
CLI_EXAMPLES = 200
BUDGET_S = 5.0

Case = tuple[str, bytes, list[str]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _write(folder: Path, case: Case) -> Path:
    name, raw, _ = case
    path = folder / name
    path.write_bytes(raw)
    return path


def _parses_as_mapping(raw: bytes) -> bool:
    try:
        return isinstance(parse_yaml(raw).data, dict)
    except InputError:
        return False


def check_problems(exc: InputError, path: Path, raw: bytes) -> None:
    """Every problem is a clear message: the file, and when it parsed, a line and field."""
    shown = str(path)
    assert exc.problems, "an input error has at least one problem"
    assert exc.problems[0].file == shown, exc.problems
    lines = len(raw.decode("utf-8", "replace").splitlines()) + 1  # \r, \r\n and \n all count
    parsed = _parses_as_mapping(raw)
    for problem in exc.problems:
        assert problem.file and problem.message, problem
        assert "Traceback" not in problem.message
        if problem.file != shown:
            continue  # a scenario's protocol file: its own line numbers
        if parsed:
            assert problem.line is not None and 1 <= problem.line <= lines, problem
            assert problem.field, problem
        elif problem.line is not None:
            assert 1 <= problem.line <= lines, problem


@budget(LOAD_EXAMPLES, deadline_ms=BUDGET_S * 1000)
@given(case=mutated_files())
def test_load_gives_a_clear_error_or_a_file_that_runs(folder: Path, case: Case) -> None:
    path = _write(folder, case)
    start = time.perf_counter()
    try:
        loaded = load_target(str(path))
    except InputError as exc:
        check_problems(exc, path, case[1])
        event("input error")
        return
    finally:
        assert time.perf_counter() - start < BUDGET_S
    event("loaded: scenario" if isinstance(loaded, LoadedScenario) else "loaded: protocol")
    try:
        result = run_target(str(path))
    except (InputError, RunawayError):
        event("run: clean error")
        return
    assert result.events[-1].kind == "end"
    assert time.perf_counter() - start < BUDGET_S


runner = CliRunner()


@budget(CLI_EXAMPLES, deadline_ms=BUDGET_S * 1000)
@given(case=mutated_files())
def test_cartsim_check_exits_cleanly(folder: Path, case: Case) -> None:
    path = _write(folder, case)
    result = runner.invoke(app, ["check", str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 0:
        assert result.stdout == f"ok: {path}\n"
        event("check: ok")
        return
    assert result.exit_code == 2, result.output
    errors = result.stderr.splitlines()
    assert errors and all(line.startswith("error: ") for line in errors), result.stderr
    assert errors[0].startswith(f"error: {path}"), errors[0]
    assert result.stdout == ""
    event("check: error")
