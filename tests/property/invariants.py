"""The schedule invariants, checked on one finished run from its event log alone.

:func:`check_run` is shared by the property tests (scripted toxicity and the
virtual-patient model). It re-derives from the log what the engine should have done and
asserts, for any valid protocol, patient and toxicity source:

* the log is time-ordered and ends with one ``end`` event, within the follow-up horizon
  (or when the protocol ends before any infusion), within the event guard and the
  gate-check guard;
* the state a gate recorded is the patient's true state (rebuilt from the
  ``state_change`` events), and the rules re-evaluated on it give the recorded action:
  no infusion while any rule says hold (delay, skip or stop), every non-give decision
  has a rule and a reason;
* no fraction before its minimum interval after the previous fraction given, before
  its nominal day, or after its deadline; no repeat dose before ``earliest_day``, closer
  than ``min_interval_days`` to the previous one, beyond ``max_doses``, or while a stop
  condition holds;
* delivered cells are never above planned (per fraction: planned + carried in, times
  the dose level; in total: at most the planned total) and no amount of cells is
  negative; carried-forward cells are exactly the cells of the skipped fraction;
* nothing is given after a stop or a death, and a stop lists every fraction not given;
* every hold ends in a resume, a skip or a stop before the fraction is given.
"""

from __future__ import annotations

import math
from typing import Any

from sim.dosing import resolve_dose
from sim.engine.course import MAX_CHECKS_PER_DOSE
from sim.engine.gates import evaluate
from sim.engine.run import MAX_EVENTS, RunResult
from sim.engine.state import baseline_values
from sim.records import Event
from sim.spec.checks import gate_rules
from sim.spec.protocol import GateRule

EPS = 1e-6  # hours: event times are rounded to 6 decimals
REL = 1e-9


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


def _check_verdict(ev: Event, rules: list[GateRule], recorded: dict[str, Any]) -> None:
    """The rules re-evaluated on the recorded state give the recorded decision."""
    action, rule = ev.data["action"], ev.data["rule"]
    if rule in ("ld-validity", "deadline"):
        assert action in ("delay", "stop", "skip"), ev
        return
    verdict = evaluate(rules, recorded)
    chosen = verdict.rule
    assert rule == (chosen.name if chosen is not None else None), (ev, verdict)
    if verdict.action == "give":
        assert action == "give", (ev, verdict)
        return
    assert chosen is not None
    if verdict.action == "delay":
        assert action in ("delay", chosen.on_timeout), (ev, verdict)
    elif verdict.action == "reduce":
        assert action in ("reduce", chosen.at_floor), (ev, verdict)
    else:
        assert action == verdict.action, (ev, verdict)


def check_run(result: RunResult, *, horizon_day: int | None = None) -> None:
    protocol, patient, events = result.protocol, result.patient, result.events
    weight = patient.weight_kg
    assert events, "a run has events"

    # --- the log as a whole ------------------------------------------------------------------
    times = [e.time_h for e in events]
    assert all(math.isfinite(t) for t in times)
    assert times == sorted(times), "event log is time-ordered"
    assert events[-1].kind == "end" and [e.kind for e in events].count("end") == 1
    assert result.sim_events <= MAX_EVENTS, "within the event guard"
    gate_checks = sum(1 for e in events if e.kind == "gate")
    assert gate_checks <= MAX_CHECKS_PER_DOSE * max(1, len(protocol.fractions))
    infusions = [e for e in events if e.kind == "infusion"]
    end = events[-1]
    if infusions:
        horizon = max(horizon_day or 0, protocol.follow_up.horizon_day)
        assert end.time_h <= (horizon + 1) * 24 + EPS, "the run ends within its horizon"
        assert end.data["reason"].startswith(("end of follow-up", "death")), end
    else:
        assert end.data["reason"].startswith(("the protocol", "death")), end
    for e in events:
        for key in ("cells", "cells_per_kg", "planned_cells", "carried_in_cells"):
            if key in e.data:
                value = e.data[key]
                assert math.isfinite(value) and value >= 0, f"negative or odd {key}: {e}"

    # --- rules, plans and the true state ---------------------------------------------------
    fractions = protocol.fractions
    order = {fr.id: i for i, fr in enumerate(fractions)}
    rules: dict[str, list[GateRule]] = {
        fr.id: gate_rules(protocol, fr.use_gate, fr.gate) for fr in fractions
    }
    rep = protocol.repeat_dosing
    if rep is not None:
        for n in range(1, rep.max_doses + 1):
            rules.setdefault(f"R{n}", gate_rules(protocol, rep.use_gate, rep.gate))
    planned = {e.data["fraction"]: e.data["cells"] for e in events if e.kind == "planned"}
    assert list(planned) == list(order), "one planned row per fraction, in order"
    ladder = protocol.dose_ladder or [1.0]

    state: dict[str, Any] = baseline_values(patient)
    state["crs_max_since_last_dose"] = state["icans_max_since_last_dose"] = 0
    state["doses_given"] = 0
    first_h: float | None = None
    stopped_at: float | None = None
    died = False
    given: set[str] = set()
    resolved: dict[str, str] = {}  # fraction -> infusion | skip
    last_given_h: float | None = None
    last_resolved_h: float | None = None
    started_after_first: dict[str, bool] = {}
    carried_next = 0.0
    skipped_carry: dict[str, float] = {}
    open_hold: dict[str, bool] = {}
    resumed: dict[str, bool] = {}
    repeat_last_h: float | None = None
    repeats_given = 0
    fraction_total = 0.0
    ld_times: list[float] = []

    for i, e in enumerate(events):
        kind, data = e.kind, e.data
        assert not died or kind == "end", f"nothing happens after death: {e}"
        if kind == "state_change":
            var = data["variable"]
            assert state[var] == data["old"], f"state change from a value it did not have: {e}"
            state[var] = data["new"]
            if var == "crs_grade":
                state["crs_max_since_last_dose"] = max(
                    state["crs_max_since_last_dose"], data["new"]
                )
            if var == "icans_grade":
                state["icans_max_since_last_dose"] = max(
                    state["icans_max_since_last_dose"], data["new"]
                )
        elif kind == "death":
            died = True
        elif kind == "ld_dose":
            assert first_h is None, "lymphodepletion comes before the first infusion"
            ld_times.append(e.time_h)
        elif kind == "gate":
            label = data["fraction"]
            assert data["action"] in ("give", "delay", "skip", "stop", "reduce")
            if data["action"] != "give":
                assert data["rule"] and data["reason"], "a non-give decision has rule and reason"
            recorded = dict(data["state"])
            for var, value in recorded.items():
                if var == "day":
                    if first_h is not None:
                        assert value == e.day, (e, value)
                elif var in state:
                    assert value == state[var], f"gate saw {var}={value}, true {state[var]}: {e}"
            _check_verdict(e, rules[label], recorded)
            if label in order and label not in started_after_first:
                started_after_first[label] = first_h is not None
        elif kind == "hold":
            open_hold[data["fraction"]] = True
            resumed[data["fraction"]] = False
        elif kind == "resume":
            assert open_hold.get(data["fraction"]), f"resume without a hold: {e}"
            resumed[data["fraction"]] = True
        elif kind in ("skip", "stop"):
            label = data["fraction"]
            assert data["rule"] and data["reason"]
            assert not (kind == "stop" and stopped_at is not None), "one stop at most"
            if kind == "stop":
                stopped_at = e.time_h
            if label in order:
                assert label not in resolved, f"{label} resolved twice"
                resolved[label] = kind
                last_resolved_h = e.time_h
                cells = planned[label] + carried_next
                if kind == "skip":
                    skipped_carry[label] = cells
                    carried_next = cells if protocol.undelivered == "carry_forward" else 0.0
            elif kind == "skip" and rep is not None:
                repeat_last_h = e.time_h
        elif kind == "not_given":
            assert stopped_at is not None or data["reason"].startswith("no later fraction")
        elif kind == "infusion":
            label = data["fraction"]
            assert stopped_at is None, "nothing is given after the protocol stops"
            assert label not in given, f"{label} given twice"
            given.add(label)
            gate = next(g for g in reversed(events[:i]) if g.kind == "gate")
            assert gate.time_h == e.time_h and gate.data["fraction"] == label
            assert gate.data["action"] in ("give", "reduce"), "no infusion while a rule holds"
            assert not open_hold.get(label) or resumed.get(label), "a hold ends with a resume"
            cells, level = data["cells"], data["dose_level"]
            assert cells > 0 and 0 < level <= 1
            assert _close(data["cells_per_kg"] * weight, cells)
            if data["phase"] == "fraction":
                fr = fractions[order[label]]
                assert resolved.get(label) is None
                resolved[label] = "infusion"
                assert _close(data["planned_cells"], planned[label])
                assert _close(data["carried_in_cells"], carried_next), (e, carried_next)
                assert any(_close(level, m) for m in ladder)
                assert _close(cells, (planned[label] + carried_next) * level), "never above plan"
                fraction_total += cells
                carried_next = 0.0
                previous = last_given_h if last_given_h is not None else last_resolved_h
                if previous is not None:
                    assert e.time_h >= previous + fr.min_interval_h - EPS, "interval below minimum"
                if started_after_first.get(label):
                    hour = fr.hour if fr.hour is not None else protocol.calendar.infusion_hour
                    if fr.day is not None:
                        assert e.time_h >= fr.day * 24 + hour - EPS, "before its nominal day"
                    if fr.latest_day is not None:
                        assert e.time_h < (fr.latest_day + 1) * 24 + EPS, "after its deadline"
                last_given_h = last_resolved_h = e.time_h
            else:
                assert rep is not None and first_h is not None, "repeat doses follow a first dose"
                assert e.time_h >= rep.earliest_day * 24 - EPS, "repeat dose before earliest_day"
                if repeat_last_h is not None:
                    gap = rep.min_interval_days * 24
                    assert e.time_h >= repeat_last_h + gap - EPS, "repeat interval below minimum"
                repeats_given += 1
                assert repeats_given <= rep.max_doses
                top = [resolve_dose(a, weight, None).cells for a in rep.ladder]
                assert cells <= data["planned_cells"] * (1 + REL) and cells <= max(top) * (1 + REL)
                view = dict(state, day=e.day)
                held = [s.name for s in rep.stop_when if s.when(view)]
                assert not held, f"repeat dose {label} given while stop_when {held} holds"
                if label != "R1":
                    assert rep.trigger(view), f"{label} given without its trigger (escalation)"
                repeat_last_h = e.time_h
            if first_h is None:
                first_h = e.time_h
            state["doses_given"] += 1
            state["crs_max_since_last_dose"] = state["crs_grade"]
            state["icans_max_since_last_dose"] = state["icans_grade"]

    # --- totals and what a stop leaves behind ---------------------------------------------------
    planned_total = sum(planned.values())
    assert fraction_total <= planned_total * (1 + REL), "never more than planned in total"
    if stopped_at is not None and any(
        e.kind == "stop" and e.data["fraction"] in order for e in events
    ):
        stop = next(e for e in events if e.kind == "stop")
        rest = [fr.id for fr in fractions[order[stop.data["fraction"]] :]]
        not_given = [e.data["fraction"] for e in events if e.kind == "not_given"]
        assert not_given == rest, "a stop lists every fraction not given"
    if len(resolved) == len(fractions) and stopped_at is None:
        # every fraction resolved: each planned cell was given, reduced away, dropped or left over
        accounted = sum(
            e.data["cells"] / e.data["dose_level"]
            for e in infusions
            if e.data["phase"] == "fraction"
        )
        dropped = sum(skipped_carry.values()) if protocol.undelivered == "drop" else 0.0
        left = sum(e.data["cells"] for e in events if e.kind == "not_given")
        assert _close(accounted + dropped + left, planned_total), (accounted, dropped, left)
    if protocol.lymphodepletion is not None and ld_times:
        validity = protocol.lymphodepletion.validity
        courses = {e.data["course"] for e in events if e.kind == "ld_dose"}
        assert len(courses) <= 1 + (validity.max_repeats if validity else 0)


def features(result: RunResult) -> list[str]:
    """What a run exercised, for ``hypothesis.event`` (shown with --hypothesis-show-statistics)."""
    events = result.events
    seen = {e.kind for e in events}
    out = [f"log has {kind}" for kind in sorted(seen & _NOTABLE)]
    gates = [e for e in events if e.kind == "gate"]
    out += sorted(
        {
            f"gate decided {e.data['action']} ({e.data['rule'] or 'pass'})"
            for e in gates
            if e.data["rule"] in ("deadline", "ld-validity")
        }
    )
    out += sorted({f"gate decided {e.data['action']}" for e in gates})
    infusions = [e for e in events if e.kind == "infusion"]
    if any(e.data["carried_in_cells"] > 0 for e in infusions):
        out.append("carried-forward cells given")
    if any(e.data["dose_level"] < 1 for e in infusions):
        out.append("reduced dose given")
    repeats = [e for e in infusions if e.data["phase"] == "repeat"]
    if repeats:
        out.append(
            {1: "1 repeat dose given", 2: "2 repeat doses given"}.get(
                len(repeats), "3+ repeat doses given"
            )
        )
    held_repeat = {e.data["fraction"] for e in events if e.kind == "hold"} & {
        e.data["fraction"] for e in repeats
    }
    if held_repeat:
        out.append("repeat dose given after a hold")
    courses = {e.data["course"] for e in events if e.kind == "ld_dose"}
    if len(courses) > 1:
        out.append("lymphodepletion repeated")
    out.append("no CAR-T dose given" if not infusions else f"{len(infusions)} doses given")
    return out


_NOTABLE = frozenset(
    {"hold", "resume", "skip", "stop", "not_given", "ld_expired", "repeat_phase", "death"}
)
