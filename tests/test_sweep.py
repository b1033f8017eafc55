"""cartsim sweep: a grid of protocol variants on the same virtual patients."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import InputError
from sim.spec.load import load_protocol
from sim.spec.variants import load_variant, parse_set, sweep_grid

runner = CliRunner()


def test_parse_set_reads_yaml_values() -> None:
    assert parse_set("fractions.3.dose.cells_per_kg=1e6,2e6") == (
        "fractions.3.dose.cells_per_kg",
        [1e6, 2e6],
    )
    assert parse_set("gates.safety.0.action=stop,skip")[1] == ["stop", "skip"]


def test_grid_is_every_combination_first_option_slowest() -> None:
    grid = sweep_grid(["a.b=1,2", "c=x,y,z"])
    assert len(grid) == 6
    assert grid[0] == [("a.b", 1), ("c", "x")]
    assert grid[-1] == [("a.b", 2), ("c", "z")]


def test_variant_changes_the_field_and_the_hash() -> None:
    base = load_protocol("cart19-be-02")
    variant = load_variant("cart19-be-02", [("fractions.3.dose.cells_per_kg", 1e6)])
    assert variant.hash != base.hash
    assert variant.protocol.fractions[3] != base.protocol.fractions[3]
    assert load_variant("cart19-be-02", []).hash == base.hash


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("gates.safety.1.max_wait_h=-5", "max_wait_h"),
        ("nope.1=3", "'nope' is not in the file"),
        ("fractions.99.interval_h=24", "the list has 4 entries"),
        ("fractions", "expected PATH=V1,V2"),
    ],
)
def test_bad_settings_are_messages(setting: str, needle: str) -> None:
    result = runner.invoke(app, ["sweep", "cart19-be-02", "--set", setting, "--patients", "5"])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_sweep_runs_the_same_patients_in_every_variant() -> None:
    args = ["sweep", "cart19-be-02", "--set", "fractions.3.dose.cells_per_kg=1e6,2e6"]
    result = runner.invoke(app, [*args, "--patients", "40", "--seed", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    low, high = data["variants"]
    assert low["variant"] == "fractions.3.dose.cells_per_kg=1000000.0"
    dose = "cells_per_kg_delivered_median"
    assert low["metrics"][dose]["value"] < high["metrics"][dose]["value"]
    # same patients: before the last fraction nothing differs, so holds are identical
    assert low["metrics"]["hold_rate"]["value"] == high["metrics"]["hold_rate"]["value"]
    (diff,) = data["differences"]
    assert diff["metrics"]["cells_per_kg_delivered_mean"]["value"] > 0
    assert diff["versus"] == low["variant"]


def test_too_many_variants_is_a_limit() -> None:
    with pytest.raises(InputError, match="limit"):
        sweep_grid(["a=" + ",".join(str(i) for i in range(40)), "b=" + ",".join("x" * 40)])
