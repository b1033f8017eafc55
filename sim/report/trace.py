"""The run as data: one JSON object, and event files (JSONL, CSV, Parquet)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim import __version__
from sim.engine.run import RunResult
from sim.metrics import patient_metrics
from sim.records import decisions, ledger, schedule


def run_json(result: RunResult) -> dict[str, Any]:
    p = result.protocol
    return {
        "cartsim_version": __version__,
        "protocol": {
            "id": p.id,
            "title": p.title,
            "origin": result.protocol_origin,
            "hash": result.protocol_hash,
        },
        "scenario": result.scenario,
        "patient": result.patient.model_dump(),
        "seed": result.seed,
        "events": [e.to_dict() for e in result.events],
        "ledger": ledger(result.events),
        "schedule": schedule(result.events),
        "decisions": decisions(result.events),
        "metrics": patient_metrics(result.events),
        "run": {"sim_events": result.sim_events},
    }


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)


def write_events(result: RunResult, path: Path, patient_index: int | None = None) -> None:
    """``cartsim run --events``: the event log as .jsonl, .parquet (the tidy event table of
    :mod:`sim.exports.events`) or .csv (one tidy row per event, the same columns),
    written atomically with a ``.provenance.json`` sidecar. ``patient_index`` fills the
    ``patient`` column (``--patient N``, as the cohort's event file has it)."""
    from sim.exports.events import write_events as write_event_table

    write_event_table(result, path, option="--events", patient_index=patient_index)
