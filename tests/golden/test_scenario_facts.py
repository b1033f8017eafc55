"""What each teaching scenario must show, checked independently of the golden files."""

from __future__ import annotations

import itertools

import pytest

from sim.metrics import patient_metrics
from sim.records import decisions, ledger, schedule
from sim.targets import run_target


def test_fractionated_no_toxicity_gives_four_fractions_24h_apart() -> None:
    result = run_target("fractionated-no-toxicity")
    doses = ledger(result.events)
    assert [d["cells_per_kg"] for d in doses] == pytest.approx([1e5, 3e5, 6e5, 2e6])
    assert [d["cells"] for d in doses] == pytest.approx([7e6, 2.1e7, 4.2e7, 1.4e8])
    times = [d["time_h"] for d in doses]
    assert all(b - a >= 24 for a, b in itertools.pairwise(times))
    assert all(d["action"] == "give" for d in decisions(result.events))


def test_crs_hold_holds_fraction_3_then_resumes() -> None:
    result = run_target("fractionated-crs-hold")
    rows = {r["fraction"]: r for r in schedule(result.events)}
    assert rows["F3"]["status"] == "given" and rows["F3"]["held_h"] > 0
    assert rows["F4"]["status"] == "given"
    f3_decisions = [d for d in decisions(result.events) if d["fraction"] == "F3"]
    assert {d["action"] for d in f3_decisions[:-1]} == {"delay"}
    assert f3_decisions[-1]["action"] == "give"
    assert f3_decisions[-1]["state"]["crs_grade"] == 0
    assert rows["F4"]["time_h"] - rows["F3"]["time_h"] >= 24
    assert patient_metrics(result.events)["crs_max_grade"] == 2


def test_crs_stop_ends_protocol_and_records_undelivered_fractions() -> None:
    result = run_target("fractionated-crs-stop")
    rows = {r["fraction"]: r["status"] for r in schedule(result.events)}
    assert rows == {"F1": "given", "F2": "given", "F3": "not_given", "F4": "not_given"}
    m = patient_metrics(result.events)
    assert m["stopped"] and m["given_cells_per_kg"] == pytest.approx(4e5)


def test_single_dose_cns_visits_and_day_28_response() -> None:
    result = run_target("single-dose-cns")
    doses = ledger(result.events)
    assert len(doses) == 1 and doses[0]["cells_per_kg"] == pytest.approx(5e6)
    visits = [e.data["visit_day"] for e in result.events if e.kind == "visit"]
    assert visits[:6] == [1, 3, 7, 10, 14, 21]  # then monthly (an assumption of the file)
    assessment = next(e for e in result.events if e.kind == "assessment")
    assert assessment.day == 28 and assessment.data["response"] == "MRD-negative CR"


def test_car_dli_relapse_triggers_repeat_and_gvhd_stops_escalation() -> None:
    result = run_target("car-dli-gvhd")
    repeats = [d for d in ledger(result.events) if d["phase"] == "repeat"]
    assert len(repeats) == 1 and repeats[0]["day"] >= 90
    stop = next(e for e in result.events if e.kind == "stop")
    assert stop.data["fraction"] == "R2" and "gvhd" in stop.data["rule"].lower()


def test_ld_window_expired_repeats_ld_and_renumbers_day_zero() -> None:
    result = run_target("ld-window-expired")
    expired = [e for e in result.events if e.kind == "ld_expired"]
    assert len(expired) == 1
    courses = {e.data["course"] for e in result.events if e.kind == "ld_dose"}
    assert courses == {1, 2}
    first = ledger(result.events)[0]
    assert first["day"] == 0
    first_ld = next(e for e in result.events if e.kind == "ld_dose")
    assert first_ld.day < -14
