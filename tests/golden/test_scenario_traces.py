"""Every built-in scenario reproduces its committed expected trace exactly.

If a change of behaviour is deliberate, run ``python tests/golden/regenerate.py`` and
read the diff of ``scenarios/expected/`` before committing it.
"""

from __future__ import annotations

import json

import pytest

from sim.spec.load import builtin_dir, builtin_ids
from tests.golden.regenerate import expected_text

SCENARIOS = builtin_ids("scenario")


def test_every_scenario_has_an_expected_trace() -> None:
    expected = {p.stem for p in (builtin_dir("scenario") / "expected").glob("*.json")}
    assert set(SCENARIOS) == expected


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_trace_matches_expected(scenario: str) -> None:
    path = builtin_dir("scenario") / "expected" / f"{scenario}.json"
    actual = json.loads(expected_text(scenario))
    golden = json.loads(path.read_text(encoding="utf-8"))
    # compare the parts one by one so a failure says which part moved
    for key in ("protocol", "patient", "seed", "ledger", "schedule", "decisions", "metrics"):
        assert actual[key] == golden[key], key
    assert actual["events"] == golden["events"]
    assert actual == golden
