"""Scenario files: a patient, a protocol and scripted toxicity episodes (for teaching).

An episode starts at a study day (on the protocol's planned calendar) or a number of
hours/days after an infusion (a fraction id, ``first_infusion``, or the n-th CAR-T
dose), then runs through its steps. A step sets state variables directly
(``set: {crs_grade: 2}``) or gives the raw signs from which the engine computes the
ASTCT grade (``crs_signs``, ``icans_signs``). A step without ``hours`` lasts to the end.
When episodes overlap, each variable takes the worst active value.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator

from sim.clinical.grading import (
    CerebralOedema,
    Consciousness,
    Hypotension,
    Oxygen,
    Seizure,
)
from sim.spec.base import MAX_STUDY_DAY, Hour, Slug, Spec, Text
from sim.spec.variables import SCRIPTABLE, VARIABLES, describe_range

MAX_EPISODES = 500
"""Most episodes in a scenario: each active episode is combined at every change of state."""


class Patient(Spec):
    weight_kg: Annotated[float, Field(gt=0.5, le=400)]
    height_cm: Annotated[float, Field(gt=20, le=260)]
    age_y: Annotated[float, Field(ge=0, le=120)]
    marrow_blasts_pct: Annotated[float, Field(ge=0, le=100)] = Field(
        0.0, description="bone-marrow blasts measured before lymphodepletion, %"
    )
    extramedullary_disease: bool = False
    cns_disease: bool = False
    prior_allo_hct: bool = False
    transplant_candidate: bool = False


class CrsSigns(Spec):
    """Raw CRS signs, graded by the ASTCT consensus (Lee et al. 2019)."""

    temperature_c: Annotated[float, Field(ge=30, le=45)]
    hypotension: Hypotension = "none"
    oxygen: Oxygen = "room_air"
    fever_masked: bool = Field(
        False, description="fever removed by antipyretics or anti-cytokine therapy"
    )


class IcansSigns(Spec):
    """Raw ICANS domains, graded by the ASTCT consensus (ICE score from age 12, CAPD under 12)."""

    ice_score: Annotated[int, Field(ge=0, le=10)] | None = None
    capd_score: Annotated[int, Field(ge=0, le=32)] | None = Field(
        None, description="Cornell Assessment of Pediatric Delirium, 0-32 (children under 12)"
    )
    consciousness: Consciousness = "alert"
    seizure: Seizure = "none"
    motor_weakness: bool = False
    cerebral_oedema: CerebralOedema = "none"

    @model_validator(mode="after")
    def _ice_or_capd(self) -> Self:
        if self.ice_score is not None and self.capd_score is not None:
            raise ValueError("give ice_score (age 12 or more) or capd_score (under 12), not both")
        return self


def _check_settings(values: dict[str, Any]) -> dict[str, Any]:
    for name, value in values.items():
        var = VARIABLES.get(name)
        if var is None or name not in SCRIPTABLE:
            raise ValueError(
                f"'{name}' cannot be set by a script; settable: {', '.join(sorted(SCRIPTABLE))}"
            )
        if var.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name} is true or false, not {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} is {describe_range(var)}, not {value!r}")
            if not var.low <= value <= var.high:
                raise ValueError(f"{name} is {describe_range(var)}; {value!r} is off that scale")
            if var.kind == "grade" and value != int(value):
                raise ValueError(f"{name} is a whole-number grade, not {value!r}")
    return values


class Step(Spec):
    set: dict[str, float | bool] | None = None
    crs_signs: CrsSigns | None = None
    icans_signs: IcansSigns | None = None
    hours: Annotated[float, Field(gt=0, le=24 * 3650)] | None = None

    _settings = field_validator("set", mode="before")(
        lambda v: _check_settings(v) if isinstance(v, dict) else v
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.set is None and self.crs_signs is None and self.icans_signs is None:
            raise ValueError("a step gives set, crs_signs or icans_signs")
        if self.set is not None and not self.set:
            raise ValueError("'set' names at least one variable")
        return self


class Start(Spec):
    day: Annotated[float, Field(ge=-MAX_STUDY_DAY, le=MAX_STUDY_DAY)] | None = Field(
        None, description="study day on the protocol's planned calendar"
    )
    hour: Hour = 0.0
    after: Slug | None = Field(
        None, description="a fraction id, or 'first_infusion': starts after it is given"
    )
    after_dose: Annotated[int, Field(ge=1, le=100)] | None = Field(
        None, description="starts after the n-th CAR-T dose (fractions and repeats)"
    )
    hours: Annotated[float, Field(ge=0, le=24 * 3650)] = 0.0
    days: Annotated[float, Field(ge=0, le=3650)] = 0.0

    @model_validator(mode="after")
    def _one_anchor(self) -> Self:
        anchors = [self.day is not None, self.after is not None, self.after_dose is not None]
        if sum(anchors) != 1:
            raise ValueError("a start gives exactly one of day, after or after_dose")
        if self.day is not None and (self.hours or self.days):
            raise ValueError("with 'day', give the time of day as 'hour', not hours/days")
        return self


class Episode(Spec):
    name: Text
    start: Start
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """Allow ``set``/``crs_signs``/``icans_signs``/``hours`` directly on the episode."""
        if isinstance(data, dict) and "steps" not in data:
            keys = ("set", "crs_signs", "icans_signs", "hours")
            if any(k in data for k in keys):
                step = {k: data[k] for k in keys if k in data}
                rest = {k: v for k, v in data.items() if k not in keys}
                return {**rest, "steps": [step]}
        return data

    @model_validator(mode="after")
    def _open_end_last(self) -> Self:
        for step in self.steps[:-1]:
            if step.hours is None:
                raise ValueError("only the last step may leave out hours (lasting to the end)")
        return self


class Scenario(Spec):
    id: Slug
    title: Text
    summary: Annotated[str, Field(min_length=1, max_length=200)]
    teaching_note: Text | None = None
    protocol: Text = Field(
        description="a built-in protocol id, or a file path relative to this scenario"
    )
    patient: Patient
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    episodes: list[Episode] = Field(default_factory=list, max_length=MAX_EPISODES)
