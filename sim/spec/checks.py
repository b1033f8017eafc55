"""Checks across fields that a single pydantic model cannot see.

Each check yields ``(path, message)``; the loader turns paths into file lines.
"""

from __future__ import annotations

from collections.abc import Iterator

from sim.spec.eligibility import ineligible
from sim.spec.protocol import DoseAmount, GateRule, Protocol
from sim.spec.scenario import Scenario
from sim.spec.variables import BASELINE

Finding = tuple[tuple[str | int, ...], str]


def gate_rules(protocol: Protocol, use_gate: str | None, inline: list[GateRule]) -> list[GateRule]:
    """A gate's rules: those of the named shared gate (if any), then the inline ones."""
    shared = protocol.gates.get(use_gate, []) if use_gate is not None else []
    return [*shared, *inline]


def check_protocol(p: Protocol) -> Iterator[Finding]:
    ids = [f.id for f in p.fractions]
    anchor = p.calendar.anchor_day
    for i, fr in enumerate(p.fractions):
        if ids.index(fr.id) != i:
            yield ("fractions", i, "id"), f"fraction id '{fr.id}' is used twice"
        if fr.use_gate is not None and fr.use_gate not in p.gates:
            yield (
                ("fractions", i, "use_gate"),
                (f"unknown gate '{fr.use_gate}'; defined gates: {', '.join(p.gates) or 'none'}"),
            )
        if fr.latest_day is not None and fr.day is not None and fr.latest_day < fr.day:
            yield ("fractions", i, "latest_day"), "latest_day is before the fraction's day"
        yield from _check_dose(p, fr.dose, ("fractions", i, "dose"))
        if p.dose_ladder is None:
            for j, rule in enumerate(fr.gate):
                if rule.action == "reduce":
                    yield (
                        ("fractions", i, "gate", j, "action"),
                        ("'reduce' needs a dose_ladder in the protocol"),
                    )
    if p.dose_ladder is None:
        for name, rules in p.gates.items():
            for j, rule in enumerate(rules):
                if rule.action == "reduce" and any(f.use_gate == name for f in p.fractions):
                    yield (
                        ("gates", name, j, "action"),
                        ("'reduce' needs a dose_ladder in the protocol"),
                    )
    first = p.fractions[0]
    if first.day is not None and first.day != anchor:
        yield (
            ("fractions", 0, "day"),
            (
                f"the first fraction is the first CAR-T infusion and falls on calendar.anchor_day "
                f"({anchor}), not day {first.day}"
            ),
        )
    days = [f.day for f in p.fractions if f.day is not None]
    if days != sorted(days):
        yield ("fractions",), "fraction days must not go backwards"
    if p.dose_ladder is not None and (
        p.dose_ladder[0] != 1.0
        or any(b >= a for a, b in zip(p.dose_ladder, p.dose_ladder[1:], strict=False))
    ):
        yield ("dose_ladder",), "the ladder starts at 1.0 and steps strictly down"
    if p.lymphodepletion is not None:
        for i, drug in enumerate(p.lymphodepletion.drugs):
            late = [d for d in drug.days if d >= anchor]
            if late:
                yield (
                    ("lymphodepletion", "drugs", i, "days"),
                    (
                        f"lymphodepletion comes before the first infusion (day {anchor}); "
                        f"day {late[0]} is too late"
                    ),
                )
            if len(set(drug.days)) != len(drug.days):
                yield ("lymphodepletion", "drugs", i, "days"), "a day is listed twice"
        yield from _check_ld_gate(p)
    for i, plan in enumerate(p.dose_selection):
        if plan.when is None and i != len(p.dose_selection) - 1:
            yield ("dose_selection", i, "when"), "only the last dose plan may leave out 'when'"
        if plan.when is not None:
            bad = [n for n in plan.when.names if n not in BASELINE]
            if bad:
                yield (
                    ("dose_selection", i, "when"),
                    (
                        f"dose plans are chosen on values measured before lymphodepletion; "
                        f"'{bad[0]}' is not one (use {', '.join(sorted(BASELINE))})"
                    ),
                )
        for fid in plan.fractions:
            if fid not in ids:
                yield ("dose_selection", i, "fractions", fid), f"unknown fraction '{fid}'"
        if plan.planned_total is not None and plan.planned_total.share is not None:
            yield ("dose_selection", i, "planned_total"), "a planned total cannot be a share"
    if p.dose_selection and p.dose_selection[-1].when is not None:
        yield ("dose_selection",), "the last dose plan must leave out 'when' (the otherwise case)"
    if p.planned_total is not None and p.planned_total.share is not None:
        yield ("planned_total",), "a planned total cannot be a share"
    shares = sum(f.dose.share or 0.0 for f in p.fractions)
    if shares > 1.0 + 1e-9:
        yield ("fractions",), f"fraction shares add up to {shares:g}, more than the whole dose"
    if p.repeat_dosing is not None:
        rep = p.repeat_dosing
        if rep.use_gate is not None and rep.use_gate not in p.gates:
            yield ("repeat_dosing", "use_gate"), f"unknown gate '{rep.use_gate}'"
        if rep.earliest_day < anchor:
            yield ("repeat_dosing", "earliest_day"), "repeat doses come after the first infusion"
        for j, amount in enumerate(rep.ladder):
            if amount.share is not None:
                yield ("repeat_dosing", "ladder", j), "a repeat dose cannot be a share"
    fu = p.follow_up
    if fu.response_day is not None and fu.response_day in fu.assessment_days:
        yield (
            ("follow_up", "assessment_days"),
            f"day {fu.response_day} is already the response_day",
        )
    if len(set(fu.assessment_days)) != len(fu.assessment_days):
        yield ("follow_up", "assessment_days"), "a day is listed twice"
    last = max([*fu.visit_days, *fu.assessment_days, fu.response_day or 0])
    if fu.horizon_day < last:
        yield (
            ("follow_up", "horizon_day"),
            f"the horizon (day {fu.horizon_day}) ends before day {last} of the follow-up",
        )


LD_LABEL = "LD"
"""The label of lymphodepletion's gate events (a fraction may not use it)."""


def _check_ld_gate(p: Protocol) -> Iterator[Finding]:
    ld = p.lymphodepletion
    assert ld is not None
    if ld.use_gate is not None and ld.use_gate not in p.gates:
        yield (
            ("lymphodepletion", "use_gate"),
            f"unknown gate '{ld.use_gate}'; defined gates: {', '.join(p.gates) or 'none'}",
        )
        return
    if not (ld.use_gate or ld.gate):
        return
    shared = p.gates.get(ld.use_gate, []) if ld.use_gate else []
    where: list[tuple[tuple[str | int, ...], GateRule]] = [
        (("gates", ld.use_gate or "", j), r) for j, r in enumerate(shared)
    ]
    where += [(("lymphodepletion", "gate", j), r) for j, r in enumerate(ld.gate)]
    for path, rule in where:
        if rule.action not in ("delay", "stop"):
            yield (
                (*path, "action"),
                f"a lymphodepletion gate can delay or stop, not '{rule.action}' "
                "(there is no smaller LD dose or later fraction to fall back on)",
            )
        elif rule.action == "delay" and rule.on_timeout != "stop":
            yield (
                (*path, "on_timeout"),
                "a held lymphodepletion course cannot be skipped: on_timeout is 'stop'",
            )
    for i, fr in enumerate(p.fractions):
        if fr.id == LD_LABEL:
            yield ("fractions", i, "id"), f"'{LD_LABEL}' names the lymphodepletion gate's events"


def _check_dose(p: Protocol, dose: DoseAmount, path: tuple[str | int, ...]) -> Iterator[Finding]:
    if dose.share is None:
        return
    if p.planned_total is None and not (
        p.dose_selection and all(plan.planned_total for plan in p.dose_selection)
    ):
        yield (*path, "share"), "a share needs a planned_total (in the protocol or every dose plan)"


def check_scenario(s: Scenario, p: Protocol, *, eligibility: bool = True) -> Iterator[Finding]:
    """Cross-checks of a scenario against its protocol; ``eligibility=False`` (``--force``)
    leaves out the check that the patient is inside the protocol's eligibility limits."""
    if eligibility:
        for broken in ineligible(p, s.patient):
            yield ("patient",), f"outside protocol '{p.id}' eligibility: {broken}"
    ids = {f.id for f in p.fractions} | {"first_infusion"}
    for i, ep in enumerate(s.episodes):
        if ep.start.after is not None and ep.start.after not in ids:
            yield (
                ("episodes", i, "start", "after"),
                (
                    f"protocol '{p.id}' has no fraction '{ep.start.after}'; use one of "
                    + ", ".join(sorted(ids))
                ),
            )
        for j, step in enumerate(ep.steps):
            signs = step.icans_signs
            if signs is not None and signs.ice_score is not None and s.patient.age_y < 12:
                yield (
                    ("episodes", i, "steps", j, "icans_signs", "ice_score"),
                    "ASTCT grades ICANS in children under 12 with CAPD, not ICE: give capd_score",
                )
            if signs is not None and signs.capd_score is not None and s.patient.age_y >= 12:
                yield (
                    ("episodes", i, "steps", j, "icans_signs", "capd_score"),
                    "ASTCT grades ICANS from age 12 with the ICE score, not CAPD: give ice_score",
                )
