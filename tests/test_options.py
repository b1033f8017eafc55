"""Every option is validated before any work (issue 18, item 5).

* seeds are integers from 0 to 2**63 - 1 in every command that takes ``--seed``: a
  negative one gave a numpy ``ValueError`` traceback (exit 0 for ``run``), now a usage
  error, exit 2;
* ``--fix NAME=VALUE`` takes a plain scalar: YAML tags (``!!python/name:os.system``),
  anchors, aliases (``*x``) and collections are refused with one line, exit 2;
* ``--workers`` (1 to 256) and ``--patients`` (1 to 10,000,000) are bounded as documented
  in the README; ``--set`` grids are bounded at 1,000 variants.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app

runner = CliRunner()

SEEDED: dict[str, list[str]] = {
    "run": ["run", "cart19-be-02"],
    "explain": ["explain", "cart19-be-02"],
    "cohort": ["cohort", "cart19-be-02", "--patients", "2", "-q"],
    "compare": ["compare", "cart19-be-02", "msk-19-28z", "--patients", "2", "-q"],
    "sweep": ["sweep", "cart19-be-02", "--set", "fractions.0.day=0", "--patients", "2", "-q"],
    "paths": ["paths", "cart19-be-02", "--patients", "2", "-q"],
    "plot": ["plot", "cart19-be-02", "-o", "never-written.png"],
    "report": ["report", "cart19-be-02", "-o", "never-written.html"],
    "export": ["export", "cart19-be-02", "--format", "nonmem", "-o", "never-written.csv"],
    "calibrate": ["calibrate", "--patients", "2", "-q"],
}


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def assert_usage_error(result: Result, option: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert option in result.output


@pytest.mark.parametrize("seed", ["-1", str(2**63), "-9223372036854775809"])
@pytest.mark.parametrize("command", sorted(SEEDED))
def test_seeds_out_of_range_are_usage_errors_in_every_command(command: str, seed: str) -> None:
    assert_usage_error(invoke(*SEEDED[command], "--seed", seed), "--seed")


def test_the_largest_seed_runs() -> None:
    result = invoke("run", "cart19-be-02", "--seed", str(2**63 - 1), "--json")
    assert result.exit_code == 0, result.output
    assert f'"seed": {2**63 - 1}' in result.stdout


@pytest.mark.parametrize(
    "value",
    [
        "!!python/name:os.system",
        "!!binary aGVsbG8=",
        "*x",
        "&a 70",
        "[70, 80]",
        "{a: 1}",
        "- 70",
        "2020-01-01",
        "",
    ],
)
def test_fix_values_are_plain_scalars(value: str) -> None:
    result = invoke("cohort", "cart19-be-02", "--patients", "2", "--fix", f"weight_kg={value}")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and lines[0].startswith("error: --fix: 'weight_kg="), result.output


def test_a_plain_fix_value_still_works() -> None:
    result = invoke("cohort", "cart19-be-02", "--patients", "2", "-q", "--fix", "weight_kg=70")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["cohort", "cart19-be-02", "--patients", "0"], "--patients"),
        (["cohort", "cart19-be-02", "--patients", "10000001"], "--patients"),
        (["cohort", "cart19-be-02", "--patients", "2", "--workers", "0"], "--workers"),
        (["cohort", "cart19-be-02", "--patients", "2", "--workers", "257"], "--workers"),
        (["plot", "cart19-be-02", "--patients", "0", "-o", "x.png"], "--patients"),
        (
            ["export", "cart19-be-02", "--format", "events", "--patients", "0", "-o", "x.csv"],
            "--patients",
        ),
    ],
)
def test_workers_and_patients_bounds(argv: list[str], option: str) -> None:
    assert_usage_error(invoke(*argv), option)


def test_a_set_grid_is_bounded() -> None:
    values = ",".join(str(i) for i in range(40))
    result = invoke(
        "sweep", "cart19-be-02", "--set", f"fractions.0.day={values}",
        "--set", f"fractions.1.min_interval_h={values}", "--patients", "2",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "error: --set: 1600 variants; the limit is 1000" in result.output
