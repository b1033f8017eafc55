"""Rewrite the committed expected traces of the built-in scenarios.

Run ``python tests/golden/regenerate.py`` after a deliberate change of behaviour, then
read the diff of ``scenarios/expected/`` before committing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sim.report.trace import dumps, run_json  # noqa: E402
from sim.spec.load import builtin_ids  # noqa: E402
from sim.targets import run_target  # noqa: E402


def expected_text(scenario_id: str) -> str:
    return dumps(run_json(run_target(scenario_id))) + "\n"


def main() -> None:
    out = ROOT / "scenarios" / "expected"
    out.mkdir(exist_ok=True)
    for ident in builtin_ids("scenario"):
        (out / f"{ident}.json").write_text(expected_text(ident), encoding="utf-8")
        print(f"wrote scenarios/expected/{ident}.json")


if __name__ == "__main__":
    main()
