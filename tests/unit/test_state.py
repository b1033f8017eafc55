"""Patient state: contributions, worst-value rules and ASTCT grading from signs."""

from __future__ import annotations

from sim.engine.state import Contribution, PatientState
from sim.spec.scenario import CrsSigns, IcansSigns
from sim.spec.variables import VARIABLES
from tests.factories import PATIENT


def test_state_provides_every_registered_variable_with_its_kind() -> None:
    state = PatientState(PATIENT)
    assert set(state.values) == set(VARIABLES)
    for name, var in VARIABLES.items():
        value = state.values[name]
        if var.kind == "bool":
            assert isinstance(value, bool), name
        else:
            assert not isinstance(value, bool) and var.low <= value <= var.high, name


def test_worst_active_contribution_wins_and_withdrawal_restores() -> None:
    state = PatientState(PATIENT)
    state.contribute("a", Contribution({"crs_grade": 1}))
    changes = state.contribute("b", Contribution({"crs_grade": 3}))
    assert [(c.variable, c.old, c.new) for c in changes if c.variable == "crs_grade"] == [
        ("crs_grade", 1, 3)
    ]
    state.contribute("b", None)
    assert state["crs_grade"] == 1
    state.contribute("a", None)
    assert state["crs_grade"] == 0


def test_crs_signs_are_graded_and_drive_fever() -> None:
    state = PatientState(PATIENT)
    state.contribute(
        "s",
        Contribution(
            {},
            crs_signs=CrsSigns(
                temperature_c=39.0, hypotension="one_vasopressor", oxygen="low_flow"
            ),
        ),
    )
    assert state["crs_grade"] == 3  # fever + 1 vasopressor + low-flow NC (ASTCT example)
    assert state["fever"] is True and state["temperature_c"] == 39.0


def test_icans_signs_grade_and_ice_score_takes_the_worst() -> None:
    state = PatientState(PATIENT)
    state.contribute("i", Contribution({}, icans_signs=IcansSigns(ice_score=5)))
    state.contribute("j", Contribution({"ice_score": 8}))
    assert state["icans_grade"] == 2
    assert state["ice_score"] == 5


def test_since_last_dose_tracks_the_worst_grade_and_resets_at_a_dose() -> None:
    state = PatientState(PATIENT)
    state.contribute("a", Contribution({"crs_grade": 2}))
    state.contribute("a", None)
    assert state["crs_grade"] == 0 and state["crs_max_since_last_dose"] == 2
    state.dose_given()
    assert state["crs_max_since_last_dose"] == 0 and state["doses_given"] == 1


def test_latest_value_wins_for_blasts() -> None:
    state = PatientState(PATIENT)
    assert state["marrow_blasts_pct"] == 30
    state.contribute("a", Contribution({"marrow_blasts_pct": 0}))
    assert state["marrow_blasts_pct"] == 0
    state.contribute("b", Contribution({"marrow_blasts_pct": 12}))
    assert state["marrow_blasts_pct"] == 12
    # a replaced contribution is the newest, even if its source spoke first
    state.contribute("a", Contribution({"marrow_blasts_pct": 5}))
    assert state["marrow_blasts_pct"] == 5
    # withdrawing the newest brings back the one before it
    state.contribute("a", None)
    assert state["marrow_blasts_pct"] == 12
