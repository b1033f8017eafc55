"""Input safety: safe YAML, no eval, scenario paths that stay put, limits on absurd input.

* YAML tags that would construct objects are refused with a message (never built);
* no module of ``sim`` calls ``eval``/``exec``/``compile``/``__import__``, unsafe YAML
  loaders or ``pickle``/``marshal`` loads (an AST scan of the source);
* a scenario names its protocol by a built-in id or a path relative to the scenario
  that stays inside the scenario's folder (subfolders fine; absolute paths, ``..`` out
  of the folder and links pointing out are refused with file, line and field);
* devices and pipes are refused before they are read (``/dev/zero`` used to read
  forever), deep flow nesting is refused before PyYAML's scanner slows down, and an
  alias bomb is refused without expanding it;
* absurd but valid requests get a clear limit: study days beyond +/-100 years (a huge
  day number used to crash the run with ``OverflowError``), a 100-year horizon, more
  than 500 scenario episodes or 100 rules in a gate, 10^9 virtual patients; the
  largest horizon allowed runs quickly, and a delay that would re-check for ever stops at
  the gate-check guard (exit code 3) within seconds.
"""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError, Problem
from sim.spec import yamlio
from sim.spec.load import builtin_dir, load_target
from sim.spec.yamlio import MAX_DEPTH, parse_yaml
from sim.targets import run_target

runner = CliRunner()
SIM = Path(__file__).resolve().parents[2] / "sim"
PROTOCOL = (builtin_dir("protocol") / "cart19-be-02.yaml").read_text(encoding="utf-8")
SCENARIO = (builtin_dir("scenario") / "fractionated-crs-hold.yaml").read_text(encoding="utf-8")


def problems(path: Path) -> list[Problem]:
    with pytest.raises(InputError) as exc:
        load_target(str(path))
    return list(exc.value.problems)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# --- YAML is loaded safely, and nothing reaches eval -------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/object:collections.OrderedDict {}",
        "!!python/object/new:subprocess.Popen [['true']]",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_python_tags_are_refused_with_a_message(tmp_path: Path, value: str) -> None:
    text = PROTOCOL.replace("title: ", f"title: {value} #", 1)
    path = tmp_path / "tagged.yaml"
    path.write_text(text, encoding="utf-8")
    (problem,) = problems(path)
    assert (problem.file, problem.line) == (str(path), line_of(text, "title:"))
    assert "tag" in problem.message or "constructor" in problem.message
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}:")


def _calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in ("eval", "exec", "compile", "__import__"):
                found.append((node.lineno, fn.id))
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                name = f"{fn.value.id}.{fn.attr}"
                unsafe_yaml = fn.value.id == "yaml" and fn.attr in (
                    "load",
                    "load_all",
                    "unsafe_load",
                    "unsafe_load_all",
                    "full_load",
                    "full_load_all",
                )
                if unsafe_yaml or fn.value.id in ("pickle", "marshal", "shelve", "dill"):
                    found.append((node.lineno, name))
        if isinstance(node, ast.Attribute) and node.attr in ("UnsafeLoader", "FullLoader"):
            found.append((node.lineno, node.attr))
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "Loader"
            and isinstance(node.value, ast.Name)
            and node.value.id == "yaml"
        ):
            found.append((node.lineno, "yaml.Loader"))
    return found


def test_no_module_evaluates_or_unpickles_input() -> None:
    files = sorted(SIM.rglob("*.py"))
    assert len(files) > 30
    offenders = {
        str(f.relative_to(SIM)): calls
        for f in files
        if (calls := _calls(ast.parse(f.read_text(encoding="utf-8"))))
    }
    assert offenders == {}


def test_the_scan_would_see_an_eval() -> None:
    tree = ast.parse("import yaml, pickle\neval(x)\nyaml.load(s)\npickle.loads(b)\n")
    assert [name for _, name in _calls(tree)] == ["eval", "yaml.load", "pickle.loads"]


def test_yaml_parsing_goes_through_a_safe_loader_only() -> None:
    safe = (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert issubclass(yamlio._Loader, safe)
    assert parse_yaml("a: !!str 1\n").data == {"a": "1"}  # plain tags are fine
    for python_object in (
        "a: !!python/object/apply:os.system ['true']\n",
        "a: !!python/name:os.system\n",
    ):
        with pytest.raises(InputError):
            parse_yaml(python_object)


@pytest.mark.skipif(yamlio._Loader is yamlio._PyLoader, reason="PyYAML without LibYAML")
def test_the_libyaml_loader_reads_every_builtin_file_as_the_python_loader_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = sorted(builtin_dir("protocol").glob("*.yaml")) + sorted(
        builtin_dir("scenario").glob("*.yaml")
    )
    fast = [parse_yaml(f.read_bytes(), str(f)) for f in files]
    monkeypatch.setattr(yamlio, "_Loader", yamlio._PyLoader)
    slow = [parse_yaml(f.read_bytes(), str(f)) for f in files]
    assert len(files) > 10
    assert [(r.data, dict(r.lines)) for r in fast] == [(r.data, dict(r.lines)) for r in slow]


# --- scenario paths stay in the scenario's folder ----------------------------------------


def _scenario(folder: Path, reference: str) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(SCENARIO.replace("protocol: cart19-be-02-resume", f"protocol: {reference}"))
    return path


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A scenario folder with a protocol in a subfolder, and a protocol outside it."""
    folder = tmp_path / "study"
    (folder / "protocols").mkdir(parents=True)
    (folder / "protocols" / "mine.yaml").write_text(PROTOCOL)
    (tmp_path / "outside.yaml").write_text(PROTOCOL)
    return folder


@pytest.mark.parametrize(
    "reference",
    [
        "cart19-be-02",
        "protocols/mine.yaml",
        "./protocols/mine.yaml",
        "../study/protocols/mine.yaml",
    ],
)
def test_a_scenario_may_name_a_built_in_or_a_file_in_its_folder(
    study: Path, reference: str
) -> None:
    assert load_target(str(_scenario(study, reference))).protocol.protocol.id == "cart19-be-02"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("../outside.yaml", "leads outside the scenario's folder"),
        ("protocols/../../outside.yaml", "leads outside the scenario's folder"),
        ("{tmp}/outside.yaml", "is an absolute path"),
        ("/dev/zero", "is an absolute path"),
        ("/etc/hostname", "is an absolute path"),
        ("link.yaml", "leads outside the scenario's folder"),
    ],
)
def test_a_scenario_may_not_reach_outside_its_folder(
    study: Path, reference: str, message: str
) -> None:
    (study / "link.yaml").symlink_to(study.parent / "outside.yaml")
    reference = reference.format(tmp=study.parent)
    path = _scenario(study, reference)
    text = path.read_text()
    (problem,) = problems(path)
    assert problem == Problem(
        str(path),
        line_of(text, "protocol:"),
        "protocol",
        f"'{reference}' {message} (name a built-in protocol, or put the file in the "
        "scenario's folder)"
        if message.startswith("leads")
        else f"'{reference}' {message}; paths are relative to the scenario (name a built-in "
        "protocol, or put the file in the scenario's folder)",
    )


def test_a_nul_character_is_not_a_file_name(study: Path) -> None:
    """Refused by the YAML reader already (no text value holds a control character)."""
    path = study / "scenario.yaml"
    path.write_text(SCENARIO.replace("protocol: cart19-be-02-resume", 'protocol: "mine\\0.yaml"'))
    (problem,) = problems(path)
    assert problem.message.startswith("control character U+0000 in a text value")
    assert problem.line == SCENARIO.splitlines().index("protocol: cart19-be-02-resume") + 1


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_device_is_refused_not_read_forever() -> None:
    start = time.perf_counter()
    result = runner.invoke(app, ["check", "/dev/zero"])
    assert result.exit_code == 2
    assert result.stderr == "error: /dev/zero: is not a regular file (a device, pipe or socket?)\n"
    assert time.perf_counter() - start < 5


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_named_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    (problem,) = problems(fifo)
    assert problem.message == "is not a regular file (a device, pipe or socket?)"


def test_deep_flow_nesting_is_refused_at_once() -> None:
    for depth in (MAX_DEPTH + 1, 2_000, 200_000):
        start = time.perf_counter()
        with pytest.raises(InputError, match=f"nesting deeper than {MAX_DEPTH} levels"):
            parse_yaml("id: x\nfractions: " + "[" * depth + "]" * depth + "\n")
        assert time.perf_counter() - start < 1.0  # PyYAML alone took 3-4 s at 2,000 levels


@pytest.mark.parametrize(
    "text",
    [
        "# a comment\rb: {deep}\r",  # CR line ends (a comment used to hide the rest)
        "loop: &a [*a]\r# comment\rb: {deep}\r",
        "note: it's plain text\nb: {deep}\n",  # an apostrophe opens no quote
        "a: [x ' {deep}]\n",
        "a: 'it''s' \nb: {deep}\n",  # a doubled quote inside single quotes
        'a: "\\\\" \nb: {deep}\n',  # an escaped backslash inside double quotes
    ],
)
def test_deep_nesting_is_found_past_comments_quotes_and_odd_line_ends(text: str) -> None:
    deep = "[" * 5000 + "]" * 5000
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_yaml(text.format(deep=deep))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("width", "levels", "line"), [(10, 12, 6), (2, 40, 17), (1000, 2, 2)])
def test_an_alias_bomb_is_refused_at_once_at_its_line(width: int, levels: int, line: int) -> None:
    """Counted once per node, not per use: it used to take 1-1.5 s to walk 200,000 values."""
    lines = ["bomb0: &b0 [" + ", ".join(["lol"] * width) + "]"]
    for k in range(1, levels):
        lines.append(f"bomb{k}: &b{k} [" + ", ".join([f"*b{k - 1}"] * width) + "]")
    start = time.perf_counter()
    with pytest.raises(InputError) as exc:
        parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert time.perf_counter() - start < 0.5
    (problem,) = exc.value.problems
    assert problem == Problem(
        "bomb.yaml", line, "", "file expands to more than 200000 values (alias bomb?)"
    )


def test_brackets_in_quotes_and_comments_are_not_nesting() -> None:
    deep = "[" * 500
    text = f"a: '{deep}'\nb: \"{deep}\"\nc: 1 # {deep}\nd: 'it''s {deep}'\n"
    assert parse_yaml(text).data == {"a": deep, "b": deep, "c": 1, "d": f"it's {deep}"}


# --- absurd but valid requests --------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("anchor_day: 0", "anchor_day: " + "9" * 400, "calendar.anchor_day"),
        (
            "days: [-5, -4, -3]",
            "days: [-" + "9" * 30 + ", -4, -3]",
            "lymphodepletion.drugs[0].days[0]",
        ),
        ("  - id: F2\n", "  - id: F2\n    day: 100000000000000000000\n", "fractions[1].day"),
        (
            "  - id: F2\n",
            "  - id: F2\n    latest_day: -" + "9" * 400 + "\n",
            "fractions[1].latest_day",
        ),
        ("response_day: 28", "response_day: 36501", "follow_up.response_day"),
        ("horizon_day: 28", "horizon_day: 36525", "follow_up.horizon_day"),  # 100 years
    ],
)
def test_days_beyond_100_years_are_a_clear_limit(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    assert old in PROTOCOL
    text = PROTOCOL.replace(old, new, 1)
    if field == "calendar.anchor_day":
        text = text.replace("    day: 0\n", "", 1)  # else the first fraction's day disagrees
    path = tmp_path / "days.yaml"
    path.write_text(text)
    (problem,) = problems(path)
    assert (problem.field, problem.line) == (field, line_of(text, new.strip().splitlines()[-1]))
    assert re.search(r"Input should be (less|greater) than or equal to -?36500", problem.message)
    result = runner.invoke(app, ["run", str(path)])  # used to crash with OverflowError
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_scenario_day_must_be_a_finite_number(tmp_path: Path) -> None:
    for value in (".nan", ".inf", "-1e300"):
        text = SCENARIO.replace(
            "episodes:\n",
            f"episodes:\n  - {{name: n, start: {{day: {value}}}, set: {{crs_grade: 1}}}}\n",
            1,
        )
        path = tmp_path / "nan.yaml"
        path.write_text(text)
        (problem,) = problems(path)
        assert problem.field == "episodes[0].start.day", problem


def test_the_longest_horizon_runs_in_bounded_time(tmp_path: Path) -> None:
    text = PROTOCOL.replace("horizon_day: 28", "horizon_day: 36500")
    text = text.replace("visit_days: [7, 14, 21]", "visit_days: [7, 14, 21, 36500]")
    path = tmp_path / "century.yaml"
    path.write_text(text)
    for seed in range(5):
        start = time.perf_counter()
        result = run_target(str(path), seed=seed)
        assert time.perf_counter() - start < 5
        assert result.sim_events < 2_000
        end = result.events[-1]
        assert end.kind == "end" and end.time_h <= 36_501 * 24


def test_more_than_500_episodes_is_a_clear_limit(tmp_path: Path) -> None:
    episodes = "".join(
        f"  - {{name: e{i}, start: {{day: 1}}, set: {{crs_grade: 1}}}}\n" for i in range(501)
    )
    text = SCENARIO.replace("episodes:\n", "episodes:\n" + episodes, 1)
    path = tmp_path / "many.yaml"
    path.write_text(text)
    (problem,) = problems(path)
    assert problem.field == "episodes"
    assert problem.message.startswith("List should have at most 500 items")


def test_more_than_100_rules_in_a_gate_is_a_clear_limit(tmp_path: Path) -> None:
    rules = "".join(f"    - {{name: r{i}, when: fever, action: skip}}\n" for i in range(100))
    text = PROTOCOL.replace("  safety:\n", "  safety:\n" + rules, 1)
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    (problem,) = problems(path)
    assert problem.field == "gates.safety"
    assert problem.message.startswith("List should have at most 100 items")


RUNAWAY = """\
id: runaway
title: re-checks without end
summary: a delay that never clears, re-checked every 36 seconds for up to a year
source: {trial: none, citation: none, status: assumed}
product: {name: x, kind: autologous}
gates:
  forever:
    - {name: always, when: day >= -100, action: delay, recheck_h: 0.01, max_wait_h: 8760,
       on_timeout: stop}
fractions:
  - {id: F1, day: 0, dose: {cells_per_kg: 1.0e5}, use_gate: forever}
follow_up: {horizon_day: 28}
"""


def test_a_valid_protocol_that_would_loop_hits_the_guard_quickly(tmp_path: Path) -> None:
    path = tmp_path / "runaway.yaml"
    path.write_text(RUNAWAY)
    start = time.perf_counter()
    result = runner.invoke(app, ["run", str(path)])
    assert time.perf_counter() - start < 10
    assert result.exit_code == 3
    assert result.stderr.startswith("error: F1: more than 10000 gate checks")


@pytest.mark.parametrize("command", ["cohort", "compare"])
def test_a_billion_virtual_patients_is_a_clear_limit(command: str) -> None:
    targets = ["cart19-be-02"] if command == "cohort" else ["cart19-be-02", "msk-19-28z"]
    result = runner.invoke(app, [command, *targets, "--patients", "1000000000"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    message = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert "Invalid value for '--patients':" in message
    assert re.search(r"less than or equal to 10000000|1<=x<=10000000", message), message
