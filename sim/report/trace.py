"""The run as data: one JSON object, and event files (JSONL, CSV)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from sim import __version__
from sim.engine.run import RunResult
from sim.errors import InputError
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


def write_events(result: RunResult, path: Path) -> None:
    """Write the event log as JSON lines (.jsonl/.json) or CSV (.csv), atomically."""
    if path.suffix not in (".jsonl", ".json", ".csv"):
        raise InputError.single(str(path), "--events writes .jsonl, .json or .csv files")
    if not path.parent.is_dir():
        raise InputError.single(str(path), f"no such folder: {path.parent}")
    rows = [e.to_dict() for e in result.events]
    if path.suffix == ".csv":
        columns = ["time_h", "day", "kind", "detail"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            detail = {k: v for k, v in row.items() if k not in ("time_h", "day", "kind")}
            writer.writerow(
                [row["time_h"], row["day"], row["kind"], json.dumps(detail, ensure_ascii=False)]
            )
        text = buf.getvalue()
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError.single(str(path), f"cannot write: {exc.strerror}") from None
