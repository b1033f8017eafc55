"""Hypothesis strategies for valid protocols, patients and toxicity scripts.

``protocols()`` draws any shape the protocol language allows: 1-6 fractions with every
dose kind (per kg, flat, a share of a planned total, weight bands, with or without a
``max_cells`` cap), dose plans chosen on baseline values, a dose ladder for ``reduce``,
shared and inline gates with every action (``delay`` with its timeouts, ``reduce`` with
every ``at_floor``), nominal days and hours, minimum intervals, deadlines
(``latest_day`` with ``if_missed``), ``drop`` or ``carry_forward``, lymphodepletion with
or without a validity window (repeat LD or stop), procedures before and after day 0, a
repeat-dosing phase (trigger, ladder, interval, own gate, stop conditions), and
follow-up. Every drawn protocol passes :func:`sim.spec.checks.check_protocol`, and every
drawn script passes :func:`sim.spec.checks.check_scenario`: the strategies make *valid*
input, so any failure of an invariant is a bug of the engine.

Generation cost matters (it dominates the run time of the property tests), so choices
are drawn from precomputed tuples, one draw each, rather than built up draw by draw.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import strategies as st

from sim.spec.checks import check_protocol, check_scenario
from sim.spec.protocol import Protocol
from sim.spec.scenario import Episode, Patient, Scenario

# --- conditions ------------------------------------------------------------------------------

GRADES = {
    "crs_grade": 5,
    "icans_grade": 5,
    "iec_hs_grade": 5,
    "gvhd_grade": 4,
    "crs_max_since_last_dose": 5,
    "icans_max_since_last_dose": 5,
}
FLAGS = ("fever", "active_infection", "severe_cytopenia", "relapse", "mrd_positive", "in_remission")


def _toxicity_tests() -> tuple[str, ...]:
    """Tests that hold only while something happens to the patient (false at baseline)."""
    tests = [f"{name} >= {g}" for name, top in GRADES.items() for g in range(1, top + 1)]
    tests += [f"{name} > {g}" for name, top in GRADES.items() for g in (0, 1, top - 1)]
    tests += [f"{name} != 0" for name in GRADES]
    tests += list(FLAGS)
    tests += [f"temperature_c >= {t}" for t in (38, 38.5, 39.5)]
    tests += [f"ice_score <= {s}" for s in (0, 6, 9)]
    return tuple(tests)


def _other_tests() -> tuple[str, ...]:
    """Tests that may hold at baseline, or read bookkeeping (doses given, the day)."""
    tests = [f"{name} == {g}" for name in GRADES for g in (0, 1, 2)]  # == 0: at baseline
    tests += [f"marrow_blasts_pct >= {b}" for b in (0.01, 5, 50)]
    tests += [f"doses_given >= {n}" for n in (1, 2, 4)]
    tests += [f"day >= {d}" for d in (-3, 0, 2, 7, 30)]
    tox = _toxicity_tests()
    tests += [f"not {t}" if t in FLAGS else f"not ({t})" for t in tox[::6]]
    return tuple(tests)


TOXICITY_TESTS = st.sampled_from(_toxicity_tests())
ATOMS = st.one_of(*[TOXICITY_TESTS] * 7, st.sampled_from(_other_tests()))
"""Mostly tests that clear when the toxicity does (so that holds can resume)."""
JOINERS = st.sampled_from(("{a} and {b}", "{a} or {b}", "({a} and {b})", "({a} or {b})"))


@st.composite
def conditions(draw: st.DrawFn, atoms: st.SearchStrategy[str] = ATOMS) -> str:
    """One to three tests, some negated, joined by 'and'/'or' (maybe parenthesised)."""
    text = draw(atoms)
    for _ in range(draw(st.integers(0, 2))):
        text = draw(JOINERS).format(a=text, b=draw(atoms))
    return text


CONDITIONS = conditions()
CLEARABLE = conditions(TOXICITY_TESTS)
"""Conditions that clear when the toxicity does: for delay rules, so that holds can resume
(a delay on a condition true at baseline only ever times out)."""
TRIGGERS = st.one_of(
    st.sampled_from(("relapse or mrd_positive", "relapse", "mrd_positive")), CONDITIONS
)
BASELINE_CONDITIONS = st.sampled_from(
    (
        "marrow_blasts_pct >= 1",
        "marrow_blasts_pct >= 5",
        "marrow_blasts_pct >= 25",
        "weight_kg > 20",
        "weight_kg > 50",
        "age_y < 18",
        "cns_disease",
        "extramedullary_disease",
        "prior_allo_hct",
        "not transplant_candidate",
    )
)

# --- doses -----------------------------------------------------------------------------------

PER_KG = (1e4, 1e5, 3e5, 6e5, 2e6, 5e6, 1e7)
FLAT = (1e6, 2.5e7, 1e8, 2.5e8, 1e9)
BANDS: tuple[list[dict[str, Any]], ...] = (
    [{"cells_per_kg": 2e6}],
    [{"up_to_kg": 50, "cells_per_kg": 2e6}, {"cells": 1e8}],  # the tisagenlecleucel label
    [{"up_to_kg": 50, "cells_per_kg": 5e6}, {"up_to_kg": 100, "cells": 2.5e8}],  # closed
    [{"up_to_kg": 10, "cells": 1e6}, {"up_to_kg": 25, "cells_per_kg": 1e5}, {"cells": 1e9}],
    [{"up_to_kg": 80, "cells": 2.5e7}, {"up_to_kg": 120, "cells_per_kg": 1e7}],
)
CAPS = (None, 1e6, 5e7, 5e8)


def _amounts() -> tuple[dict[str, Any], ...]:
    base: list[dict[str, Any]] = [{"cells_per_kg": v} for v in PER_KG]
    base += [{"cells_per_kg": v, "range_per_kg": [v / 2, v * 2]} for v in PER_KG[1::2]]
    base += [{"cells": v} for v in FLAT]
    base += [{"bands": b} for b in BANDS]
    return tuple(
        dict(amount, max_cells=cap) if cap is not None else amount
        for cap, amount in itertools.product(CAPS, base)
    )


AMOUNTS = st.sampled_from(_amounts())
"""One dose: per kg (maybe with its prescribing range), flat or by weight band; maybe capped."""
LADDERS = st.lists(AMOUNTS, min_size=1, max_size=3)
SHARES = st.sampled_from((0.1, 0.2, 0.3, 0.6))

# --- gates -----------------------------------------------------------------------------------

DELAYS = st.sampled_from(
    tuple(
        {"recheck_h": r, "max_wait_h": w, "on_timeout": t}
        for w in (168, 72, 500, 24, 1)  # the first is what shrinking goes to: a usual one
        for r in (12, 24, 1, 6, 36, 0.5)
        for t in ("skip", "stop")
    )
)
ACTIONS = {
    False: st.sampled_from(("give", "delay", "delay", "delay", "skip", "stop")),
    True: st.sampled_from(("give", "delay", "delay", "delay", "skip", "stop", "reduce", "reduce")),
}
AT_FLOOR = st.sampled_from(("give", "skip", "stop"))


@st.composite
def rules(draw: st.DrawFn, reduce: bool) -> dict[str, Any]:
    action = draw(ACTIONS[reduce])
    when = draw(CLEARABLE if action == "delay" and draw(st.integers(0, 4)) else CONDITIONS)
    rule: dict[str, Any] = {"name": "r", "when": when, "action": action}
    if action in ("skip", "stop"):
        rule["reason"] = f"a plain-language reason to {action}"
    if action == "delay":
        rule.update(draw(DELAYS))
    if action == "reduce":
        rule["at_floor"] = draw(AT_FLOOR)
    return rule


def _named(gate: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(rule, name=f"r{i}") for i, rule in enumerate(gate)]


GATES = {reduce: st.lists(rules(reduce), max_size=3).map(_named) for reduce in (False, True)}

TYPICAL_HOLDS = st.sampled_from(
    tuple(
        {
            "name": "hold",
            "when": when,
            "action": "delay",
            "recheck_h": r,
            "max_wait_h": w,
            "on_timeout": t,
        }
        for when in ("crs_grade >= 1 or icans_grade >= 1", "fever", "crs_grade >= 2")
        for r, w in ((12, 168), (24, 72), (6, 500), (24, 336))
        for t in ("skip", "stop")
    )
)
"""The holds of real protocols: delay while there is CRS, ICANS or fever."""

# --- protocols -------------------------------------------------------------------------------

INTERVALS = st.sampled_from((0, 0.5, 12, 24, 48, 100))
HOURS = st.sampled_from((0, 6.5, 14, 23.5))
IF_MISSED = st.sampled_from(("skip", "stop"))


@st.composite
def _fractions(
    draw: st.DrawFn, n: int, anchor: int, shares: bool, reduce: bool, gates: list[str]
) -> list[dict[str, Any]]:
    fractions: list[dict[str, Any]] = []
    day = anchor
    for i in range(n):
        dose = (
            {"share": round(draw(SHARES) / n, 6)}
            if shares and draw(st.booleans())
            else draw(AMOUNTS)
        )
        fr: dict[str, Any] = {"id": f"F{i + 1}", "dose": dose, "gate": draw(GATES[reduce])}
        if i == 0:
            if draw(st.booleans()):
                fr["day"] = anchor
        else:
            fr["min_interval_h"] = draw(INTERVALS)
            if draw(st.booleans()):
                day += draw(st.integers(0, 3))
                fr["day"] = day
            if draw(st.booleans()):
                fr["latest_day"] = day + draw(st.integers(0, 6))
                fr["if_missed"] = draw(IF_MISSED)
        if draw(st.integers(0, 3)) == 0:
            fr["hour"] = draw(HOURS)
        if gates and draw(st.booleans()):
            fr["use_gate"] = draw(st.sampled_from(gates))
        fractions.append(fr)
    return fractions


DRUGS = st.sampled_from(
    (
        [("fludarabine", 30)],
        [("fludarabine", 30), ("cyclophosphamide", 300)],
        [("fludarabine", 25), ("cyclophosphamide", 500)],
        [("cyclophosphamide", 900)],
    )
)
LD_HOURS = st.sampled_from((0, 9, 15.5))
VALIDITY = st.sampled_from(
    [None]
    + [
        {"max_days_after_ld": d, "on_expiry": e, "max_repeats": r}
        for d in (1, 3, 14)
        for e in ("repeat_ld", "stop")
        for r in (0, 1, 2)
    ]
)


@st.composite
def _lymphodepletion(draw: st.DrawFn, anchor: int) -> dict[str, Any]:
    drugs = [
        {
            "name": name,
            "mg_per_m2": mg,
            "days": sorted(draw(st.sets(st.integers(anchor - 7, anchor - 1), min_size=1))),
            "hour": draw(LD_HOURS),
        }
        for name, mg in draw(DRUGS)
    ]
    ld: dict[str, Any] = {
        "regimen": "Flu/Cy",
        "bsa_formula": draw(st.sampled_from(("mosteller", "dubois"))),
        "drugs": drugs,
        "validity": draw(VALIDITY),
    }
    if draw(st.booleans()):
        ld["bsa_cap_m2"] = 2.0
    return ld


@st.composite
def _repeat_dosing(draw: st.DrawFn, anchor: int, gates: list[str]) -> dict[str, Any]:
    rep: dict[str, Any] = {
        "label": "repeat doses",
        "trigger": draw(TRIGGERS),
        "earliest_day": anchor + draw(st.integers(0, 30)),
        "ladder": draw(LADDERS),
        "min_interval_days": draw(st.sampled_from((0.25, 1, 7, 28))),
        "max_doses": draw(st.integers(1, 4)),
        "gate": draw(GATES[True]),
        "stop_when": [
            {"name": f"s{i}", "when": when, "reason": "stop condition"}
            for i, when in enumerate(draw(st.lists(CONDITIONS, max_size=2)))
        ],
    }
    if draw(st.booleans()):
        rep["hour"] = draw(HOURS)
    if gates and draw(st.booleans()):
        rep["use_gate"] = draw(st.sampled_from(gates))
    return rep


@st.composite
def _dose_selection(draw: st.DrawFn, ids: list[str], totals: bool) -> list[dict[str, Any]]:
    plans = []
    for i in range(draw(st.integers(1, 3))):
        plan: dict[str, Any] = {"label": f"plan {i}", "when": draw(BASELINE_CONDITIONS)}
        if totals:
            plan["planned_total"] = draw(AMOUNTS)
        chosen = draw(st.sets(st.sampled_from(ids), max_size=2))
        plan["fractions"] = {fid: draw(AMOUNTS) for fid in sorted(chosen)}
        plans.append(plan)
    plans[-1].pop("when")
    return plans


@st.composite
def protocols(draw: st.DrawFn, *, max_fractions: int = 6, focus: str | None = None) -> Protocol:
    """A valid protocol. ``focus="hold"`` puts a typical toxicity hold (delay while CRS,
    ICANS or fever, re-checked until clear) on every fraction after the first and on repeat
    doses, and always has a repeat phase, so that holds that resume and repeat doses are
    common rather than rare (pair it with ``episodes(..., focus="hold")``)."""
    anchor = draw(st.sampled_from((0, 0, 1)))
    ladder = draw(st.sampled_from((None, [1.0, 0.5], [1.0, 0.5, 0.25])))
    n = draw(st.integers(1, max_fractions))
    planned_total = draw(st.one_of(st.none(), AMOUNTS))
    gates = {f"g{i}": draw(GATES[ladder is not None]) for i in range(draw(st.integers(0, 2)))}
    fractions = draw(
        _fractions(n, anchor, planned_total is not None, ladder is not None, sorted(gates))
    )
    if focus == "hold":
        for fr in fractions[1:]:
            fr["gate"] = [draw(TYPICAL_HOLDS), *fr["gate"]]
    data: dict[str, Any] = {
        "id": "generated",
        "title": "generated",
        "summary": "generated",
        "source": {"trial": "x", "citation": "x", "status": "assumed"},
        "product": {
            "name": "x",
            "kind": draw(st.sampled_from(("autologous", "allogeneic_donor"))),
        },
        "calendar": {"anchor_day": anchor, "infusion_hour": draw(st.sampled_from((0, 10, 23.5)))},
        "gates": gates,
        "fractions": fractions,
        "undelivered": draw(st.sampled_from(("drop", "carry_forward"))),
        "dose_ladder": ladder,
        "planned_total": planned_total,
    }
    if draw(st.integers(0, 3)) == 0:
        ids = [f["id"] for f in fractions]
        data["dose_selection"] = draw(_dose_selection(ids, planned_total is not None))
    if draw(st.booleans()):
        data["lymphodepletion"] = draw(_lymphodepletion(anchor))
    procedures: list[dict[str, Any]] = []
    if draw(st.integers(0, 3)) == 0:
        procedures.append({"name": "debulking", "kind": "debulking", "day": anchor - 9})
    if draw(st.integers(0, 3)) == 0:
        procedures.append(
            {
                "name": "transplant",
                "kind": "transplant",
                "day": anchor + draw(st.integers(0, 60)),
                "when": "in_remission and transplant_candidate",
            }
        )
    data["procedures"] = procedures
    if focus == "hold" or draw(st.booleans()):
        data["repeat_dosing"] = rep = draw(_repeat_dosing(anchor, sorted(gates)))
        if focus == "hold":
            rep["gate"] = [draw(TYPICAL_HOLDS), *rep["gate"]]
    visits = sorted(draw(st.sets(st.integers(anchor, anchor + 60), max_size=4)))
    response = draw(st.one_of(st.none(), st.integers(anchor + 14, anchor + 30)))
    last = max([*visits, response or 0, anchor + 1])
    data["follow_up"] = {
        "visit_days": visits,
        "response_day": response,
        "horizon_day": last + draw(st.integers(0, 60)),
    }
    protocol = Protocol.model_validate(data)
    findings = list(check_protocol(protocol))
    assert not findings, findings  # the strategy must only make valid protocols
    return protocol


# --- patients and scripts --------------------------------------------------------------------


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    return Patient(
        weight_kg=draw(st.sampled_from((0.6, 8.0, 12.0, 30.0, 50.0, 70.0, 120.0, 250.0))),
        height_cm=draw(st.sampled_from((45.0, 90.0, 150.0, 180.0))),
        age_y=draw(st.sampled_from((1.0, 9.0, 15.0, 40.0, 75.0))),
        marrow_blasts_pct=draw(st.sampled_from((0.0, 0.5, 5.0, 30.0, 90.0))),
        extramedullary_disease=draw(st.booleans()),
        cns_disease=draw(st.booleans()),
        prior_allo_hct=draw(st.booleans()),
        transplant_candidate=draw(st.booleans()),
    )


def _settings() -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    out += [{"crs_grade": g} for g in (1, 2, 1, 2, 3, 4, 5)]
    out += [{"icans_grade": g} for g in (1, 2, 3, 4)]
    out += [{"iec_hs_grade": g} for g in (1, 3)]
    out += [{"gvhd_grade": g} for g in (1, 2, 4)]
    out += [{"temperature_c": t} for t in (38.0, 39.5)]
    out += [{"ice_score": s} for s in (0, 5)]
    out += [{"marrow_blasts_pct": b} for b in (4.0, 60.0)]
    out += [{name: True} for name in FLAGS[1:]]
    out += [{"crs_grade": 0, "icans_grade": 0, "active_infection": False, "temperature_c": 37.0}]
    out += [{"relapse": True, "mrd_positive": True, "in_remission": False}]
    out += [{"in_remission": True, "mrd_positive": False, "gvhd_grade": 1}]
    return tuple(out)


SETTINGS = st.sampled_from(_settings())
CRS_SIGNS = st.sampled_from(
    tuple(
        {"temperature_c": t, "hypotension": h, "oxygen": o, "fever_masked": m}
        for t in (37.5, 38.2, 39.4)
        for h in ("none", "fluids", "one_vasopressor", "multiple_vasopressors")
        for o in ("room_air", "low_flow", "high_flow")
        for m in (False, True)
    )
)
ICANS_SIGNS = {
    adult: st.sampled_from(
        tuple(
            {"motor_weakness": w, **({"ice_score": s} if adult else {}), "seizure": z}
            for w in (False, True)
            for s in ((0, 3, 7, 10) if adult else (None,))
            for z in ("none", "resolves_rapidly")
        )
    )
    for adult in (False, True)
}
STEP_HOURS = st.sampled_from((12, 0.5, 1, 6, 30, 48, 200))
DISEASE = st.sampled_from(
    (
        [{"set": {"relapse": True, "in_remission": False}}],
        [{"set": {"mrd_positive": True}}],
        [{"set": {"relapse": True}, "hours": 500}, {"set": {"in_remission": True}}],
        [{"set": {"mrd_positive": True}, "hours": 100}, {"set": {"gvhd_grade": 2}, "hours": 50}],
    )
)


@st.composite
def _step(draw: st.DrawFn, adult: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(("set", "set", "crs_signs", "icans_signs")))
    step: dict[str, Any] = {"hours": draw(STEP_HOURS)}
    if kind == "set":
        step["set"] = draw(SETTINGS)
    elif kind == "crs_signs":
        step["crs_signs"] = draw(CRS_SIGNS)
    else:
        step["icans_signs"] = draw(ICANS_SIGNS[adult])
    return step


STEPS = {adult: st.lists(_step(adult), min_size=1, max_size=3) for adult in (False, True)}
START_HOURS = st.sampled_from((1, 0, 6, 24, 30))


@st.composite
def episodes(
    draw: st.DrawFn,
    protocol: Protocol,
    patient: Patient,
    max_episodes: int = 4,
    focus: str | None = None,
) -> list[Episode]:
    """A valid script. ``focus="hold"`` adds CRS/fever episodes of a day or two after
    doses (so typical holds start and then clear)."""
    anchor = protocol.calendar.anchor_day
    ids = [f.id for f in protocol.fractions]
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, max_episodes))):
        anchor_kind = draw(st.sampled_from(("after", "day", "first", "nth", "after", "day")))
        start: dict[str, Any]
        if anchor_kind == "day":
            start = {
                "day": anchor + draw(st.integers(-8, 40)),
                "hour": draw(st.sampled_from((0, 9, 10, 23))),
            }
        else:
            if anchor_kind == "after":
                start = {"after": draw(st.sampled_from(ids))}
            elif anchor_kind == "first":
                start = {"after": "first_infusion"}
            else:
                start = {"after_dose": draw(st.integers(1, 4))}
            start["hours"] = draw(START_HOURS)
            if draw(st.integers(0, 3)) == 0:
                start["days"] = draw(st.sampled_from((1, 14, 40)))
        steps = draw(STEPS[patient.age_y >= 12])
        if draw(st.integers(0, 3)) == 0:
            steps[-1] = {k: v for k, v in steps[-1].items() if k != "hours"}
        out.append({"name": f"e{i}", "start": start, "steps": steps})
    if focus == "hold":
        for i in range(draw(st.integers(1, 3))):
            start = {
                "after_dose": draw(st.integers(1, 3)),
                "hours": draw(st.sampled_from((2, 8, 20))),
            }
            steps = [
                {"crs_signs": {"temperature_c": 38.9}, "hours": draw(st.sampled_from((12, 30, 60)))}
            ]
            out.append({"name": f"crs{i}", "start": start, "steps": steps})
    if protocol.repeat_dosing is not None and (focus == "hold" or draw(st.booleans())):
        # relapse or MRD (the usual repeat-dosing triggers), maybe a response later
        start = {"day": anchor + draw(st.integers(1, 60)), "hour": 9}
        out.append({"name": "disease", "start": start, "steps": draw(DISEASE)})
    scenario = Scenario.model_validate(
        {
            "id": "generated",
            "title": "generated",
            "summary": "generated",
            "protocol": "generated",
            "patient": patient.model_dump(),
            "episodes": out,
        }
    )
    findings = list(check_scenario(scenario, protocol))
    assert not findings, findings  # the strategy must only make valid scripts
    return list(scenario.episodes)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Protocol, Patient, list[Episode]]:
    """A protocol, a patient and a toxicity script for them (half with typical holds)."""
    focus = draw(st.sampled_from(("hold", None)))
    protocol = draw(protocols(focus=focus))
    patient = draw(patients())
    return protocol, patient, draw(episodes(protocol, patient, focus=focus))
