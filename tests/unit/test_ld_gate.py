"""Lymphodepletion's own gate: no LD dose while an infection hold applies (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.run import RunResult
from sim.spec.checks import check_protocol
from sim.spec.protocol import Protocol
from sim.targets import run_target
from tests.factories import BASE, kinds, protocol, run

INFECTION = {
    "name": "ld-infection",
    "when": "active_infection",
    "action": "delay",
    "recheck_h": 24,
    "max_wait_h": 240,
    "on_timeout": "stop",
}


def ld(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "regimen": "Flu/Cy x3",
        "drugs": [
            {"name": "fludarabine", "mg_per_m2": 30, "days": [-5, -4, -3]},
            {"name": "cyclophosphamide", "mg_per_m2": 300, "days": [-5, -4, -3], "hour": 13},
        ],
        "validity": {"max_days_after_ld": 7, "on_expiry": "repeat_ld", "max_repeats": 1},
        "gate": [INFECTION],
    }
    data.update(changes)
    return data


def infection_at(result: RunResult, time_h: float) -> bool:
    """The infection state at ``time_h``, rebuilt from the log (same-time changes first)."""
    state = False
    for ev in kinds(result, "state_change"):
        if ev.data["variable"] == "active_infection" and ev.time_h <= time_h:
            state = ev.data["new"]
    return bool(state)


def assert_no_ld_dose_during_infection(result: RunResult) -> None:
    for dose in kinds(result, "ld_dose"):
        assert not infection_at(result, dose.time_h), f"LD dose at {dose.time_h} h in infection"


def test_an_infection_before_ld_postpones_the_course_and_the_infusion_keeps_its_gap() -> None:
    p = protocol(lymphodepletion=ld())
    ep = {"name": "i", "start": {"day": -6}, "set": {"active_infection": True}}
    result = run(p, {**ep, "hours": 60})
    assert_no_ld_dose_during_infection(result)
    doses = kinds(result, "ld_dose")
    assert len(doses) == 6
    # infection day -6 00:00 to day -4 12:00: the course starts at the day -3 check (09:00)
    # and its three days follow; day 0 is renumbered to the first infusion
    first_infusion = kinds(result, "infusion")[0]
    assert first_infusion.time_h == 10.0
    assert [d.day for d in doses] == [-5, -5, -4, -4, -3, -3]
    resume = next(e for e in kinds(result, "resume") if e.data["fraction"] == "LD")
    assert resume.data["held_by"] == {"ld-infection": 48.0}


def test_an_infection_in_the_middle_of_the_course_holds_the_rest() -> None:
    p = protocol(lymphodepletion=ld())
    # day -4 08:00 to day -3 14:00: the 09:00 checks of days -4 and -3 hold, day -2 clears
    ep = {"name": "i", "start": {"day": -4, "hour": 8}, "set": {"active_infection": True}}
    result = run(p, {**ep, "hours": 30})
    assert_no_ld_dose_during_infection(result)
    days = [d.day for d in kinds(result, "ld_dose")]
    assert days == [-7, -7, -4, -4, -3, -3]  # renumbered: the course took two days longer
    assert kinds(result, "infusion")[0].day == 0


def test_an_infection_that_outlasts_the_hold_stops_before_any_cells() -> None:
    p = protocol(lymphodepletion=ld())
    result = run(p, {"name": "i", "start": {"day": -6}, "set": {"active_infection": True}})
    assert kinds(result, "ld_dose") == []
    assert kinds(result, "infusion") == []
    (stop,) = kinds(result, "stop")
    assert stop.data["fraction"] == "LD" and stop.data["rule"] == "ld-infection"
    assert "held 10 days for rule ld-infection" in stop.data["reason"]
    assert {e.data["fraction"] for e in kinds(result, "not_given")} == {"F1", "F2", "F3"}


@settings(max_examples=60, deadline=None)
@given(
    start_h=st.integers(-8 * 24, 12 * 24),
    hours=st.integers(1, 20 * 24),
    fraction_gate=st.booleans(),
)
def test_no_ld_dose_is_given_while_an_infection_hold_applies(
    start_h: int, hours: int, fraction_gate: bool
) -> None:
    fractions = [
        dict(f, gate=[dict(INFECTION, name="infection")] if fraction_gate else [])
        for f in BASE["fractions"]
    ]
    p = protocol(lymphodepletion=ld(), fractions=fractions)
    day, hour = divmod(start_h, 24)
    ep = {"name": "i", "start": {"day": day, "hour": hour}, "set": {"active_infection": True}}
    result = run(p, {**ep, "hours": hours})
    assert_no_ld_dose_during_infection(result)
    gates = [e for e in kinds(result, "gate") if e.data["fraction"] == "LD"]
    for dose in kinds(result, "ld_dose"):
        assert any(g.time_h <= dose.time_h and g.data["action"] == "give" for g in gates)


def test_the_ld_window_scenario_repeats_ld_only_once_the_infection_is_controlled() -> None:
    result = run_target("ld-window-expired")
    assert_no_ld_dose_during_infection(result)
    courses = {d.data["course"] for d in kinds(result, "ld_dose")}
    assert courses == {1, 2}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"name": "x", "when": "fever", "action": "skip"}, "can delay or stop, not 'skip'"),
        (dict(INFECTION, on_timeout="skip"), "on_timeout is 'stop'"),
    ],
)
def test_ld_gate_actions_are_checked(rule: dict[str, Any], message: str) -> None:
    p = Protocol.model_validate({**BASE, "lymphodepletion": ld(gate=[rule])})
    assert any(message in text for _, text in check_protocol(p))


def test_an_unknown_shared_ld_gate_is_named() -> None:
    p = Protocol.model_validate({**BASE, "lymphodepletion": ld(gate=[], use_gate="nope")})
    assert [path for path, _ in check_protocol(p)] == [("lymphodepletion", "use_gate")]


def test_a_repeat_course_its_gate_stops_names_that_reason_for_the_fractions_not_given() -> None:
    fractions = [dict(f, gate=[dict(INFECTION, name="infection")]) for f in BASE["fractions"]]
    p = protocol(lymphodepletion=ld(), fractions=fractions)
    # from day -2 on: F1 is held, the 7-day window expires, the repeat course is held 10 days
    result = run(p, {"name": "i", "start": {"day": -2}, "set": {"active_infection": True}})
    assert {d.data["course"] for d in kinds(result, "ld_dose")} == {1}
    stops = kinds(result, "stop")
    assert [s.data["fraction"] for s in stops] == ["LD"]
    for not_given in kinds(result, "not_given"):
        assert "still held after 10 days" in not_given.data["reason"]
