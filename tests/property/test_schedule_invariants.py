"""Invariants that hold for any valid protocol, patient and toxicity script.

``EXAMPLES`` (1,000) generated cases per run of the suite, each run twice (the second run
must give the identical event log). The cases come from :mod:`tests.property.strategies`
(every protocol feature: dose kinds, gates with every action and timeout, deadlines,
carry-forward, LD windows, repeat dosing, follow-up; half of them with the typical
CRS/fever hold so that holds resume) and are checked by
:func:`tests.property.invariants.check_run`. ``--hypothesis-show-statistics`` lists what
the cases exercised (holds, resumes, skips, stops, reductions, carried cells, deadlines,
repeated LD, repeat doses).
"""

from __future__ import annotations

from hypothesis import event, given

from sim.engine.run import run_course
from sim.engine.scripted import ScriptedToxicity
from sim.spec.protocol import Protocol
from sim.spec.scenario import Episode, Patient
from tests.property.invariants import check_run, features
from tests.property.profiles import budget
from tests.property.strategies import cases

EXAMPLES = 1000


@budget(EXAMPLES)
@given(cases())
def test_schedule_invariants(case: tuple[Protocol, Patient, list[Episode]]) -> None:
    protocol, patient, script = case
    result = run_course(protocol, patient, toxicity=ScriptedToxicity(script))
    check_run(result)
    for feature in features(result):
        event(feature)
    again = run_course(protocol, patient, toxicity=ScriptedToxicity(script))
    assert again.events == result.events, "same inputs give identical output"
