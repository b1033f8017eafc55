"""The schedule invariants with the virtual-patient model as the toxicity source (200 cases).

The same generated protocols and patients as ``test_schedule_invariants``, but the
patient's CRS, ICANS, IEC-HS, GVHD, cytopenia, infection, disease and death come from
the model (:class:`sim.engine.virtual_patient.VirtualPatient`) with latent traits drawn
for a generated root seed and cohort index, over the cohort follow-up (760 days). Checked
by :func:`tests.property.invariants.check_run`; the run must also be reproducible.
"""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from sim.cohort import FOLLOW_UP_DAYS, CohortSetup, virtual_patient
from sim.engine.run import run_course
from sim.engine.virtual_patient import VirtualPatient
from sim.model.latent import draw_latent
from sim.model.parameters import load_parameters
from sim.spec.protocol import Protocol
from sim.spec.scenario import Patient
from tests.property.invariants import check_run, features
from tests.property.profiles import budget
from tests.property.strategies import patients, protocols

EXAMPLES = 200
"""Generated protocol/patient/seed cases per run of the suite (see profiles.py to scale)."""


@st.composite
def model_cases(draw: st.DrawFn) -> tuple[Protocol, Patient, int, int]:
    protocol = draw(protocols())
    seed = draw(st.integers(0, 2**32 - 1))
    index = draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        patient = virtual_patient(CohortSetup(seed=seed), index)
    else:
        patient = draw(patients())
    return protocol, patient, seed, index


@budget(EXAMPLES)
@given(model_cases())
def test_schedule_invariants_with_the_virtual_patient_model(
    case: tuple[Protocol, Patient, int, int],
) -> None:
    protocol, patient, seed, index = case

    def run() -> tuple[object, ...]:
        source = VirtualPatient(load_parameters(), draw_latent(seed, index))
        result = run_course(
            protocol, patient, toxicity=source, seed=seed, horizon_day=FOLLOW_UP_DAYS
        )
        check_run(result, horizon_day=FOLLOW_UP_DAYS)
        for feature in features(result):
            event(feature)
        return result.events

    assert run() == run(), "same inputs give identical output"
