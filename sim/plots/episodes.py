"""Spans of time read from one event log: grades, holds, infection; no drawing here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sim.records import Event


@dataclass(frozen=True, slots=True)
class Span:
    start_h: float
    end_h: float
    value: Any


@dataclass(frozen=True, slots=True)
class Hold:
    fraction: str
    start_h: float
    end_h: float
    rule: str
    reason: str
    outcome: str  # given, skipped, stopped, or open (the run ended first)


def end_h(events: Sequence[Event]) -> float:
    return events[-1].time_h if events else 0.0


def state_spans(events: Sequence[Event], variable: str) -> list[Span]:
    """Stretches where ``variable`` was truthy (a grade >= 1, or True), with its value."""
    spans: list[Span] = []
    start: float | None = None
    value: Any = None
    for ev in events:
        if ev.kind != "state_change" or ev.data["variable"] != variable:
            continue
        if start is not None and ev.time_h > start:
            spans.append(Span(start, ev.time_h, value))
        new = ev.data["new"]
        start, value = (ev.time_h, new) if new else (None, None)
    if start is not None and end_h(events) > start:
        spans.append(Span(start, end_h(events), value))
    return spans


def holds(events: Sequence[Event]) -> list[Hold]:
    """Every hold of a dose: from its ``hold`` row to the dose given, skipped or stopped."""
    open_: dict[str, tuple[float, str, str]] = {}
    out: list[Hold] = []
    for ev in events:
        label = ev.data.get("fraction")
        if not isinstance(label, str):
            continue
        if ev.kind == "hold":
            open_[label] = (ev.time_h, ev.data["rule"], ev.data["reason"])
        elif label in open_ and ev.kind in ("infusion", "skip", "stop"):
            start, rule, reason = open_.pop(label)
            outcome = {"infusion": "given", "skip": "skipped", "stop": "stopped"}[ev.kind]
            out.append(Hold(label, start, ev.time_h, rule, reason, outcome))
    for label, (start, rule, reason) in open_.items():
        out.append(Hold(label, start, end_h(events), rule, reason, "open"))
    return sorted(out, key=lambda h: h.start_h)


def held_h(events: Sequence[Event]) -> dict[str, float]:
    """Hours each fraction was held in all, including a hold that ended in a skip or a stop
    (the schedule's ``held_h`` counts only holds that were resumed)."""
    total: dict[str, float] = {}
    for h in holds(events):
        total[h.fraction] = total.get(h.fraction, 0.0) + h.end_h - h.start_h
    return total


def first(events: Sequence[Event], kind: str) -> Event | None:
    return next((e for e in events if e.kind == kind), None)


def relapse_h(events: Sequence[Event]) -> float | None:
    return next(
        (
            e.time_h
            for e in events
            if e.kind == "state_change" and e.data["variable"] == "relapse" and e.data["new"]
        ),
        None,
    )
