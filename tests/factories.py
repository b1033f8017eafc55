"""Small protocols and scenarios built in code, for engine tests."""

from __future__ import annotations

import copy
from typing import Any

from sim.engine.run import RunResult, run_course
from sim.engine.scripted import ScriptedToxicity
from sim.spec.checks import check_protocol
from sim.spec.protocol import Protocol
from sim.spec.scenario import Episode, Patient

PATIENT = Patient(weight_kg=70, height_cm=170, age_y=40, marrow_blasts_pct=30)

BASE: dict[str, Any] = {
    "id": "test",
    "title": "test protocol",
    "summary": "test",
    "source": {"trial": "none", "citation": "none", "status": "assumed"},
    "product": {"name": "CAR-T", "kind": "autologous"},
    "calendar": {"anchor_day": 0, "infusion_hour": 10},
    "fractions": [
        {"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e5}},
        {"id": "F2", "dose": {"cells_per_kg": 3e5}},
        {"id": "F3", "dose": {"cells_per_kg": 6e5}},
    ],
    "follow_up": {"visit_days": [7], "response_day": 28, "horizon_day": 28},
}

CRS_DELAY = {
    "name": "crs",
    "when": "crs_grade >= 1",
    "action": "delay",
    "recheck_h": 12,
    "max_wait_h": 72,
    "on_timeout": "stop",
}


def protocol(**changes: Any) -> Protocol:
    data = copy.deepcopy(BASE)
    data.update(changes)
    p = Protocol.model_validate(data)
    problems = list(check_protocol(p))
    assert not problems, problems
    return p


def gated(rules: list[dict[str, Any]], **changes: Any) -> Protocol:
    """BASE with the same gate on every fraction."""
    fractions = [dict(f, gate=rules) for f in BASE["fractions"]]
    return protocol(fractions=fractions, **changes)


def episodes(*items: dict[str, Any]) -> ScriptedToxicity:
    return ScriptedToxicity([Episode.model_validate(i) for i in items])


def run(p: Protocol, *eps: dict[str, Any], patient: Patient = PATIENT) -> RunResult:
    return run_course(p, patient, toxicity=episodes(*eps) if eps else None)


def kinds(result: RunResult, kind: str) -> list[Any]:
    return [e for e in result.events if e.kind == kind]


def infusion_times(result: RunResult) -> dict[str, float]:
    return {e.data["fraction"]: e.time_h for e in kinds(result, "infusion")}
