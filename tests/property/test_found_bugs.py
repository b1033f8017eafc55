"""Regression tests for engine bugs that the property tests found (each fixed in sim/engine).

1. Every fraction skipped and a repeat-dosing phase whose trigger never comes: the run
   ran out of SimPy events and crashed with ``AttributeError`` (``main.ok`` of a process
   that never ended). Repeat dosing now starts only after a CAR-T dose was given.
2. A fraction whose minimum interval ran out during a long hold of the previous fraction
   was given after its ``latest_day``: the deadline was compared with the attempt's
   nominal earliest time, not with the time the attempt actually started.
3. A repeat dose held by its gate was given after a ``stop_when`` condition (e.g.
   response) became true during the hold: stop conditions were checked only before the
   first gate check, not at the re-checks.
4. A ``reduce`` in the repeat phase stepped to the rung below even when that rung had
   more cells (a ladder need not rise; with flat and per-kg rungs it may not for some
   weights): a "reduced" dose ten times the planned one. It now steps only to lower rungs
   with fewer cells.
5. An episode ending exactly at the end of follow-up (00:00 of the day after the
   horizon) was logged after the run's ``end``. The end now comes first at that instant
   and nothing is logged after it.
"""

from __future__ import annotations

from tests.factories import CRS_DELAY, kinds, protocol, run
from tests.property.invariants import check_run

F1 = {"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e5}}
REPEAT = {
    "label": "repeat doses",
    "trigger": "relapse",
    "earliest_day": 10,
    "ladder": [{"cells_per_kg": 1e6}],
    "min_interval_days": 7,
    "max_doses": 2,
}


def test_repeat_dosing_does_not_start_when_no_dose_was_given() -> None:
    skip_on_fever = [{"name": "fever", "when": "fever", "action": "skip"}]
    p = protocol(fractions=[dict(F1, gate=skip_on_fever)], repeat_dosing=REPEAT)
    result = run(p, {"name": "fever", "start": {"day": -1}, "set": {"temperature_c": 39.0}})
    check_run(result)
    assert [e.data["status"] for e in kinds(result, "repeat_phase")] == ["not started"]
    assert kinds(result, "infusion") == []
    assert kinds(result, "end")[0].data["reason"] == (
        "the protocol completed before any CAR-T infusion"
    )


def test_a_deadline_that_passed_during_the_previous_hold_is_missed() -> None:
    hold_without_fever = {**CRS_DELAY, "when": "not fever", "max_wait_h": 72, "on_timeout": "skip"}
    p = protocol(
        fractions=[
            F1,
            {
                "id": "F2",
                "min_interval_h": 0,
                "dose": {"cells_per_kg": 1e5},
                "gate": [hold_without_fever],
            },
            {"id": "F3", "min_interval_h": 0, "latest_day": 1, "dose": {"cells_per_kg": 1e5}},
        ]
    )
    result = run(p)
    check_run(result)
    assert [e.data["fraction"] for e in kinds(result, "infusion")] == ["F1"]
    skip = kinds(result, "skip")[-1]
    assert (skip.data["fraction"], skip.data["rule"], skip.time_h) == ("F3", "deadline", 82.0)
    assert "day 1 was the last day allowed" in skip.data["reason"]


def test_a_response_during_a_repeat_hold_ends_the_phase() -> None:
    fever_hold = {**CRS_DELAY, "name": "fever", "when": "fever", "recheck_h": 24, "max_wait_h": 200}
    repeat = dict(
        REPEAT,
        gate=[dict(fever_hold, on_timeout="skip")],
        stop_when=[{"name": "response", "when": "in_remission", "reason": "response"}],
    )
    p = protocol(fractions=[F1], repeat_dosing=repeat)
    result = run(
        p,
        {"name": "relapse", "start": {"day": 5}, "set": {"relapse": True}},
        {"name": "fever", "start": {"day": 9}, "set": {"temperature_c": 39.0}, "hours": 72},
        {"name": "remission", "start": {"day": 10, "hour": 12}, "set": {"in_remission": True}},
    )
    check_run(result)
    assert [e.data["fraction"] for e in kinds(result, "infusion")] == ["F1"]
    ended = kinds(result, "repeat_phase")[-1]
    assert ended.time_h == 11 * 24 + 10  # the first re-check after the response
    assert ended.data["reason"] == "response (in_remission); R1 is not given"
    assert kinds(result, "stop") == []  # a response is not a discontinuation


def test_a_reduce_never_gives_more_cells_than_planned() -> None:
    falling = [{"cells_per_kg": 1e6}, {"cells_per_kg": 1e5}]  # rung 2 is the smaller
    reduce = {"name": "crs", "when": "crs_grade >= 1", "action": "reduce", "at_floor": "give"}
    repeat = dict(REPEAT, ladder=falling, min_interval_days=1, gate=[reduce])
    p = protocol(fractions=[F1], repeat_dosing=repeat)
    result = run(
        p,
        {"name": "relapse", "start": {"day": 5}, "set": {"relapse": True}},
        {"name": "crs", "start": {"after_dose": 2, "hours": 1}, "set": {"crs_grade": 1}},
    )
    check_run(result)
    r2 = next(e for e in kinds(result, "infusion") if e.data["fraction"] == "R2")
    assert r2.data["cells"] == r2.data["planned_cells"] == 1e5 * 70
    assert r2.data["dose_level"] == 1.0


def test_nothing_is_logged_after_the_end() -> None:
    p = protocol(
        fractions=[dict(F1, dose={"cells_per_kg": 1e4})],
        follow_up={"horizon_day": 1, "response_day": None, "visit_days": []},
    )
    # starts 25 h after F1 (day 1, 11:00), lasts 13 h: ends at 00:00 of day 2, the end
    crs = {"name": "crs", "start": {"after": "F1", "hours": 25}, "set": {"crs_grade": 1}}
    result = run(p, dict(crs, hours=13))
    check_run(result)
    assert [(e.time_h, e.kind) for e in result.events[-2:]] == [
        (35.0, "state_change"),
        (48.0, "end"),
    ]
