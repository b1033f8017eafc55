"""The event log as a tidy table: one row per event, one column per field.

Every field an :class:`~sim.records.Event` carries has a column of its own (a field that
a kind of event does not have is missing in its row). Three fields are structured and are
stored as JSON text: a gate's ``fired`` (the rules that fired) and ``state`` (the values
the gate read), and a resume's ``held_by`` (hours per rule). ``old``/``new`` of a state
change are numbers (true/false as 1/0).

The column order is fixed by :data:`EVENT_COLUMNS`; ``docs/exports.md`` documents them.
A field that is not listed is an error, so that a new event field cannot silently go
missing from exports (a test runs every built-in protocol and scenario through this).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sim.engine.run import RunResult
from sim.exports.provenance import provenance
from sim.exports.tables import Column, TableWriter
from sim.records import Event, plain

EVENT_COLUMNS: tuple[Column, ...] = (
    Column("patient", "int", "virtual patient index in a cohort; empty for a single run"),
    Column("protocol", "str", "protocol id"),
    Column("time_h", "float", "hours since 00:00 of day 0 (day 0 = first CAR-T infusion)"),
    Column("day", "int", "study day (floor of time_h / 24)"),
    Column("kind", "str", "event kind (dose_plan, planned, ld_dose, gate, hold, infusion, ...)"),
    Column("fraction", "str", "fraction id (F1, ...) or repeat dose (R1, ...)"),
    Column("phase", "str", "infusion: fraction or repeat"),
    Column("cells", "float", "CAR-T cells (planned, infused or not given)"),
    Column("cells_per_kg", "float", "the same per kg of body weight"),
    Column("planned_cells", "float", "infusion: cells planned for this fraction"),
    Column("carried_in_cells", "float", "infusion: cells carried in from a skipped fraction"),
    Column("dose_level", "float", "infusion: dose-ladder multiplier (1 = full dose)"),
    Column("planned_time_h", "float", "planned: nominal time of the fraction"),
    Column("basis", "str", "planned: how the dose was computed"),
    Column("plan", "str", "dose_plan: the dose plan chosen"),
    Column("planned_total_cells", "float", "dose_plan: total cells planned"),
    Column("action", "str", "gate: give, delay, skip, stop, reduce; ld_expired: repeat_ld/stop"),
    Column("rule", "str", "the gate rule that decided"),
    Column("reason", "str", "why, in words"),
    Column("fired", "str", "gate: JSON list of the rules whose condition held"),
    Column("state", "str", "gate: JSON object of the values the gate read"),
    Column("held_h", "float", "resume: hours the fraction was held"),
    Column("held_by", "str", "resume: JSON object of the hours each rule held it"),
    Column("drug", "str", "ld_dose: drug"),
    Column("mg_per_m2", "float", "ld_dose: prescribed dose, mg/m2"),
    Column("bsa_m2", "float", "ld_dose: body surface area used, m2"),
    Column("bsa_formula", "str", "ld_dose: mosteller or dubois"),
    Column("mg", "float", "ld_dose: dose given, mg"),
    Column("course", "int", "ld_dose, ld_expired: lymphodepletion course (1 = first)"),
    Column("days_since_ld", "int", "ld_expired: days since lymphodepletion ended"),
    Column("max_days", "int", "ld_expired: the protocol's window, days"),
    Column("procedure", "str", "procedure: its name"),
    Column("procedure_kind", "str", "procedure: debulking, bridging, transplant, ..."),
    Column("done", "bool", "procedure: whether it was done"),
    Column("status", "str", "repeat_phase: started, ended, or not started (no dose given)"),
    Column("variable", "str", "state_change: the state variable"),
    Column("old", "float", "state_change: value before (true/false as 1/0)"),
    Column("new", "float", "state_change: value after (true/false as 1/0)"),
    Column("cause", "str", "state_change, death: cause"),
    Column("visit_day", "int", "visit: scheduled study day"),
    Column("crs_grade", "int", "visit: CRS grade (ASTCT) at the visit"),
    Column("icans_grade", "int", "visit: ICANS grade (ASTCT) at the visit"),
    Column("assessment_day", "int", "assessment: scheduled study day"),
    Column("primary", "bool", "assessment: the protocol's main one (follow_up.response_day)"),
    Column("response", "str", "assessment: response"),
    Column("in_remission", "bool", "assessment: in remission"),
    Column("mrd_positive", "bool", "assessment: MRD positive"),
    Column("marrow_blasts_pct", "float", "assessment: marrow blasts, %"),
    Column(
        "peak_copies", "float", "kinetics: expansion peak (re-planned after each dose), copies/ug"
    ),
    Column("peak_day", "float", "kinetics: days from the first infusion to the peak"),
    Column(
        "auc_0_28",
        "float",
        "kinetics: AUC over days 0-28 after the first infusion, copies/ug x day",
    ),
    Column(
        "persistence_days",
        "float",
        "kinetics: days from the first infusion until below the assay LLOQ",
    ),
    Column("fold_expansion", "float", "kinetics: peak over the copies seeded by the doses"),
    Column("copies", "float", "expansion_peak: copies/ug at the peak"),
)

# event field -> column, where the two differ
_RENAMED = {"name": "procedure"}
_JSON_FIELDS = frozenset({"fired", "state", "held_by"})
_NUMERIC_STATE = frozenset({"old", "new"})
_IDENTITY = frozenset({"patient", "protocol", "time_h", "day", "kind"})
_COLUMN_NAMES = frozenset(c.name for c in EVENT_COLUMNS)
_EVENT_FIELDS = (_COLUMN_NAMES - _IDENTITY - set(_RENAMED.values())) | set(_RENAMED)


def event_columns() -> tuple[Column, ...]:
    """The event table's columns, in order (pass them to :class:`TableWriter`)."""
    return EVENT_COLUMNS


def _state_number(value: Any) -> float:
    return float(value)  # bool -> 1.0/0.0, grades and numbers as they are


def event_row(event: Event, protocol_id: str, patient_index: int | None = None) -> dict[str, Any]:
    """One event as a flat row (keys are column names; absent fields are left out)."""
    row: dict[str, Any] = {
        "patient": patient_index,
        "protocol": protocol_id,
        "time_h": event.time_h,
        "day": event.day,
        "kind": event.kind,
    }
    for key, value in event.data.items():
        if key not in _EVENT_FIELDS:
            raise ValueError(
                f"event kind {event.kind!r} has a field {key!r} that the event table does not "
                "know: add a column for it in sim/exports/events.py and docs/exports.md"
            )
        if key in _JSON_FIELDS:
            value = json.dumps(plain(value), ensure_ascii=False, sort_keys=True)
        elif key in _NUMERIC_STATE and event.kind == "state_change":
            value = _state_number(value)
        row[_RENAMED.get(key, key)] = value
    return row


def event_rows(result: RunResult, patient_index: int | None = None) -> Iterator[dict[str, Any]]:
    """The run's events as tidy rows, in log order."""
    for event in result.events:
        yield event_row(event, result.protocol.id, patient_index)


def run_provenance(
    result: RunResult, command: str | None = None, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Provenance of an output made from one run."""
    return provenance(
        command,
        seed=result.seed,
        protocols=[(result.protocol.id, result.protocol_hash)],
        extra={"scenario": result.scenario, **(extra or {})},
    )


def write_events(
    result: RunResult,
    path: Path,
    *,
    option: str = "--events",
    command: str | None = None,
    patient_index: int | None = None,
) -> None:
    """Write the run's event table to ``path`` (.csv, .jsonl or .parquet) with provenance."""
    record = run_provenance(result, command)
    with TableWriter(path, EVENT_COLUMNS, record, option=option) as writer:
        writer.write_all(event_rows(result, patient_index))
