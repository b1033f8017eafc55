"""Replay: a run's realised doses, as a fixed protocol with no gates, give the same patient.

For every run: take its ledger (and its lymphodepletion), build the fixed protocol
(:func:`sim.replay.replay_protocol`), run it with the same patient, seed and toxicity
source, and compare what happened to the patient by time since the first infusion
(:func:`sim.replay.patient_trace`: every state change - CRS, ICANS, IEC-HS and GVHD
grades, fever, infection, cytopenia, disease -, the model's kinetics and expansion peak,
death, visits, the response assessment, the doses and the end). They must be identical,
exactly (no tolerance). Cases: ``SCRIPTED_EXAMPLES`` generated protocol/patient/script
cases, ``MODEL_EXAMPLES`` generated protocol/patient/seed cases with the virtual-patient
model, every built-in scenario, and every built-in protocol for 3 seeds x 4 virtual
patients.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.cohort import FOLLOW_UP_DAYS, CohortSetup, run_patient_result, virtual_patient
from sim.engine.run import RunResult, ToxicitySource, run_course
from sim.engine.scripted import ScriptedToxicity
from sim.engine.virtual_patient import VirtualPatient
from sim.model.latent import draw_latent
from sim.model.parameters import load_parameters
from sim.replay import ReplayError, patient_trace, replay, replay_protocol
from sim.spec.checks import check_protocol
from sim.spec.load import LoadedScenario, builtin_ids, load_protocol, load_target
from sim.spec.protocol import Protocol
from sim.spec.scenario import Episode, Patient
from tests.factories import CRS_DELAY, episodes, protocol, run
from tests.property.profiles import budget
from tests.property.strategies import cases, patients, protocols

SCRIPTED_EXAMPLES = 300
MODEL_EXAMPLES = 100


def check_replay(
    original: RunResult, source: ToxicitySource | None, horizon_day: int | None = None
) -> RunResult | None:
    """Replay ``original`` and assert the patient is identical; None if nothing was given."""
    if not any(e.kind == "infusion" for e in original.events):
        with pytest.raises(ReplayError, match="gave no CAR-T dose"):
            replay_protocol(original)
        return None
    fixed = replay_protocol(original)
    assert not fixed.gates and fixed.repeat_dosing is None and fixed.dose_ladder is None
    assert all(not fr.gate and fr.use_gate is None for fr in fixed.fractions)
    if len(fixed.fractions) <= 50:  # the limit of a protocol file
        assert list(check_protocol(fixed)) == [], "the replay is a valid protocol"
    again = replay(original, source, horizon_day=horizon_day)
    assert patient_trace(again) == patient_trace(original)
    gates = [e for e in again.events if e.kind == "gate"]
    assert all(g.data["action"] == "give" and g.data["rule"] is None for g in gates)
    return again


@budget(SCRIPTED_EXAMPLES)
@given(cases())
def test_replay_of_generated_scripted_runs(case: tuple[Protocol, Patient, list[Episode]]) -> None:
    protocol, patient, script = case
    original = run_course(protocol, patient, toxicity=ScriptedToxicity(script), seed=3)
    check_replay(original, ScriptedToxicity(script))


@st.composite
def model_cases(draw: st.DrawFn) -> tuple[Protocol, Patient, int, int]:
    seed, index = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 10_000))
    patient = (
        virtual_patient(CohortSetup(seed=seed), index) if draw(st.booleans()) else draw(patients())
    )
    return draw(protocols()), patient, seed, index


@budget(MODEL_EXAMPLES)
@given(model_cases())
def test_replay_of_generated_virtual_patient_runs(case: tuple[Protocol, Patient, int, int]) -> None:
    protocol, patient, seed, index = case

    def source() -> VirtualPatient:
        return VirtualPatient(load_parameters(), draw_latent(seed, index))

    original = run_course(
        protocol, patient, toxicity=source(), seed=seed, horizon_day=FOLLOW_UP_DAYS
    )
    check_replay(original, source(), FOLLOW_UP_DAYS)


@pytest.mark.parametrize("ident", builtin_ids("scenario"))
def test_replay_of_every_built_in_scenario(ident: str) -> None:
    loaded = load_target(ident)
    assert isinstance(loaded, LoadedScenario)
    sc = loaded.scenario
    original = run_course(
        loaded.protocol.protocol,
        sc.patient,
        toxicity=ScriptedToxicity(sc.episodes),
        seed=sc.seed,
    )
    assert check_replay(original, ScriptedToxicity(sc.episodes)) is not None


@pytest.mark.parametrize("ident", builtin_ids("protocol"))
def test_replay_of_every_built_in_protocol_with_virtual_patients(ident: str) -> None:
    loaded = load_protocol(ident)
    compared: set[str] = set()
    for seed in (0, 1, 7):
        setup = CohortSetup(seed=seed)
        for index in range(4):
            original = run_patient_result(loaded, setup, index)
            source = VirtualPatient(setup.parameters(), draw_latent(seed, index))
            if check_replay(original, source, FOLLOW_UP_DAYS) is not None:
                compared |= {entry[1] for entry in patient_trace(original)}
    assert {"kinetics", "state_change", "dose"} <= compared, "the comparison has substance"


def test_a_late_first_infusion_is_replayed_on_the_same_clock() -> None:
    """F1 held two days: the original renumbers day 0; the replay numbers it day 2."""
    p = protocol(
        fractions=[dict(f, gate=[CRS_DELAY]) for f in protocol().model_dump()["fractions"]]
    )
    script = (
        {"name": "early crs", "start": {"day": -1}, "set": {"crs_grade": 1}, "hours": 48},
        {"name": "late fever", "start": {"day": 5, "hour": 9}, "set": {"temperature_c": 39}},
        {"name": "after F2", "start": {"after": "F2", "hours": 3}, "set": {"icans_grade": 1}},
    )
    original = run(p, *script)
    first = next(e for e in original.events if e.kind == "infusion")
    assert (first.time_h, first.day) == (10.0, 0)  # renumbered: given on planned day 1
    fixed = replay_protocol(original)
    assert fixed.calendar.anchor_day == 1
    assert [(f.id, f.day, f.hour) for f in fixed.fractions] == [
        ("F1", 1, 10.0),
        ("F2", 2, 10.0),
        ("F3", 3, 10.0),
    ]
    again = check_replay(original, episodes(*script))
    assert again is not None
    first_again = next(e for e in again.events if e.kind == "infusion")
    assert first_again.day == 1  # the replay's own calendar: the planned one


def test_replay_keeps_a_repeated_lymphodepletion() -> None:
    loaded = load_target("ld-window-expired")
    assert isinstance(loaded, LoadedScenario)
    sc = loaded.scenario
    original = run_course(
        loaded.protocol.protocol, sc.patient, toxicity=ScriptedToxicity(sc.episodes)
    )
    courses = {e.data["course"] for e in original.events if e.kind == "ld_dose"}
    assert courses == {1, 2}
    fixed = replay_protocol(original)
    assert fixed.lymphodepletion is not None and fixed.lymphodepletion.validity is None
    ld_times = [e.time_h for e in original.events if e.kind == "ld_dose"]
    again = check_replay(original, ScriptedToxicity(sc.episodes))
    assert again is not None
    shift_h = (fixed.calendar.anchor_day - loaded.protocol.protocol.calendar.anchor_day) * 24
    assert [e.time_h - shift_h for e in again.events if e.kind == "ld_dose"] == ld_times


def test_a_run_without_any_dose_cannot_be_replayed() -> None:
    p = protocol(
        fractions=[
            {
                "id": "F1",
                "dose": {"cells_per_kg": 1e5},
                "gate": [{"name": "fever", "when": "fever", "action": "stop"}],
            }
        ]
    )
    original = run(p, {"name": "fever", "start": {"day": -1}, "set": {"temperature_c": 39}})
    with pytest.raises(ReplayError, match="protocol 'test': the run gave no CAR-T dose"):
        replay(original)


def test_replay_with_another_script_is_not_identical() -> None:
    """The comparison can fail: a different toxicity source gives a different trace."""
    p = protocol()
    original = run(
        p, {"name": "crs", "start": {"after": "F1", "hours": 5}, "set": {"crs_grade": 2}}
    )
    other = replay(
        original,
        episodes({"name": "crs", "start": {"after": "F1", "hours": 6}, "set": {"crs_grade": 2}}),
    )
    assert patient_trace(other) != patient_trace(original)
    assert patient_trace(replay(original, None)) != patient_trace(original)


def test_replay_with_another_virtual_patient_is_not_identical() -> None:
    loaded, setup = load_protocol("cart19-be-02"), CohortSetup(seed=0)
    original = run_patient_result(loaded, setup, 0)
    same = VirtualPatient(setup.parameters(), draw_latent(0, 0))
    other = VirtualPatient(setup.parameters(), draw_latent(0, 1))
    assert patient_trace(replay(original, same, horizon_day=FOLLOW_UP_DAYS)) == patient_trace(
        original
    )
    assert patient_trace(replay(original, other, horizon_day=FOLLOW_UP_DAYS)) != patient_trace(
        original
    )
