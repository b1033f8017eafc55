"""Hypothesis strategies for valid protocols, patients and toxicity scripts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from sim.spec.checks import check_protocol
from sim.spec.protocol import Protocol
from sim.spec.scenario import Episode, Patient

CONDITIONS = st.one_of(
    st.builds(lambda g: f"crs_grade >= {g}", st.integers(1, 4)),
    st.builds(lambda g: f"icans_grade >= {g}", st.integers(1, 4)),
    st.builds(lambda g: f"crs_max_since_last_dose >= {g}", st.integers(1, 3)),
    st.just("fever"),
    st.just("active_infection"),
    st.just("crs_grade >= 1 or icans_grade >= 1"),
    st.just("fever and not active_infection"),
)


@st.composite
def rules(draw: st.DrawFn, ladder: bool) -> dict[str, Any]:
    actions = ["give", "delay", "skip", "stop"] + (["reduce"] if ladder else [])
    action = draw(st.sampled_from(actions))
    rule: dict[str, Any] = {
        "name": f"r{draw(st.integers(0, 999))}",
        "when": draw(CONDITIONS),
        "action": action,
    }
    if action == "delay":
        rule.update(
            recheck_h=draw(st.sampled_from([1, 6, 12, 24, 36])),
            max_wait_h=draw(st.sampled_from([6, 24, 72, 168])),
            on_timeout=draw(st.sampled_from(["skip", "stop"])),
        )
    if action == "reduce":
        rule["at_floor"] = draw(st.sampled_from(["give", "skip", "stop"]))
    return rule


@st.composite
def protocols(draw: st.DrawFn) -> Protocol:
    n = draw(st.integers(1, 5))
    ladder = draw(st.sampled_from([None, [1.0, 0.5], [1.0, 0.5, 0.25]]))
    use_share = draw(st.booleans())
    fractions = []
    for i in range(n):
        dose: dict[str, Any] = (
            {"share": round(1.0 / n, 6)}
            if use_share
            else {"cells_per_kg": draw(st.sampled_from([1e5, 3e5, 6e5, 2e6, 5e6]))}
        )
        fr: dict[str, Any] = {
            "id": f"F{i + 1}",
            "dose": dose,
            "min_interval_h": draw(st.sampled_from([0, 12, 24, 48])),
            "gate": draw(st.lists(rules(ladder is not None), max_size=3)),
        }
        if i == 0:
            fr["day"] = 0
        elif draw(st.booleans()):
            fr["latest_day"] = draw(st.integers(i, i + 10))
            fr["if_missed"] = draw(st.sampled_from(["skip", "stop"]))
        fractions.append(fr)
    data: dict[str, Any] = {
        "id": "generated",
        "title": "generated",
        "summary": "generated",
        "source": {"trial": "x", "citation": "x", "status": "assumed"},
        "product": {"name": "x", "kind": "autologous"},
        "fractions": fractions,
        "undelivered": draw(st.sampled_from(["drop", "carry_forward"])),
        "dose_ladder": ladder,
        "follow_up": {"visit_days": [7], "response_day": 28, "horizon_day": 40},
    }
    if use_share:
        data["planned_total"] = {"cells_per_kg": draw(st.sampled_from([1e6, 3e6]))}
    if draw(st.booleans()):
        data["lymphodepletion"] = {
            "regimen": "Flu/Cy",
            "drugs": [{"name": "fludarabine", "mg_per_m2": 30, "days": [-5, -4, -3]}],
            "validity": {
                "max_days_after_ld": draw(st.integers(3, 14)),
                "on_expiry": draw(st.sampled_from(["repeat_ld", "stop"])),
            },
        }
    protocol = Protocol.model_validate(data)
    assert not list(check_protocol(protocol))
    return protocol


SETTINGS = st.one_of(
    st.builds(lambda g: {"crs_grade": g}, st.integers(0, 4)),
    st.builds(lambda g: {"icans_grade": g}, st.integers(0, 4)),
    st.builds(lambda t: {"temperature_c": t}, st.sampled_from([37.0, 38.0, 39.5])),
    st.builds(lambda b: {"active_infection": b}, st.booleans()),
)


@st.composite
def episodes(draw: st.DrawFn, n_fractions: int) -> list[Episode]:
    out = []
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            start: dict[str, Any] = {
                "day": draw(st.integers(-3, 10)),
                "hour": draw(st.sampled_from([0, 10, 23])),
            }
        else:
            start = {
                "after": f"F{draw(st.integers(1, n_fractions))}",
                "hours": draw(st.sampled_from([0, 1, 6, 24, 30])),
            }
        steps = [
            {"set": draw(SETTINGS), "hours": draw(st.sampled_from([1, 12, 48, 200]))}
            for _ in range(draw(st.integers(1, 3)))
        ]
        if draw(st.booleans()):
            steps[-1].pop("hours")
        out.append(Episode.model_validate({"name": f"e{i}", "start": start, "steps": steps}))
    return out


patients = st.builds(
    lambda w, h: Patient(weight_kg=w, height_cm=h, age_y=40, marrow_blasts_pct=20),
    st.sampled_from([12.0, 30.0, 70.0, 120.0]),
    st.sampled_from([90.0, 150.0, 180.0]),
)
