"""Who is referred, when, and what each patient will meet while waiting.

Referrals are a Poisson process (exponential gaps with mean ``DAYS_PER_MONTH /
per_month`` days); each patient's population is drawn from the mix. Everything random
about a patient that the clinic (not the biology) decides is drawn here once, from the
patient's own streams, and is the same in every protocol arm: manufacturing times are
quantiles (the same quantile of the in-house and of the central distribution), failures
and the times of death and progression while waiting are unit-rate exponentials scaled
by the patient's hazard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from sim.clinic.spec import DAYS_PER_MONTH, Arrivals, Duration, Fixed, LogNormal, Waiting
from sim.clinic.streams import clinic_stream

MAX_ATTEMPTS = 5
_EPS = 1e-12


@dataclass(frozen=True, slots=True)
class Referral:
    """Patient ``index`` of a replication: when referred, from which population, and the
    draws the clinic will use (all common to every arm)."""

    index: int
    time_h: float
    population: str
    manufacturing_quantiles: tuple[float, ...]  # one per attempt
    failure_draws: tuple[float, ...]  # an attempt fails when its draw < failure_rate
    bridging_draw: float
    death_exp: float  # unit-rate exponential: death at death_exp / hazard
    progression_exp: float


def referrals(arrivals: Arrivals, seed: int, replication: int, days: float) -> list[Referral]:
    """Every referral of a replication in ``[0, days)`` days."""
    times_rng = clinic_stream(seed, replication, "referral_times")
    pop_rng = clinic_stream(seed, replication, "referral_populations")
    names = arrivals.populations
    shares = [arrivals.population_mix[n] for n in names]
    gap_days = DAYS_PER_MONTH / arrivals.per_month
    out: list[Referral] = []
    t_days = 0.0
    while True:
        t_days += float(times_rng.exponential(gap_days))
        if t_days >= days:
            return out
        i = len(out)
        population = names[int(pop_rng.choice(len(names), p=shares))]
        out.append(_referral(seed, replication, i, t_days * 24.0, population))


def _referral(seed: int, replication: int, i: int, time_h: float, population: str) -> Referral:
    def draws(quantity: str, n: int) -> tuple[float, ...]:
        rng = clinic_stream(seed, replication, quantity, i)
        return tuple(min(1 - _EPS, max(_EPS, float(x))) for x in rng.random(n))

    return Referral(
        index=i,
        time_h=time_h,
        population=population,
        manufacturing_quantiles=draws("manufacturing_time", MAX_ATTEMPTS),
        failure_draws=draws("manufacturing_failure", MAX_ATTEMPTS),
        bridging_draw=draws("bridging", 1)[0],
        death_exp=float(clinic_stream(seed, replication, "death_while_waiting", i).exponential()),
        progression_exp=float(
            clinic_stream(seed, replication, "progression_while_waiting", i).exponential()
        ),
    )


def duration_days(duration: Duration, quantile: float) -> float:
    """The ``quantile`` of a duration distribution, in days."""
    if isinstance(duration, Fixed):
        return duration.days
    if isinstance(duration, LogNormal):
        return duration.median_days * math.exp(duration.sd_log * NormalDist().inv_cdf(quantile))
    return duration.low_days + quantile * (duration.high_days - duration.low_days)


def waiting_hazards_per_day(
    waiting: Waiting, blasts_pct: float, bridged: bool
) -> tuple[float, float]:
    """Daily hazards of death and of progression while waiting, for one patient."""
    ratio = waiting.high_burden_hazard_ratio if blasts_pct >= waiting.high_burden_blasts_pct else 1
    if bridged:
        ratio *= waiting.bridging_hazard_ratio
    per_day = ratio / DAYS_PER_MONTH
    return waiting.death_per_month * per_day, waiting.progression_per_month * per_day


def time_of(exp_draw: float, hazard_per_day: float) -> float:
    """Hours until an event of a unit-rate exponential ``exp_draw`` at this hazard (inf: never)."""
    return math.inf if hazard_per_day <= 0 else exp_draw / hazard_per_day * 24.0
