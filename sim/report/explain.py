"""``cartsim explain``: the run told in plain language, for students.

Every line is derived from the event log: what was given when, which rule held which
fraction and why, and what the patient's state was at each decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sim.engine.run import RunResult
from sim.metrics import patient_metrics
from sim.records import Event
from sim.report.words import dose, duration, patient, when
from sim.spec.checks import LD_LABEL

NAMES = {
    "crs_grade": "CRS grade",
    "icans_grade": "ICANS grade",
    "iec_hs_grade": "IEC-HS grade",
    "gvhd_grade": "GVHD grade",
    "temperature_c": "temperature (C)",
    "fever": "fever",
    "ice_score": "ICE score",
    "active_infection": "active infection",
    "severe_cytopenia": "grade >= 3 cytopenia",
    "relapse": "relapse",
    "mrd_positive": "MRD positive",
    "in_remission": "in remission",
    "marrow_blasts_pct": "marrow blasts (%)",
    "crs_max_since_last_dose": "worst CRS grade since the last dose",
    "icans_max_since_last_dose": "worst ICANS grade since the last dose",
    "doses_given": "doses given",
    "day": "study day",
    "hypotension": "hypotension",
    "oxygen": "oxygen need",
    "fever_masked": "fever masked by treatment",
    "capd_score": "CAPD score",
    "consciousness": "consciousness",
    "seizure": "seizure",
    "motor_weakness": "motor weakness",
    "cerebral_oedema": "cerebral oedema",
    "tocilizumab_doses": "tocilizumab doses",
    "tocilizumab_since_last_dose": "tocilizumab doses since the last CAR-T dose",
    "steroids_active": "on steroids",
    "anakinra_active": "on anakinra",
    "hours_since_crs_resolved": "hours since CRS resolved",
}

# Words for the levels of the sign variables (ASTCT; sim/clinical/grading.py).
LEVELS: dict[str, tuple[str, ...]] = {
    "hypotension": ("none", "needing fluids", "one vasopressor", "several vasopressors"),
    "oxygen": ("room air", "low-flow oxygen", "high-flow oxygen", "positive pressure"),
    "consciousness": (
        "alert",
        "awakens spontaneously",
        "awakens to voice",
        "awakens only to touch",
        "unarousable",
    ),
    "seizure": ("none", "resolved rapidly", "prolonged"),
    "cerebral_oedema": ("none", "focal", "diffuse"),
}

GLOSSARY = [
    "CRS: cytokine release syndrome, graded 1-4 by the ASTCT consensus (Lee 2019) from fever,"
    " low blood pressure and low oxygen.",
    "ICANS: immune effector cell-associated neurotoxicity syndrome, graded 1-4 (ASTCT) from the"
    " ICE score, level of consciousness, seizures, motor weakness and brain swelling.",
    "Gate: the rules checked before each fraction (and, where the protocol has one, before"
    " each lymphodepletion dose); the most severe action that fires wins"
    " (stop > skip > delay > reduce > give).",
    "Hold (delay): the fraction waits and the gate is checked again later; the next fraction"
    " then counts its minimum interval from the fraction actually given.",
]


CAPD_WORDS = (
    "CAPD: in children under 12, ASTCT screens for ICANS with the Cornell Assessment of"
    " Pediatric Delirium instead of the ICE score."
)
GVHD_WORDS = (
    "GVHD grade: the overall acute GVHD grade I-IV (MAGIC; Harris 2016), from the stages of"
    " skin, liver and gut; e.g. a rash over more than half the body with no liver or gut"
    " involvement (skin stage 3) is grade II."
)


def day_words(anchor_day: int) -> str:
    """The glossary line for the calendar's anchor (Penn numbered its first infusion Day 1)."""
    if anchor_day == 0:
        return (
            "Day 0: the day of the first CAR-T infusion; lymphodepletion comes on the days before."
        )
    return (
        f"Day {anchor_day}: the day of the first CAR-T infusion, numbered as the protocol's "
        f"source numbers it; lymphodepletion comes on the days before (this calendar counts "
        f"every day, so day 0 falls between day -1 and day 1)."
    )


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}"
    return str(v)


def _describe(variable: str, value: Any) -> str:
    """A state value in words: sign levels by name, 'none yet' for a CRS never resolved."""
    words = LEVELS.get(variable)
    if words is not None and not isinstance(value, bool) and 0 <= int(value) < len(words):
        return words[int(value)]
    if variable == "hours_since_crs_resolved" and value >= 1e6:
        return "no CRS so far"
    return _value(value)


def _state(seen: dict[str, Any]) -> str:
    return ", ".join(f"{NAMES.get(k, k)} {_describe(k, v)}" for k, v in seen.items()) or "nothing"


def _line(e: Event, weight: float) -> str | None:
    d = e.data
    kind = e.kind
    if kind == "ld_dose":
        return (
            f"lymphodepletion: {d['drug']} {d['mg']:g} mg ({d['mg_per_m2']:g} mg/m2 x BSA "
            f"{d['bsa_m2']:.2f} m2, {d['bsa_formula']} formula)"
            + (f", repeat course {d['course']}" if d["course"] > 1 else "")
        )
    if kind == "procedure":
        return f"{d['name']} ({d['procedure_kind']}): " + ("done" if d["done"] else d["reason"])
    if kind == "gate":
        what = "lymphodepletion" if d["fraction"] == LD_LABEL else d["fraction"]
        head = f"{what} is checked against its gate; the gate saw {_state(d['state'])}."
        if d["action"] == "give":
            return f"{head} {d['reason'].capitalize()}: it is given."
        verbs = {
            "delay": "held",
            "skip": "skipped",
            "stop": "the protocol stops",
            "reduce": "the dose is reduced",
        }
        return f"{head} Rule '{d['rule']}' fires -> {verbs[d['action']]}: {d['reason']}."
    if kind == "infusion":
        label = "repeat dose" if d["phase"] == "repeat" else "fraction"
        extra = ""
        if d["carried_in_cells"]:
            extra = f", including {d['carried_in_cells'] / 1e6:.3g} x10^6 cells carried over"
        if d["dose_level"] != 1.0:
            extra += f", at {d['dose_level']:.0%} of the planned dose"
        return f"{label} {d['fraction']} infused: {dose(d['cells_per_kg'], d['cells'])}{extra}."
    if kind == "resume":
        by = d.get("held_by") or {}
        parts = ", ".join(f"{duration(h)} for rule {rule}" for rule, h in by.items() if h > 0)
        what = "lymphodepletion" if d["fraction"] == LD_LABEL else d["fraction"]
        return f"{what} was held for {duration(d['held_h'])} in all" + (
            f" ({parts})." if parts else "."
        )
    if kind == "not_given":
        return (
            f"{d['fraction']} is not given ({dose(d['cells_per_kg'], d['cells'])}): {d['reason']}."
        )
    if kind == "ld_expired":
        return (
            f"the lymphodepletion window has run out ({d['days_since_ld']} days since the "
            f"last LD day; limit {d['max_days']})."
        )
    if kind == "state_change":
        var = d["variable"]
        name = NAMES.get(var, var)
        old, new = _describe(var, d["old"]), _describe(var, d["new"])
        return f"{name}: {old} -> {new} ({d['cause']})."
    if kind == "visit":
        return (
            f"follow-up visit (day {d['visit_day']}): CRS grade {d['crs_grade']}, "
            f"ICANS grade {d['icans_grade']}."
        )
    if kind == "assessment":
        return f"response assessment (day {d['assessment_day']}): {d['response']}."
    if kind == "repeat_phase":
        return f"repeat dosing {d['status']}: {d['reason']}."
    if kind == "kinetics":
        return (
            f"the model re-plans CAR-T expansion from the doses given so far: peak "
            f"{d['peak_copies']:,.0f} copies/ug about day {d['peak_day']:.1f} after the "
            f"first dose."
        )
    if kind == "expansion_peak":
        return f"CAR-T expansion peaks at {d['copies']:,.0f} copies/ug of DNA."
    if kind == "death":
        return f"the patient dies ({d['cause']})."
    if kind == "end":
        return f"end of the run: {d['reason']}."
    return None


def explain_lines(result: RunResult) -> Iterator[str]:
    p = result.protocol
    pt = result.patient
    yield f"{p.title}"
    yield (f"Patient: {patient(pt, '{} % marrow blasts before lymphodepletion')}.")
    yield f"Source: {p.source.citation} ({p.source.status})."
    if p.assumptions:
        yield (
            f"This protocol file makes {len(p.assumptions)} assumption(s) where the source "
            "is silent (see the file)."
        )
    plans = [e for e in result.events if e.kind == "planned"]
    if plans:
        yield (
            "Plan: "
            + "; ".join(
                f"{e.data['fraction']} {dose(e.data['cells_per_kg'], e.data['cells'])} "
                f"from {when(e.data['planned_time_h'])}"
                for e in plans
            )
            + "."
        )
    yield ""
    for e in result.events:
        text = _line(e, pt.weight_kg)
        if text is not None:
            yield f"{when(e.time_h)}  {text}"
    m = patient_metrics(result.events)
    yield ""
    yield (
        f"In short: {m['fractions_given']} of {m['fractions_planned']} fractions given, "
        f"{m['given_cells_per_kg'] / 1e6:.3g} of {m['planned_cells_per_kg'] / 1e6:.3g} x10^6 "
        f"cells/kg ({m['dose_delivered_share']:.0%}), {m['holds']} hold(s)"
        + (f", {m['repeat_doses_given']} repeat dose(s)" if m["repeat_doses_given"] else "")
        + (f"; the protocol stopped ({m['stop_reason']})" if m["stopped"] else "")
        + "."
    )
    yield ""
    yield "Words used:"
    extra = [day_words(p.calendar.anchor_day)]
    if pt.age_y < 12:
        extra.append(CAPD_WORDS)
    if p.product.kind == "allogeneic_donor":
        extra.append(GVHD_WORDS)
    for text in [*GLOSSARY, *extra]:
        yield f"  - {text}"
