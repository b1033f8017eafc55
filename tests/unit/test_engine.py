"""The SimPy engine: timing, gates, holds, ordering, LD windows, repeats, guards."""

from __future__ import annotations

import pytest

from sim.engine.run import run_course
from sim.errors import RunawayError
from sim.records import decisions, schedule
from tests.factories import (
    BASE,
    CRS_DELAY,
    PATIENT,
    episodes,
    gated,
    infusion_times,
    kinds,
    protocol,
    run,
)


def test_fractions_follow_min_interval_after_the_previous_given() -> None:
    result = run(protocol())
    assert infusion_times(result) == {"F1": 10.0, "F2": 34.0, "F3": 58.0}
    cells = [e.data["cells"] for e in kinds(result, "infusion")]
    assert cells == pytest.approx([7e6, 2.1e7, 4.2e7])


def test_gate_passes_are_logged_with_the_state_seen() -> None:
    result = run(gated([CRS_DELAY]))
    gates = kinds(result, "gate")
    assert [g.data["action"] for g in gates] == ["give"] * 3
    assert all(g.data["state"] == {"crs_grade": 0} for g in gates)
    assert all(g.data["rule"] is None and g.data["reason"] for g in gates)


def test_delay_holds_then_resumes_and_next_interval_counts_from_actual_time() -> None:
    # CRS grade 2 from 6 h after F1 (16:00 day 0) for 40 h (until 08:00 day 2)
    result = run(
        gated([CRS_DELAY]),
        {"name": "crs", "start": {"after": "F1", "hours": 6}, "set": {"crs_grade": 2}, "hours": 40},
    )
    times = infusion_times(result)
    # F2 due 34 h, held; re-checks at 46 h (still CRS), 58 h (clear) -> given at 58 h
    assert times["F2"] == 58.0
    assert times["F3"] == 82.0  # 24 h after F2 actually given, not after its plan
    actions = [(d["fraction"], d["action"]) for d in decisions(result.events)]
    assert actions == [
        ("F1", "give"),
        ("F2", "delay"),
        ("F2", "delay"),
        ("F2", "give"),
        ("F3", "give"),
    ]
    resume = kinds(result, "resume")
    assert [r.data["held_h"] for r in resume] == [24.0]


def test_delay_gives_up_after_max_wait_with_on_timeout() -> None:
    skip_rule = dict(CRS_DELAY, on_timeout="skip")
    result = run(
        gated([skip_rule]),
        {
            "name": "crs",
            "start": {"after": "F1", "hours": 1},
            "set": {"crs_grade": 1},
            "hours": 200,
        },
    )
    rows = {r["fraction"]: r["status"] for r in schedule(result.events)}
    assert rows["F2"] == "skipped"
    skip = kinds(result, "skip")[0]
    assert skip.time_h == 34.0 + 72.0
    assert "still held after 3 days (limit 3 days)" in skip.data["reason"]


def test_stop_records_remaining_fractions_as_not_given() -> None:
    result = run(
        gated([CRS_DELAY]),
        {
            "name": "crs",
            "start": {"after": "F1", "hours": 1},
            "set": {"crs_grade": 1},
            "hours": 500,
        },
    )
    rows = {r["fraction"]: r["status"] for r in schedule(result.events)}
    assert rows == {"F1": "given", "F2": "not_given", "F3": "not_given"}
    assert len(kinds(result, "infusion")) == 1
    assert all("protocol stopped" in e.data["reason"] for e in kinds(result, "not_given"))


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        (["give", "delay"], "delay"),
        (["delay", "reduce"], "delay"),
        (["reduce", "give"], "reduce"),
        (["skip", "delay"], "skip"),
        (["delay", "skip", "stop"], "stop"),
        (["stop", "skip"], "stop"),
    ],
)
def test_most_severe_action_wins(actions: list[str], expected: str) -> None:
    extra = {
        "delay": {"recheck_h": 12, "max_wait_h": 24, "on_timeout": "skip"},
        "reduce": {"at_floor": "give"},
    }
    rules = [
        dict({"name": f"r{i}", "when": "crs_grade >= 1", "action": a}, **extra.get(a, {}))
        for i, a in enumerate(actions)
    ]
    p = gated(rules, dose_ladder=[1.0, 0.5])
    result = run(p, {"name": "crs", "start": {"after": "F1", "hours": 1}, "set": {"crs_grade": 1}})
    f2 = next(d for d in decisions(result.events) if d["fraction"] == "F2")
    assert f2["action"] == expected
    # among equally severe rules the first listed one is reported
    assert f2["rule"] == f"r{actions.index(expected)}"


def test_same_time_order_assess_before_decide() -> None:
    # an episode starting exactly at F2's decision time is seen by the gate ...
    starts = run(
        gated([CRS_DELAY]),
        {"name": "crs", "start": {"day": 1, "hour": 10}, "set": {"crs_grade": 1}, "hours": 5},
    )
    assert decisions(starts.events)[1]["action"] == "delay"
    # ... and one ending exactly then is seen as ended
    ends = run(
        gated([CRS_DELAY]),
        {"name": "crs", "start": {"day": 1, "hour": 4}, "set": {"crs_grade": 1}, "hours": 6},
    )
    assert decisions(ends.events)[1]["action"] == "give"


def test_same_time_order_dose_before_observe() -> None:
    # an episode starting 0 h after F1 is applied after F1 is given, at the same instant
    result = run(
        gated([CRS_DELAY]),
        {"name": "crs", "start": {"after": "F1", "hours": 0}, "set": {"crs_grade": 1}, "hours": 1},
    )
    order = [e.kind for e in result.events if e.time_h == 10.0]
    assert order.index("infusion") < order.index("state_change")
    assert decisions(result.events)[0]["action"] == "give"


def test_deadline_gives_up_when_the_next_check_is_too_late() -> None:
    fractions = [
        {"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e5}},
        {
            "id": "F2",
            "day": 1,
            "latest_day": 2,
            "dose": {"cells_per_kg": 3e5},
            "gate": [dict(CRS_DELAY, max_wait_h=500, on_timeout="skip")],
        },
    ]
    result = run(
        protocol(fractions=fractions),
        {
            "name": "crs",
            "start": {"after": "F1", "hours": 1},
            "set": {"crs_grade": 1},
            "hours": 100,
        },
    )
    skip = kinds(result, "skip")[0]
    # checks at 34, 46, 58 h; the next (70 h) would be after the end of day 2 (72 h)? no:
    # 70 < 72 so it is checked; 82 >= 72 -> give up at 70 h
    assert skip.time_h == 70.0
    assert "deadline" in skip.data["reason"]


def test_missed_deadline_without_hold() -> None:
    fractions = [
        {"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e5}},
        {
            "id": "F2",
            "day": 0,
            "latest_day": 0,
            "min_interval_h": 24,
            "if_missed": "stop",
            "dose": {"cells_per_kg": 3e5},
        },
    ]
    result = run(protocol(fractions=fractions))
    assert kinds(result, "stop")[0].data["rule"] == "deadline"


def test_carry_forward_adds_skipped_cells_to_the_next_fraction() -> None:
    skip = {"name": "crs", "when": "crs_grade >= 1", "action": "skip"}
    fractions = [dict(f) for f in BASE["fractions"]]
    fractions[1]["gate"] = [skip]
    crs = {
        "name": "crs",
        "start": {"after": "F1", "hours": 1},
        "set": {"crs_grade": 1},
        "hours": 30,
    }
    result = run(protocol(fractions=fractions, undelivered="carry_forward"), crs)
    f3 = next(e for e in kinds(result, "infusion") if e.data["fraction"] == "F3")
    assert f3.time_h == 34.0  # 24 h after F1, the last fraction actually given
    assert f3.data["carried_in_cells"] == pytest.approx(2.1e7)
    assert f3.data["cells"] == pytest.approx(2.1e7 + 4.2e7)
    dropped = run(protocol(fractions=fractions), crs)
    f3d = next(e for e in kinds(dropped, "infusion") if e.data["fraction"] == "F3")
    assert f3d.data["cells"] == pytest.approx(4.2e7)
    assert f3d.data["carried_in_cells"] == 0.0


def test_reduce_steps_down_the_ladder_and_never_re_escalates() -> None:
    rule = {"name": "fever", "when": "fever", "action": "reduce", "at_floor": "stop"}
    p = gated([rule], dose_ladder=[1.0, 0.5])
    result = run(
        p,
        {
            "name": "fever",
            "start": {"after": "F1", "hours": 1},
            "set": {"temperature_c": 38.5},
            "hours": 30,
        },
    )
    doses = {e.data["fraction"]: e.data["dose_level"] for e in kinds(result, "infusion")}
    assert doses == {"F1": 1.0, "F2": 0.5, "F3": 0.5}
    # at the floor, the rule's at_floor applies
    floor = run(
        p,
        {
            "name": "fever",
            "start": {"after": "F1", "hours": 1},
            "set": {"temperature_c": 38.5},
            "hours": 100,
        },
    )
    assert [e.data["fraction"] for e in kinds(floor, "infusion")] == ["F1", "F2"]
    assert kinds(floor, "stop")[0].data["fraction"] == "F3"


def test_ld_window_expiry_stops_when_configured() -> None:
    ld = {
        "regimen": "Flu/Cy",
        "drugs": [{"name": "fludarabine", "mg_per_m2": 30, "days": [-5, -4, -3]}],
        "validity": {"max_days_after_ld": 7, "on_expiry": "stop"},
    }
    rule = {
        "name": "infection",
        "when": "active_infection",
        "action": "delay",
        "recheck_h": 24,
        "max_wait_h": 1000,
        "on_timeout": "stop",
    }
    result = run(
        gated([rule], lymphodepletion=ld),
        {"name": "infection", "start": {"day": -1}, "set": {"active_infection": True}},
    )
    assert not kinds(result, "infusion")
    stop = kinds(result, "stop")[0]
    assert stop.data["rule"] == "ld-validity"
    # planned day 5 is 8 days after day -3: the first day beyond the 7-day window
    assert stop.time_h == 5 * 24 + 10
    assert kinds(result, "end")[0].data["reason"].startswith("the protocol stopped")


def test_day_zero_is_renumbered_to_the_first_infusion() -> None:
    rule = {
        "name": "infection",
        "when": "active_infection",
        "action": "delay",
        "recheck_h": 24,
        "max_wait_h": 1000,
        "on_timeout": "stop",
    }
    result = run(
        gated([rule]),
        {
            "name": "infection",
            "start": {"day": -1},
            "set": {"active_infection": True},
            "hours": 24 * 4,
        },
    )
    first = kinds(result, "infusion")[0]
    assert first.time_h == 10.0 and first.day == 0
    assert kinds(result, "visit")[0].data["visit_day"] == 7
    assert kinds(result, "visit")[0].day == 7
    planned = kinds(result, "planned")[0]
    assert planned.data["planned_time_h"] == 10.0 - 3 * 24


def test_anchor_day_one_numbers_the_first_infusion_day_one() -> None:
    fractions = [
        dict(f, day=i + 1)
        for i, f in enumerate(
            [
                {"id": "F1", "dose": {"cells_per_kg": 1e5}},
                {"id": "F2", "dose": {"cells_per_kg": 3e5}},
            ]
        )
    ]
    result = run(protocol(calendar={"anchor_day": 1, "infusion_hour": 9}, fractions=fractions))
    assert [e.day for e in kinds(result, "infusion")] == [1, 2]


def test_repeat_dosing_escalates_and_stops_on_a_stop_condition() -> None:
    rep = {
        "label": "DLI",
        "trigger": "relapse",
        "earliest_day": 28,
        "ladder": [{"cells_per_kg": 1e6}, {"cells_per_kg": 3e6}, {"cells_per_kg": 1e7}],
        "min_interval_days": 56,
        "max_doses": 3,
        "gate": [{"name": "gvhd", "when": "gvhd_grade >= 2", "action": "stop"}],
        "stop_when": [{"name": "response", "when": "in_remission", "reason": "response"}],
    }
    p = protocol(
        fractions=[BASE_F1], repeat_dosing=rep, follow_up={"response_day": 28, "horizon_day": 365}
    )
    result = run(p, {"name": "relapse", "start": {"day": 60, "hour": 8}, "set": {"relapse": True}})
    repeats = [e for e in kinds(result, "infusion") if e.data["phase"] == "repeat"]
    assert [e.day for e in repeats] == [60, 116, 172]
    assert [e.data["cells_per_kg"] for e in repeats] == pytest.approx([1e6, 3e6, 1e7])
    gvhd = run(
        p,
        {"name": "relapse", "start": {"day": 60, "hour": 8}, "set": {"relapse": True}},
        {"name": "gvhd", "start": {"day": 100}, "set": {"gvhd_grade": 2}},
    )
    assert len([e for e in kinds(gvhd, "infusion") if e.data["phase"] == "repeat"]) == 1
    assert kinds(gvhd, "stop")[0].data["fraction"] == "R2"
    response = run(
        p,
        {
            "name": "relapse",
            "start": {"day": 60, "hour": 8},
            "set": {"relapse": True},
            "hours": 24 * 30,
        },
        {"name": "remission", "start": {"day": 90}, "set": {"in_remission": True}},
    )
    ended = kinds(response, "repeat_phase")[-1]
    assert ended.data["status"] == "ended" and "response" in ended.data["reason"]


BASE_F1 = {"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e6}}


def test_runaway_guard_stops_a_run_with_too_many_events() -> None:
    rule = dict(CRS_DELAY, recheck_h=0.01, max_wait_h=24 * 300)
    p = gated([rule], follow_up={"response_day": None, "horizon_day": 400})
    script = episodes(
        {"name": "crs", "start": {"after": "F1", "hours": 1}, "set": {"crs_grade": 1}}
    )
    with pytest.raises(RunawayError, match="simulation events"):
        run_course(p, PATIENT, toxicity=script, max_events=5_000)
    with pytest.raises(RunawayError, match="gate checks"):
        run(p, {"name": "crs", "start": {"after": "F1", "hours": 1}, "set": {"crs_grade": 1}})


def test_same_inputs_give_identical_events() -> None:
    eps = (
        {
            "name": "crs",
            "start": {"after": "F1", "hours": 6},
            "crs_signs": {"temperature_c": 39, "hypotension": "fluids"},
            "hours": 40,
        },
    )
    a = run(gated([CRS_DELAY]), *eps)
    b = run(gated([CRS_DELAY]), *eps)
    assert a.events == b.events


def test_confirm_days_delays_the_first_repeat_and_needs_the_trigger_still_met() -> None:
    rep = {
        "label": "DLI",
        "trigger": "relapse",
        "earliest_day": 28,
        "ladder": [{"cells_per_kg": 1e6}],
        "min_interval_days": 56,
        "confirm_days": 7,
        "max_doses": 1,
    }
    p = protocol(
        fractions=[BASE_F1], repeat_dosing=rep, follow_up={"response_day": 28, "horizon_day": 365}
    )
    relapse = {"name": "relapse", "start": {"day": 60, "hour": 8}, "set": {"relapse": True}}
    result = run(p, relapse)
    (repeat,) = [e for e in kinds(result, "infusion") if e.data["phase"] == "repeat"]
    assert repeat.time_h == 67 * 24 + 10  # day 60 08:00 + 7 days, at the dosing hour
    gone = run(p, {**relapse, "hours": 72})  # not confirmed: gone before day 67
    assert [e for e in kinds(gone, "infusion") if e.data["phase"] == "repeat"] == []
    ended = [e for e in kinds(gone, "repeat_phase") if e.data["status"] == "ended"]
    assert "trigger no longer met" in ended[0].data["reason"]
