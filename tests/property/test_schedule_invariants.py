"""Invariants that hold for any valid protocol, patient and toxicity script."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engine.gates import evaluate
from sim.engine.run import run_course
from sim.engine.scripted import ScriptedToxicity
from sim.records import decisions
from sim.spec.checks import gate_rules
from sim.spec.protocol import SEVERITY
from tests.property.strategies import episodes, patients, protocols

EXAMPLES = 300


@st.composite
def cases(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    protocol = draw(protocols())
    return protocol, draw(patients), draw(episodes(len(protocol.fractions)))


@settings(max_examples=EXAMPLES, deadline=None)
@given(cases())
def test_schedule_invariants(case) -> None:  # type: ignore[no-untyped-def]
    protocol, patient, script = case
    result = run_course(protocol, patient, toxicity=ScriptedToxicity(script))
    events = result.events
    times = [e.time_h for e in events]
    assert times == sorted(times), "event log is time-ordered"

    rules = {fr.id: gate_rules(protocol, fr.use_gate, fr.gate) for fr in protocol.fractions}
    min_interval = {fr.id: fr.min_interval_h for fr in protocol.fractions}
    last_given: float | None = None
    stopped = False
    for i, e in enumerate(events):
        if e.kind == "stop":
            stopped = True
        if e.kind != "infusion":
            continue
        assert not stopped, "nothing is given after the protocol stops"
        gate = next(g for g in reversed(events[:i]) if g.kind == "gate")
        assert gate.time_h == e.time_h and gate.data["fraction"] == e.data["fraction"]
        assert gate.data["action"] in ("give", "reduce")
        # re-evaluate the rules on the state the gate recorded: nothing said hold
        verdict = evaluate(rules[e.data["fraction"]], dict(gate.data["state"]))
        assert SEVERITY[verdict.action] <= SEVERITY["reduce"]
        if last_given is not None:
            assert e.time_h - last_given >= min_interval[e.data["fraction"]] - 1e-9
        last_given = e.time_h
        assert e.data["cells"] > 0

    planned = sum(e.data["cells"] for e in events if e.kind == "planned")
    given_cells = sum(e.data["cells"] for e in events if e.kind == "infusion")
    assert given_cells <= planned * (1 + 1e-9), "never more than planned"

    for d in decisions(events):
        assert d["action"] in ("give", "delay", "skip", "stop", "reduce")
        if d["action"] != "give":
            assert d["rule"] and d["reason"], "every non-give decision has a rule and a reason"

    horizon_h = (protocol.follow_up.horizon_day + 1) * 24
    assert times[-1] <= horizon_h + 1e-6
    assert events[-1].kind == "end"

    again = run_course(protocol, patient, toxicity=ScriptedToxicity(script))
    assert again.events == events, "same inputs give identical output"
