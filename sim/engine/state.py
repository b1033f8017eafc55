"""The patient's state as gates see it: plain Python, no simpy.

Anything that changes the patient (a scripted episode now, the virtual-patient model
later) *contributes* values under its own key; each variable then takes the worst
active contribution (highest grade or temperature, lowest ICE score, any true flag;
for other numbers the latest contribution), or its baseline when none is active.
Raw CRS and ICANS signs are graded with the ASTCT consensus (see
:mod:`sim.clinical.grading`). This lets several sources act at once without
knowing of each other, and lets the engine log each change with its cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sim.clinical.grading import (
    CEREBRAL_OEDEMA_LEVELS,
    CONSCIOUSNESS_LEVELS,
    FEVER_THRESHOLD_C,
    HYPOTENSION_LEVELS,
    OXYGEN_LEVELS,
    SEIZURE_LEVELS,
    crs_grade,
    icans_grade,
)
from sim.spec.scenario import CrsSigns, IcansSigns, Patient
from sim.spec.variables import SCRIPTABLE, VARIABLES

Value = float | bool
_WORST_LOW = {"ice_score"}
_LATEST = {"marrow_blasts_pct"}
_crs_grade = cache(crs_grade)
_icans_grade = cache(icans_grade)
"""The ASTCT gradings are pure: a patient's few distinct signs are graded once."""

QUIET = frozenset(
    {
        "crs_max_since_last_dose",
        "icans_max_since_last_dose",
        "doses_given",
        "day",
        "tocilizumab_since_last_dose",
        "hours_since_crs_resolved",
    }
)
"""Bookkeeping variables whose changes are not logged as state changes."""


@dataclass(frozen=True, slots=True)
class Change:
    variable: str
    old: Value
    new: Value


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one source says about the patient at the moment."""

    values: dict[str, Value]
    crs_signs: CrsSigns | None = None
    icans_signs: IcansSigns | None = None


def baseline_values(patient: Patient) -> dict[str, Value]:
    values: dict[str, Value] = {name: var.default for name, var in VARIABLES.items()}
    values.update(patient.model_dump())
    return values


class PatientState:
    """Current values of every variable in :data:`sim.spec.variables.VARIABLES`."""

    def __init__(self, patient: Patient) -> None:
        self.baseline = baseline_values(patient)
        self.values: dict[str, Value] = dict(self.baseline)
        self._sources: dict[str, Contribution] = {}  # oldest contribution first
        self._tocilizumab_at_last_dose: Value = 0

    def __getitem__(self, name: str) -> Value:
        return self.values[name]

    def contribute(self, key: str, contribution: Contribution | None) -> list[Change]:
        """Replace (or, with ``None``, withdraw) the contribution of source ``key``."""
        self._sources.pop(key, None)
        if contribution is not None:
            self._sources[key] = contribution  # a replaced contribution becomes the newest
        return self._recompute()

    def set_bookkeeping(self, name: str, value: Value) -> None:
        self.values[name] = value

    def _recompute(self) -> list[Change]:
        new: dict[str, Value] = {}
        active = list(self._sources.values())
        given: dict[str, list[Value]] = {}
        for c in active:  # oldest contribution first, as _combine expects
            for name, value in c.values.items():
                given.setdefault(name, []).append(value)
        for name in SCRIPTABLE:
            values = given.get(name)
            new[name] = self._combine(name, values) if values else self.baseline[name]
        crs = [c.crs_signs for c in active if c.crs_signs is not None]
        icans = [c.icans_signs for c in active if c.icans_signs is not None]
        new.update(hypotension=0, oxygen=0, fever_masked=False)
        for s in crs:
            new["temperature_c"] = max(float(new["temperature_c"]), s.temperature_c)
            grade = _crs_grade(s.temperature_c, s.hypotension, s.oxygen, s.fever_masked)
            new["crs_grade"] = max(int(new["crs_grade"]), grade)
            new["hypotension"] = max(
                int(new["hypotension"]), HYPOTENSION_LEVELS.index(s.hypotension)
            )
            new["oxygen"] = max(int(new["oxygen"]), OXYGEN_LEVELS.index(s.oxygen))
            new["fever_masked"] = bool(new["fever_masked"]) or s.fever_masked
        new.update(consciousness=0, seizure=0, motor_weakness=False, cerebral_oedema=0)
        for i in icans:
            grade = _icans_grade(
                i.ice_score,
                i.consciousness,
                i.seizure,
                i.motor_weakness,
                i.cerebral_oedema,
                i.capd_score,
            )
            new["icans_grade"] = max(int(new["icans_grade"]), grade)
            if i.ice_score is not None:
                new["ice_score"] = min(float(new["ice_score"]), i.ice_score)
            if i.capd_score is not None:
                new["capd_score"] = max(float(new["capd_score"]), i.capd_score)
            new["consciousness"] = max(
                int(new["consciousness"]), CONSCIOUSNESS_LEVELS.index(i.consciousness)
            )
            new["seizure"] = max(int(new["seizure"]), SEIZURE_LEVELS.index(i.seizure))
            new["motor_weakness"] = bool(new["motor_weakness"]) or i.motor_weakness
            new["cerebral_oedema"] = max(
                int(new["cerebral_oedema"]), CEREBRAL_OEDEMA_LEVELS.index(i.cerebral_oedema)
            )
        new["fever"] = float(new["temperature_c"]) >= FEVER_THRESHOLD_C
        new["tocilizumab_since_last_dose"] = (
            new["tocilizumab_doses"] - self._tocilizumab_at_last_dose
        )
        for name in ("crs", "icans"):
            key = f"{name}_max_since_last_dose"
            new[key] = max(int(self.values[key]), int(new[f"{name}_grade"]))
        changes = [
            Change(name, self.values[name], value)
            for name, value in new.items()
            if self.values[name] != value
        ]
        self.values.update(new)
        return changes

    @staticmethod
    def _combine(name: str, given: list[Value]) -> Value:
        if name in _LATEST:
            return given[-1]
        if VARIABLES[name].kind == "bool":
            return any(given)
        return min(given) if name in _WORST_LOW else max(given)

    def dose_given(self) -> None:
        """A CAR-T dose was given: reset the 'since last dose' worst grades."""
        self.values["crs_max_since_last_dose"] = self.values["crs_grade"]
        self.values["icans_max_since_last_dose"] = self.values["icans_grade"]
        self.values["doses_given"] = int(self.values["doses_given"]) + 1
        self._tocilizumab_at_last_dose = self.values["tocilizumab_doses"]
        self.values["tocilizumab_since_last_dose"] = 0
