"""The clinic language: what a CAR-T unit file may say (frozen, extra-forbidding models).

A clinic file describes a unit, not a patient: how many patients are referred a month
and from which populations, the apheresis, manufacturing, lymphodepletion (LD) chairs,
ward beds and ICU beds it has, what happens to patients while they wait, and, for each
protocol it runs, where the product is made and how patients are monitored. Units are
in the names (``_days``, ``_per_month``); a month is :data:`DAYS_PER_MONTH` days.

This module imports neither simpy nor numpy: it describes, :mod:`sim.clinic.flow`
simulates.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from sim.spec.base import ConditionField, Slug, Spec, Text
from sim.spec.protocol import Assumption

DAYS_PER_MONTH = 30.4375
"""A month is 365.25 / 12 days (the mean month of the Julian year)."""
MAX_DAYS = 3650.0
MAX_SLOTS = 10_000

Days = Annotated[float, Field(gt=0, le=MAX_DAYS, description="days")]
Share = Annotated[float, Field(ge=0, le=1, description="a share between 0 and 1")]
Slots = Annotated[int, Field(ge=1, le=MAX_SLOTS)]


class Citation(Spec):
    """A published source for some of the file's numbers."""

    cites: Text = Field(description="which fields the source supports")
    source: Text


class Fixed(Spec):
    distribution: Literal["fixed"]
    days: Days


class LogNormal(Spec):
    """Log-normal: ``median_days`` and the standard deviation of the log (``sd_log``)."""

    distribution: Literal["lognormal"]
    median_days: Days
    sd_log: float = Field(ge=0, le=3)


class Uniform(Spec):
    distribution: Literal["uniform"]
    low_days: Days
    high_days: Days

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.high_days < self.low_days:
            raise ValueError("high_days must be at least low_days")
        return self


Duration = Annotated[Fixed | LogNormal | Uniform, Field(discriminator="distribution")]


class Arrivals(Spec):
    """Referrals: a Poisson process, each patient from one population of the mix."""

    per_month: float = Field(
        gt=0, le=500, description="mean referrals per month (at most 500: 60,000 in ten years)"
    )
    population_mix: dict[Slug, Share] = Field(
        min_length=1, description="population name -> share of referrals (shares sum to 1)"
    )

    @model_validator(mode="after")
    def _sums_to_one(self) -> Self:
        total = sum(self.population_mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"population_mix shares must sum to 1, got {total:g}")
        return self

    @property
    def populations(self) -> list[str]:
        return list(self.population_mix)


class Apheresis(Spec):
    slots: Slots = Field(description="patients collected at once (machines and staff)")
    duration_days: Days = Field(1.0, description="how long a collection occupies its slot")


class Manufacturing(Spec):
    """One way of making the product: in-house (point of care) or a central facility."""

    site: Literal["in_house", "central"]
    slots: Slots | None = Field(
        description="products made at once; null: as many as needed (a central facility)"
    )
    duration: Duration = Field(description="from the start of manufacturing to release")
    failure_rate: Share = Field(description="share of attempts that fail (out of specification)")
    max_attempts: int = Field(2, ge=1, le=5, description="attempts before the patient drops out")
    transport_days: float = Field(
        0.0, ge=0, le=60, description="shipping and receipt after release (no slot held)"
    )


class Waiting(Spec):
    """What happens between referral and LD: death, progression, bridging therapy.

    Death and progression (which makes the patient drop out) are competing exponential
    hazards; a high disease burden (marrow blasts at or above ``high_burden_blasts_pct``)
    multiplies both, bridging therapy (given to a share of patients) scales both."""

    death_per_month: float = Field(ge=0, le=10)
    progression_per_month: float = Field(ge=0, le=10)
    high_burden_blasts_pct: float = Field(5.0, ge=0, le=100)
    high_burden_hazard_ratio: float = Field(1.0, gt=0, le=20)
    bridging_share: Share = 0.0
    bridging_hazard_ratio: float = Field(1.0, gt=0, le=20)


class Admission(Spec):
    """When a patient at home is admitted to a ward bed, and when they leave it."""

    admit_when: ConditionField
    discharge_after_clear_days: float = Field(
        1.0, ge=0, le=60, description="days without the admission condition before discharge"
    )


class Icu(Spec):
    """ICU care while a condition lasts; ``when_full`` says what happens with no ICU bed:
    ``transfer_out`` (to another hospital's ICU, back to the ward when it is over) or
    ``wait`` (ICU-level care on the ward until an ICU bed frees or the episode ends)."""

    admit_when: ConditionField
    when_full: Literal["transfer_out", "wait"] = "transfer_out"


class Inpatient(Spec):
    """Admitted from LD (or from the first infusion) to ``days_after_last_fraction`` days
    after the last fraction given, and longer while the admission condition lasts."""

    setting: Literal["inpatient"]
    admit_from: Literal["ld", "first_infusion"] = "ld"
    days_after_last_fraction: float = Field(ge=0, le=120)


class Outpatient(Spec):
    """At home from LD on; admitted only when the admission condition arises."""

    setting: Literal["outpatient"]


Monitoring = Annotated[Inpatient | Outpatient, Field(discriminator="setting")]


class ProtocolRules(Spec):
    """How the unit runs one protocol: where the product is made, how patients stay."""

    manufacturing: Slug = Field(description="a name under manufacturing")
    monitoring: Monitoring


class Clinic(Spec):
    id: Slug
    title: Text
    citations: list[Citation] = Field(default_factory=list)
    assumptions: list[Assumption] = Field(default_factory=list)
    arrivals: Arrivals
    apheresis: Apheresis
    manufacturing: dict[Slug, Manufacturing] = Field(min_length=1)
    waiting: Waiting
    ld_chairs: Slots = Field(description="patients who can be in their LD course at once")
    beds: Slots = Field(description="ward beds of the unit")
    icu_beds: Slots
    admission: Admission
    icu: Icu
    protocols: dict[Slug, ProtocolRules] = Field(
        min_length=1, description="protocol id -> how the unit runs it"
    )

    def unlimited(self) -> Clinic:
        """The same unit with every resource in ample supply (for checks and tests)."""
        big = MAX_SLOTS
        plenty = {k: m.model_copy(update={"slots": None}) for k, m in self.manufacturing.items()}
        return self.model_copy(
            update={
                "apheresis": self.apheresis.model_copy(update={"slots": big}),
                "manufacturing": plenty,
                "ld_chairs": big,
                "beds": big,
                "icu_beds": big,
            }
        )
