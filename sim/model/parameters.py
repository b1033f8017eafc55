"""The model's parameter file as validated, frozen data."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from sim.errors import InputError
from sim.spec.base import Spec
from sim.spec.load import _problems
from sim.spec.yamlio import parse_yaml

Pos = Annotated[float, Field(gt=0)]
Prob = Annotated[float, Field(ge=0, le=1)]
DEFAULT_FILE = Path(__file__).with_name("parameters.yaml")


class Kinetics(Spec):
    rho_per_day: Pos
    omega_rho: Annotated[float, Field(ge=0)]
    capacity_copies: Pos
    omega_capacity: Annotated[float, Field(ge=0)]
    seed_copies_per_1e6_per_kg: Pos
    saturation_1e6_per_kg: Pos
    alpha_per_day: Pos
    omega_alpha: Annotated[float, Field(ge=0)]
    fb: Prob
    omega_fb: Annotated[float, Field(ge=0)]
    beta_per_day: Pos
    omega_beta: Annotated[float, Field(ge=0)]
    no_ld_capacity_factor: Pos
    burden_capacity_exponent: Annotated[float, Field(ge=0)]
    post_peak_capacity_factor: Prob
    lloq_copies: Pos


class CrsOnset(Spec):
    """CRS onset: a hazard in time, from the first CAR-T infusion (see sim/model/crs.py)."""

    log_rate_per_day: float
    severity_slope: Annotated[float, Field(ge=0)]
    omega: Annotated[float, Field(ge=0)]
    dose_exponent: Annotated[float, Field(ge=0, le=2)]
    expansion_copies: Pos
    min_hours: Annotated[float, Field(ge=0, le=72)]


class Crs(Spec):
    intercept: float
    slope_peak: float
    slope_burden: float
    cutpoints: Annotated[list[float], Field(min_length=4, max_length=4)]
    ld_expansion_weight: Prob
    onset: CrsOnset
    duration_median_days: Pos
    omega_duration: Annotated[float, Field(ge=0)]
    duration_grade_slope: float
    max_duration_days: Pos
    rise_hours_per_grade: Pos
    hypotension_share: Prob
    fever_masking_hours: Annotated[float, Field(ge=0, le=72)]
    tocilizumab_duration_factor: Pos
    steroids_duration_factor: Pos
    grade4_death_probability: Prob


class Icans(Spec):
    intercept: float
    slope_peak: float
    slope_burden: float
    slope_crs_grade: float
    correlation_with_crs: Annotated[float, Field(ge=-1, le=1)]
    cutpoints: Annotated[list[float], Field(min_length=4, max_length=4)]
    lag_median_days: Annotated[float, Field(ge=0)]
    omega_lag: Annotated[float, Field(ge=0)]
    duration_median_days: Pos
    omega_duration: Annotated[float, Field(ge=0)]
    max_duration_days: Pos
    seizure_share: Prob
    oedema_share: Prob


class IecHs(Spec):
    intercept: float
    slope_crs_grade: float
    lag_days: Annotated[float, Field(ge=0)]
    duration_days: Pos


class Gvhd(Spec):
    pmax: Prob
    d50_1e7_per_kg: Pos
    default_car_positive_pct: Annotated[float, Field(gt=0, le=100)]
    onset_median_days: Pos
    omega_onset: Annotated[float, Field(ge=0)]
    grade_probabilities: Annotated[list[Prob], Field(min_length=4, max_length=4)]
    duration_days: Pos


class Cytopenia(Spec):
    probability_with_ld: Prob
    probability_without_ld: Prob
    duration_median_days: Pos


class Infection(Spec):
    probability_when_cytopenic: Prob
    duration_days: Pos


class Response(Spec):
    intercept: float
    slope_peak: float
    slope_burden: float
    mrd_negative_given_cr: Prob
    days_after_peak: Annotated[float, Field(ge=0)]


class Survival(Spec):
    relapse_per_month: Pos
    relapse_slope_burden: float
    relapse_slope_peak: float
    relapse_paediatric_factor: Pos
    death_after_progression_per_month: Pos
    death_paediatric_factor: Pos
    death_refractory_factor: Pos
    background_death_per_month: Annotated[float, Field(ge=0)]


class ProductEffect(Spec):
    """How a product class differs from the reference (autologous 4-1BB, standard binder):
    factors on kinetic rates and capacity, and shifts of the CRS and ICANS severity scores."""

    capacity_factor: Pos = 1.0
    rho_factor: Pos = 1.0
    alpha_factor: Pos = 1.0
    beta_factor: Pos = 1.0
    onset_rate_factor: Pos = 1.0
    crs_shift: float = 0.0
    icans_shift: float = 0.0

    def combine(self, other: ProductEffect) -> ProductEffect:
        return ProductEffect(
            capacity_factor=self.capacity_factor * other.capacity_factor,
            rho_factor=self.rho_factor * other.rho_factor,
            alpha_factor=self.alpha_factor * other.alpha_factor,
            beta_factor=self.beta_factor * other.beta_factor,
            onset_rate_factor=self.onset_rate_factor * other.onset_rate_factor,
            crs_shift=self.crs_shift + other.crs_shift,
            icans_shift=self.icans_shift + other.icans_shift,
        )


class Products(Spec):
    """Product classes, each relative to the reference product (protocol ``product``:
    ``costimulation``, ``binder``, ``kind``); effects of several apply together."""

    cd28: ProductEffect
    fast_off_rate: ProductEffect
    allogeneic_donor: ProductEffect


class AgeDist(Spec):
    median: Pos
    sd: Pos
    low: Annotated[float, Field(ge=0)]
    high: Pos


class BlastDist(Spec):
    median: Pos
    low: Pos
    high: Annotated[float, Field(gt=0, le=100)]


class Population(Spec):
    age_y: AgeDist
    mrd_level_share: Prob
    blasts_morphologic: BlastDist
    extramedullary_share: Prob
    cns_share: Prob
    prior_allo_hct_share: Prob


class ModelParameters(Spec):
    version: int
    kinetics: Kinetics
    crs: Crs
    icans: Icans
    iec_hs: IecHs
    gvhd: Gvhd
    cytopenia: Cytopenia
    infection: Infection
    response: Response
    survival: Survival
    products: Products
    populations: dict[str, Population]


def load_parameters(path: Path | None = None) -> ModelParameters:
    """Load and validate a parameter file (default: the shipped one)."""
    if path is None:
        return _default()
    return _load(path, str(path))


@cache
def _default() -> ModelParameters:
    return _load(DEFAULT_FILE, "sim/model/parameters.yaml")


def _load(path: Path, shown: str) -> ModelParameters:
    from sim.spec.load import read_input  # bounded: a regular file, size-limited, one open

    located = parse_yaml(read_input(path, shown), shown)
    try:
        return ModelParameters.model_validate(located.data)
    except ValidationError as exc:
        raise InputError(_problems(located, exc)) from None
