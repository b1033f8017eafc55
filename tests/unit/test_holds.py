"""A hold's time limit and stop message name every rule that held the dose, and for how
long each (issue 15): not only the last one."""

from __future__ import annotations

from sim.engine.infusion import Hold
from tests.factories import gated, kinds, run

INFECTION = {
    "name": "infection",
    "when": "active_infection",
    "action": "delay",
    "recheck_h": 24,
    "max_wait_h": 168,
    "on_timeout": "stop",
}
CRS = {
    "name": "crs-or-icans",
    "when": "crs_grade >= 1 or icans_grade >= 1",
    "action": "delay",
    "recheck_h": 24,
    "max_wait_h": 168,
    "on_timeout": "stop",
}


def test_a_stop_after_two_rules_held_the_fraction_names_both_with_their_times() -> None:
    p = gated([CRS, INFECTION])
    # F1 day 0 10:00; F2 due day 1 10:00: infection days 1-6 (5 days), then CRS to the end
    result = run(
        p,
        {"name": "inf", "start": {"day": 1}, "set": {"active_infection": True}, "hours": 120},
        {"name": "crs", "start": {"day": 6}, "set": {"crs_grade": 2}},
    )
    (stop,) = kinds(result, "stop")
    assert stop.data["fraction"] == "F2"
    reason = stop.data["reason"]
    assert "held 5 days for rule infection, 2 days for rule crs-or-icans" in reason
    assert "still held after 7 days (limit 7 days)" in reason


def test_a_resume_records_each_rule_and_the_parts_add_up() -> None:
    p = gated([CRS, INFECTION])
    result = run(
        p,
        {"name": "inf", "start": {"day": 1}, "set": {"active_infection": True}, "hours": 48},
        {"name": "crs", "start": {"day": 3}, "set": {"crs_grade": 1}, "hours": 36},
    )
    (resume,) = kinds(result, "resume")
    assert resume.data["fraction"] == "F2"
    assert dict(resume.data["held_by"]) == {"infection": 48.0, "crs-or-icans": 48.0}
    assert sum(resume.data["held_by"].values()) == resume.data["held_h"] == 96.0


def test_hold_bookkeeping_counts_each_interval_for_the_rule_holding_at_its_start() -> None:
    hold = Hold(0.0)
    hold.check(0.0, "a")
    hold.check(12.0, "a")
    hold.check(24.0, "b")
    hold.check(60.0, None)
    assert hold.by_rule == {"a": 24.0, "b": 36.0}
    assert hold.describe() == "held 24 h for rule a, 36 h for rule b"
