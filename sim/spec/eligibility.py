"""Eligibility: is a patient inside the limits a protocol declares?

A protocol's ``population.eligibility`` lists inclusive limits (age, weight, marrow
blasts) and disease status the patient must have or must not have. Each limit a patient
breaks is one message naming the rule (``eligibility.age_y``), so that a refused run says
which rule refused it. A protocol without a ``population`` admits every patient.
"""

from __future__ import annotations

from sim.spec.protocol import Limits, Protocol
from sim.spec.scenario import Patient

DEFAULT_POPULATION = "adult-rr-ball"
"""The population of a protocol that declares none (and of cohorts without --population)."""

_UNITS = {
    "age_y": ("age", " y"),
    "weight_kg": ("weight", " kg"),
    "marrow_blasts_pct": ("marrow blasts", " %"),
}
_FLAGS = {
    "cns_disease": "CNS disease",
    "extramedullary_disease": "extramedullary disease",
    "prior_allo_hct": "a prior allogeneic transplant",
    "transplant_candidate": "transplant candidacy",
}


def protocol_population(protocol: Protocol) -> str:
    """The population a one-patient run of ``protocol`` draws from by default."""
    return protocol.population.name if protocol.population is not None else DEFAULT_POPULATION


def _limit(field: str, value: float, limits: Limits) -> str | None:
    word, unit = _UNITS[field]
    rule = f"eligibility.{field}: {word} {value:g}{unit}"
    if limits.min is not None and value < limits.min:
        return f"{rule} is below the minimum {limits.min:g}{unit}"
    if limits.max is not None and value > limits.max:
        return f"{rule} is above the maximum {limits.max:g}{unit}"
    return None


def ineligible(protocol: Protocol, patient: Patient) -> list[str]:
    """Every eligibility rule of ``protocol`` that ``patient`` breaks (empty: eligible)."""
    if protocol.population is None:
        return []
    rules = protocol.population.eligibility
    out: list[str] = []
    for field in _UNITS:
        limits = getattr(rules, field)
        if limits is not None:
            broken = _limit(field, float(getattr(patient, field)), limits)
            if broken is not None:
                out.append(broken)
    for flag in rules.require:
        if not getattr(patient, flag):
            out.append(f"eligibility.require: {flag} - for patients with {_FLAGS[flag]}")
    for flag in rules.exclude:
        if getattr(patient, flag):
            out.append(f"eligibility.exclude: {flag} - excludes patients with {_FLAGS[flag]}")
    return out
