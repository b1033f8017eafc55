"""The event log and the views derived from it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.metrics import patient_metrics
from sim.records import decisions, ledger, make_event, schedule, shifted
from tests.factories import CRS_DELAY, gated, run


def test_events_are_immutable() -> None:
    ev = make_event(1.0, "gate", {"state": {"crs_grade": 1}, "fired": ["a"]})
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.time_h = 2.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        ev.data["state"]["crs_grade"] = 3  # type: ignore[index]
    assert ev.to_dict() == {
        "time_h": 1.0,
        "day": 0,
        "kind": "gate",
        "state": {"crs_grade": 1},
        "fired": ["a"],
    }


def test_day_of_negative_times() -> None:
    assert make_event(-0.5, "x", {}).day == -1
    assert make_event(-24.0, "x", {}).day == -1
    assert make_event(23.99, "x", {}).day == 0


def test_only_fields_named_time_h_are_rounded_and_the_row_is_a_copy() -> None:
    data = {"planned_time_h": 1 / 3, "held_h": 1 / 3, "cells": 1 / 3, "n": 1}
    ev = make_event(2 / 3, "planned", data)
    assert ev.time_h == 0.666667
    assert ev.data["planned_time_h"] == 0.333333
    assert ev.data["held_h"] == 1 / 3 and ev.data["cells"] == 1 / 3 and ev.data["n"] == 1
    # a float subclass (numpy's float64) is rounded too; the caller's dict is untouched
    np_like = make_event(0.0, "planned", {"planned_time_h": np.float64(1 / 3)})
    assert np_like.data["planned_time_h"] == 0.333333
    assert data["planned_time_h"] == 1 / 3


def test_shift_moves_event_and_absolute_time_fields_only() -> None:
    ev = make_event(100.0, "planned", {"planned_time_h": 50.0, "held_h": 5.0})
    (moved,) = shifted([ev], 48.0)
    assert moved.time_h == 52.0
    assert moved.data["planned_time_h"] == 2.0 and moved.data["held_h"] == 5.0


def test_views_and_metrics_come_from_the_log() -> None:
    result = run(
        gated([CRS_DELAY]),
        {"name": "crs", "start": {"after": "F1", "hours": 6}, "set": {"crs_grade": 2}, "hours": 40},
    )
    doses = ledger(result.events)
    assert [d["fraction"] for d in doses] == ["F1", "F2", "F3"]
    rows = {r["fraction"]: r for r in schedule(result.events)}
    assert rows["F2"]["held_h"] == 24.0 and rows["F2"]["planned_time_h"] == 34.0
    assert rows["F2"]["time_h"] == 58.0
    assert sum(1 for d in decisions(result.events) if d["action"] == "delay") == 2
    m = patient_metrics(result.events)
    assert m["fractions_given"] == 3 and m["holds"] == 1 and m["held_h"] == 24.0
    assert m["full_dose_delivered"] is True and m["crs_max_grade"] == 2
    assert m["given_cells_per_kg"] == pytest.approx(1e6)
    assert m["last_fraction_after_first_h"] == 72.0
