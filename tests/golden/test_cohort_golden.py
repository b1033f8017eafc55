"""A fixed-seed comparison reproduces its committed output (all but wall time).

After a deliberate change of the model or its parameters, regenerate with
``python tests/golden/test_cohort_golden.py`` and read the diff before committing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "cohorts" / "compare-be02-msk-seed7-n60.json"


def comparison() -> dict[str, Any]:
    from sim.cohort import CohortSetup, compare
    from sim.spec.load import load_protocol

    data = compare(
        [load_protocol("cart19-be-02"), load_protocol("msk-19-28z")], CohortSetup(seed=7), 60
    ).to_json()
    data["run"].pop("wall_s")
    return data


def test_fixed_seed_comparison_matches_committed_output() -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(comparison()))
    for a, e in zip(actual["arms"], expected["arms"], strict=True):
        assert a["metrics"] == e["metrics"], a["protocol"]
    assert actual == expected


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    EXPECTED.write_text(json.dumps(comparison(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}")
