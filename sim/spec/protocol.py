"""The protocol language: what a CAR-T dosing protocol file may say.

Units are in the field names: ``cells_per_kg`` and ``cells`` are plain numbers of
cells (write ``1.0e5`` for 0.1 x10^6/kg), ``mg_per_m2`` for chemotherapy, ``_h`` for
hours and ``_day`` for study days. Day 0 is the day of the first CAR-T infusion unless
``calendar.anchor_day`` numbers it otherwise (Penn numbered its first fraction day 1).

Gate actions, most severe first: ``stop`` > ``skip`` > ``delay`` > ``reduce`` > ``give``.
When several rules of a gate fire, the most severe action wins; among rules with the
same action, the first listed gives the reason. When no rule fires, the fraction is given.

This module imports neither simpy nor numpy: it describes, the engine simulates.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, PositiveInt, model_validator

from sim.spec.base import ConditionField, Hour, Slug, Spec, StudyDay, Text

Action = Literal["give", "delay", "skip", "stop", "reduce"]
SEVERITY: dict[str, int] = {"give": 0, "reduce": 1, "delay": 2, "skip": 3, "stop": 4}
"""Severity of gate actions: when several rules fire, the highest wins."""

MIN_CELLS_PER_KG = 1.0e3
MAX_CELLS_PER_KG = 1.0e9
MAX_CELLS = 1.0e12
MAX_RULES = 100
"""Most rules in one gate (and gates in a protocol): every gate check evaluates them all."""

CellsPerKg = Annotated[
    float,
    Field(
        ge=MIN_CELLS_PER_KG,
        le=MAX_CELLS_PER_KG,
        description="cells per kg body weight as a plain number: 1.0e5 means 0.1 x10^6/kg",
    ),
]
Cells = Annotated[
    float, Field(ge=1.0e3, le=MAX_CELLS, description="a flat number of cells, e.g. 2.5e8")
]


class Source(Spec):
    """Where the protocol comes from."""

    trial: Text
    citation: Text
    registry: str | None = Field(None, description="e.g. NCT04778579")
    status: Literal["verified", "secondary", "assumed"] = Field(
        description="verified: checked against a primary text; secondary: news or summary "
        "only; assumed: a teaching example built from typical practice"
    )


class Assumption(Spec):
    """A parameter the source does not give, with what was assumed and why."""

    field: Text
    note: Text


class Calendar(Spec):
    anchor_day: StudyDay = Field(
        0, description="the study-day number of the first CAR-T infusion (0, or 1 for Penn)"
    )
    infusion_hour: Hour = 10.0


class Drug(Spec):
    name: Text
    mg_per_m2: Annotated[float, Field(gt=0, le=10_000)]
    days: list[StudyDay] = Field(min_length=1, description="study days the drug is given")
    hour: Hour = 9.0


class LdValidity(Spec):
    max_days_after_ld: PositiveInt = Field(
        description="the first infusion must start within this many days after the last LD day"
    )
    on_expiry: Literal["repeat_ld", "stop"]
    max_repeats: Annotated[int, Field(ge=0, le=5)] = 1


class DoseBand(Spec):
    """One weight band of a dose: the first band whose ``up_to_kg`` covers the weight."""

    up_to_kg: Annotated[float, Field(gt=0, le=400)] | None = None
    cells_per_kg: CellsPerKg | None = None
    cells: Cells | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        if (self.cells_per_kg is None) == (self.cells is None):
            raise ValueError("a dose band gives exactly one of cells_per_kg or cells")
        return self


class DoseAmount(Spec):
    """A dose: per kg, flat, a share of the planned total, or by weight band."""

    cells_per_kg: CellsPerKg | None = None
    cells: Cells | None = None
    share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="share of the planned total, e.g. 0.1 for 10 %"
    )
    bands: list[DoseBand] | None = Field(None, min_length=1)
    max_cells: Cells | None = Field(None, description="cap on the cells in this dose")
    range_per_kg: tuple[CellsPerKg, CellsPerKg] | None = Field(
        None, description="the prescribing range the protocol allows, per kg"
    )

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        given = [
            k for k in ("cells_per_kg", "cells", "share", "bands") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a dose gives exactly one of cells_per_kg, cells, share or bands"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.range_per_kg is not None:
            low, high = self.range_per_kg
            if low > high:
                raise ValueError("range_per_kg is [low, high] with low <= high")
            if self.cells_per_kg is not None and not low <= self.cells_per_kg <= high:
                raise ValueError(
                    f"cells_per_kg {self.cells_per_kg:g} lies outside range_per_kg "
                    f"[{low:g}, {high:g}]"
                )
        if self.bands is not None:
            for band in self.bands[:-1]:
                if band.up_to_kg is None:
                    raise ValueError("only the last weight band may leave out up_to_kg")
            limits = [b.up_to_kg for b in self.bands if b.up_to_kg is not None]
            if limits != sorted(limits) or len(set(limits)) != len(limits):
                raise ValueError("weight bands must be listed with increasing up_to_kg")
        return self


class GateRule(Spec):
    """One rule of a gate: when the condition holds, take the action."""

    name: Slug
    when: ConditionField
    action: Action
    reason: Text | None = Field(None, description="plain-language reason shown in traces")
    recheck_h: Annotated[float, Field(gt=0, le=24 * 60)] | None = Field(
        None, description="delay: hours between re-checks"
    )
    max_wait_h: Annotated[float, Field(gt=0, le=24 * 365)] | None = Field(
        None, description="delay: give up after holding this long"
    )
    on_timeout: Literal["skip", "stop"] | None = Field(
        None, description="delay: what to do on giving up"
    )
    at_floor: Literal["give", "skip", "stop"] | None = Field(
        None, description="reduce: what to do when the dose is already at the lowest level"
    )

    @model_validator(mode="after")
    def _fields_match_action(self) -> Self:
        delay_fields = {
            "recheck_h": self.recheck_h,
            "max_wait_h": self.max_wait_h,
            "on_timeout": self.on_timeout,
        }
        if self.action == "delay":
            missing = [k for k, v in delay_fields.items() if v is None]
            if missing:
                raise ValueError(f"a delay rule needs {', '.join(missing)}")
        else:
            extra = [k for k, v in delay_fields.items() if v is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)} only apply to action 'delay'")
        if self.action == "reduce" and self.at_floor is None:
            raise ValueError("a reduce rule needs at_floor (give, skip or stop)")
        if self.action != "reduce" and self.at_floor is not None:
            raise ValueError("at_floor only applies to action 'reduce'")
        return self


class Lymphodepletion(Spec):
    """Lymphodepleting chemotherapy before the first infusion.

    Its gate (``use_gate`` and/or ``gate``) is checked before each LD dose time of every
    course, the first and any repeat: ``delay`` holds the rest of the course (it resumes at
    the same hour on the first day the gate clears, and the first infusion moves with it),
    ``stop`` ends the protocol before any CAR-T cells. Only ``delay`` (with ``on_timeout:
    stop``) and ``stop`` apply. The gate's events are logged with fraction ``LD``.
    """

    regimen: Text
    bsa_formula: Literal["mosteller", "dubois"] = "mosteller"
    bsa_cap_m2: Annotated[float, Field(gt=0.1, le=4.0)] | None = None
    drugs: list[Drug] = Field(min_length=1)
    validity: LdValidity | None = None
    use_gate: Slug | None = Field(
        None, description="a shared gate from 'gates', checked before each LD dose"
    )
    gate: list[GateRule] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description="rules checked before each LD dose (delay or stop only)",
    )


class Fraction(Spec):
    id: Slug
    label: Text | None = None
    dose: DoseAmount
    day: StudyDay | None = Field(None, description="nominal study day")
    hour: Hour | None = Field(None, description="hour of the day; default calendar.infusion_hour")
    min_interval_h: Annotated[float, Field(ge=0, le=24 * 365)] = Field(
        24.0, description="earliest start, in hours after the previous fraction actually given"
    )
    latest_day: StudyDay | None = Field(None, description="last study day it may still be given")
    if_missed: Literal["skip", "stop"] = Field(
        "skip", description="what happens if it cannot start by latest_day"
    )
    use_gate: Slug | None = Field(None, description="a shared gate from 'gates', checked first")
    gate: list[GateRule] = Field(
        default_factory=list, max_length=MAX_RULES, description="this fraction's own rules"
    )


class StopWhen(Spec):
    name: Slug
    when: ConditionField
    reason: Text


class RepeatDosing(Spec):
    """Repeat doses (e.g. CAR-DLI) on an escalating ladder, started by a trigger."""

    label: Text
    trigger: ConditionField
    earliest_day: StudyDay
    ladder: list[DoseAmount] = Field(min_length=1, description="dose of repeat 1, 2, ...")
    min_interval_days: Annotated[float, Field(gt=0, le=3650)]
    confirm_days: Annotated[float, Field(ge=0, le=365)] = Field(
        0.0,
        description="days from the trigger first being met to the first repeat dose (time to "
        "confirm relapse on a marrow examination and plan the dose); the trigger must "
        "still hold then",
    )
    max_doses: Annotated[int, Field(ge=1, le=20)]
    hour: Hour | None = None
    use_gate: Slug | None = Field(None, description="a shared gate from 'gates', checked first")
    gate: list[GateRule] = Field(default_factory=list, max_length=MAX_RULES)
    stop_when: list[StopWhen] = Field(default_factory=list, max_length=MAX_RULES)


class Procedure(Spec):
    """A planned procedure (debulking, transplant ...) on a study day, optionally conditional."""

    name: Text
    kind: Literal["debulking", "bridging", "transplant", "other"]
    day: StudyDay
    hour: Hour = 8.0
    when: ConditionField | None = None
    note: Text | None = None


class FollowUp(Spec):
    visit_days: list[StudyDay] = Field(default_factory=list)
    visit_hour: Hour = 9.0
    response_day: StudyDay | None = Field(
        28, description="the main response assessment (CR rate, EFS's no-remission event)"
    )
    assessment_days: list[StudyDay] = Field(
        default_factory=list,
        description="further response assessments, e.g. [100]: response at each is an endpoint",
    )
    horizon_day: Annotated[int, Field(ge=1, le=36_500)]


class DosePlan(Spec):
    """A dose plan chosen by a patient value measured before lymphodepletion."""

    label: Text
    when: ConditionField | None = Field(None, description="leave out on the last plan")
    planned_total: DoseAmount | None = None
    fractions: dict[str, DoseAmount] = Field(
        default_factory=dict, description="per-fraction doses that replace the default ones"
    )


class Product(Spec):
    """The CAR-T product. ``kind``, ``costimulation`` and ``binder`` select the virtual-patient
    model's kinetic and toxicity parameters for the product class (``products`` in
    sim/model/parameters.yaml, each with its source); the reference is an autologous 4-1BB
    product with a standard binder (tisagenlecleucel, Stein 2019)."""

    name: Text
    kind: Literal["autologous", "allogeneic_donor"]
    costimulation: Literal["4-1BB", "CD28"] = Field(
        "4-1BB", description="costimulatory domain of the CAR (4-1BB or CD28)"
    )
    binder: Literal["standard", "fast_off_rate"] = Field(
        "standard",
        description="antigen binder: standard, or a fast off-rate binder (e.g. CAT19)",
    )
    target: Text = "CD19"
    car_positive_pct: Annotated[float, Field(gt=0, le=100)] | None = Field(
        None,
        description="CAR+ share of the product's T cells, %: turns CAR+ cells into the "
        "donor T-cell dose that drives GVHD for allogeneic products",
    )


class Management(Spec):
    """How the centre treats CRS, ICANS and IEC-HS in virtual patients: an editable policy.

    Defaults follow common practice (domain.md 3.5, an UNVERIFIED composite): supportive
    care for grade 1 CRS; tocilizumab from grade 2, repeated after at least 8 h when CRS has
    not improved, at most 4 doses (Kymriah label, Table 1); corticosteroids from CRS grade 3
    or ICANS grade 2; anakinra for IEC-HS (Hines 2023). Treatment shows in the patient state
    (``tocilizumab_doses``, ``tocilizumab_since_last_dose``, ``steroids_active``,
    ``anakinra_active``, ``fever_masked``) so gates can see it. Scripted scenarios are not
    treated by this policy: a script states its own signs and treatment.
    """

    tocilizumab_from_crs_grade: Annotated[int, Field(ge=1, le=4)] = 2
    tocilizumab_repeat_h: Annotated[float, Field(ge=1, le=72)] = 8.0
    tocilizumab_max_doses: Annotated[int, Field(ge=0, le=4)] = 4
    steroids_from_crs_grade: Annotated[int, Field(ge=1, le=4)] = 3
    steroids_from_icans_grade: Annotated[int, Field(ge=1, le=4)] = 2
    anakinra_for_iec_hs: bool = True


PatientFlag = Literal[
    "cns_disease", "extramedullary_disease", "prior_allo_hct", "transplant_candidate"
]
"""The patient's yes/no baseline facts an eligibility rule may require or exclude."""


class Limits(Spec):
    """An inclusive range; either end may be left out."""

    min: Annotated[float, Field(ge=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _a_limit(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class Eligibility(Spec):
    """Who the protocol admits: a patient outside any limit is refused (unless forced)."""

    age_y: Limits | None = Field(None, description="age at enrolment, years (inclusive)")
    weight_kg: Limits | None = Field(None, description="body weight, kg (inclusive)")
    marrow_blasts_pct: Limits | None = Field(
        None, description="bone-marrow blasts before lymphodepletion, % (inclusive)"
    )
    require: list[PatientFlag] = Field(
        default_factory=list, description="disease status the patient must have"
    )
    exclude: list[PatientFlag] = Field(
        default_factory=list, description="disease status that excludes the patient"
    )

    @model_validator(mode="after")
    def _no_contradiction(self) -> Self:
        both = sorted(set(self.require) & set(self.exclude))
        if both:
            raise ValueError(f"'{both[0]}' is both required and excluded")
        return self


class ProtocolPopulation(Spec):
    """The patients a protocol is for: the virtual population one-patient runs draw from,
    and the eligibility limits every run's patient is checked against."""

    name: Slug = Field(
        description="the virtual population: adult-rr-ball, paediatric-ya-ball, "
        "post-allo-relapse or cns-relapse (the model's parameter file defines them)"
    )
    eligibility: Eligibility = Field(default_factory=lambda: Eligibility())
    note: Text | None = Field(None, description="where the limits come from")


class Protocol(Spec):
    """A CAR-T dosing protocol: the whole file."""

    id: Slug
    title: Text
    summary: Annotated[str, Field(min_length=1, max_length=200)]
    source: Source
    assumptions: list[Assumption] = Field(default_factory=list)
    product: Product
    management: Management = Field(default_factory=lambda: Management())
    population: ProtocolPopulation | None = Field(
        None, description="the protocol's population and eligibility (default: adult-rr-ball)"
    )
    calendar: Calendar = Field(default_factory=lambda: Calendar())
    lymphodepletion: Lymphodepletion | None = None
    procedures: list[Procedure] = Field(default_factory=list)
    planned_total: DoseAmount | None = None
    dose_selection: list[DosePlan] = Field(default_factory=list)
    dose_ladder: list[Annotated[float, Field(gt=0, le=1)]] | None = Field(
        None, description="dose multipliers for 'reduce', e.g. [1.0, 0.5, 0.25]"
    )
    undelivered: Literal["drop", "carry_forward"] = Field(
        "drop", description="cells of a fraction not given: dropped, or added to the next"
    )
    gates: dict[str, Annotated[list[GateRule], Field(max_length=MAX_RULES)]] = Field(
        default_factory=dict, max_length=MAX_RULES
    )
    fractions: list[Fraction] = Field(min_length=1, max_length=50)
    repeat_dosing: RepeatDosing | None = None
    follow_up: FollowUp
