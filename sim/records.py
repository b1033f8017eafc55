"""The one canonical event log, and everything derived from it.

Every infusion, gate check (passes included), hold, resume, skip, stop, LD dose,
procedure, visit, assessment and state change is one immutable :class:`Event`. The
dose ledger, the per-fraction schedule, the decision log and the metrics are pure
functions of the events; nothing is computed on the side.

Event kinds and their fields:

======================  ===============================================================
``dose_plan``           plan (label), reason, planned_total_cells
``planned``             fraction, planned_time_h, cells, cells_per_kg, basis
``ld_dose``             drug, mg_per_m2, bsa_m2, bsa_formula, mg, course
``procedure``           name, procedure_kind, done, reason
``gate``                fraction, action, rule, reason, fired, state
``hold``                fraction, rule, reason (rule ``site``: held by a clinic's ward, e.g.
                        no bed free; see :mod:`sim.clinic.bedside`)
``resume``              fraction, held_h, held_by (hours each rule held the dose)
``infusion``            fraction, phase, cells, cells_per_kg, planned_cells, carried_in_cells,
                        dose_level
``skip`` / ``stop``     fraction, rule, reason
``not_given``           fraction, cells, cells_per_kg, reason
``ld_expired``          last_ld_day, days_since_ld, max_days, action
``repeat_phase``        status (started, ended, or "not started" when no dose was given), reason
``state_change``        variable, old, new, cause
``visit``               visit_day
``assessment``          assessment_day, primary (the response_day one), response, in_remission,
                        mrd_positive, marrow_blasts_pct
``end``                 reason
======================  ===============================================================

``time_h`` is hours since 00:00 of day 0, day 0 being the day of the first CAR-T
infusion (numbered ``calendar.anchor_day``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    time_h: float
    kind: str
    data: Mapping[str, Any]

    @property
    def day(self) -> int:
        return math.floor(self.time_h / 24 + 1e-9)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {"time_h": self.time_h, "day": self.day, "kind": self.kind, **plain(self.data)}


_SCALARS = frozenset({int, float, str, bool, type(None)})


def _frozen(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return MappingProxyType(
            {k: (v if type(v) in _SCALARS else _frozen(v)) for k, v in value.items()}
        )
    if isinstance(value, list | tuple):
        return tuple(v if type(v) in _SCALARS else _frozen(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """A JSON-ready copy of event data (mappings to dicts, tuples to lists)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def make_event(time_h: float, kind: str, data: Mapping[str, Any]) -> Event:
    """An event at ``time_h``; times (``time_h`` and fields named ``*time_h``) are rounded
    to 6 decimals here, so that :func:`shifted` by 0 h has nothing left to change."""
    fields = dict(data)
    for key, value in fields.items():  # replaces values only: the keys do not change
        kind_of = type(value)
        if kind_of is float:
            if key.endswith("time_h"):
                fields[key] = round(value, 6)
        elif kind_of not in _SCALARS:
            value = _frozen(value)
            if key.endswith("time_h") and isinstance(value, float):  # a float subclass
                value = round(value, 6)
            fields[key] = value
    return Event(round(time_h, 6), kind, MappingProxyType(fields))


def shifted(events: Iterable[Event], shift_h: float) -> tuple[Event, ...]:
    """Renumber times so that ``shift_h`` becomes hour 0 (absolute-time fields too)."""
    if shift_h == 0:
        return tuple(events)  # made by make_event: already rounded
    out = []
    for ev in events:
        data = {
            k: (round(v - shift_h, 6) if k.endswith("time_h") and isinstance(v, float) else v)
            for k, v in ev.data.items()
        }
        # values are already frozen: wrap, do not copy again
        out.append(Event(round(ev.time_h - shift_h, 6), ev.kind, MappingProxyType(data)))
    return tuple(out)


def ledger(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Each CAR-T dose actually given."""
    return [
        {
            "fraction": ev.data["fraction"],
            "phase": ev.data["phase"],
            "time_h": ev.time_h,
            "day": ev.day,
            "cells_per_kg": ev.data["cells_per_kg"],
            "cells": ev.data["cells"],
            "planned_cells": ev.data["planned_cells"],
            "carried_in_cells": ev.data["carried_in_cells"],
            "dose_level": ev.data["dose_level"],
        }
        for ev in events
        if ev.kind == "infusion"
    ]


def schedule(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Planned vs given, one row per planned fraction (and per repeat dose given)."""
    rows: dict[str, dict[str, Any]] = {}
    holds: dict[str, float] = {}
    for ev in events:
        fr = str(ev.data.get("fraction"))
        if ev.kind == "planned":
            rows[fr] = {
                "fraction": fr,
                "planned_time_h": ev.data["planned_time_h"],
                "planned_cells": ev.data["cells"],
                "planned_cells_per_kg": ev.data["cells_per_kg"],
                "status": "pending",
                "time_h": None,
                "cells": 0.0,
                "cells_per_kg": 0.0,
                "held_h": 0.0,
                "reason": None,
            }
        elif "fraction" not in ev.data:
            continue
        elif ev.kind == "resume":
            holds[fr] = holds.get(fr, 0.0) + ev.data["held_h"]
        elif ev.kind == "infusion":
            weight = ev.data["cells"] / ev.data["cells_per_kg"]
            row = rows.setdefault(
                fr,
                {
                    "fraction": fr,
                    "planned_time_h": None,
                    "planned_cells": ev.data["planned_cells"],
                    "planned_cells_per_kg": ev.data["planned_cells"] / weight,
                    "reason": None,
                },
            )
            row.update(
                status="given",
                time_h=ev.time_h,
                cells=ev.data["cells"],
                cells_per_kg=ev.data["cells_per_kg"],
                held_h=holds.get(fr, 0.0),
            )
            if ev.data["dose_level"] < 1.0:
                row["status"] = "given_reduced"
        elif ev.kind in ("skip", "not_given") and fr in rows:
            rows[fr].update(
                status="skipped" if ev.kind == "skip" else "not_given",
                reason=ev.data["reason"],
                held_h=holds.get(fr, 0.0),
            )
    return list(rows.values())


def decisions(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Every gate decision: give, delay, skip, stop or reduce, with its rule and reason."""
    return [
        {
            "time_h": ev.time_h,
            "day": ev.day,
            "fraction": ev.data["fraction"],
            "action": ev.data["action"],
            "rule": ev.data["rule"],
            "reason": ev.data["reason"],
            "state": plain(ev.data["state"]),
        }
        for ev in events
        if ev.kind == "gate"
    ]
