"""Cytokine release syndrome in a virtual patient: how severe, when it starts, its signs.

*Severity.* An ordinal latent score (parameters ``crs``): the expansion peak that drives
CRS, disease burden (not dose: Mueller 2018, Awasthi 2020), the product class and the
patient's own propensity. The peak comes from the cells given so far: a fraction withheld
lowers the peak and so the planned grade.

*Onset.* A hazard in time from the first infusion, non-anticipating: at time ``t`` it uses
only what has been given by ``t``::

    rate(t) = exp(log_rate + severity_slope * propensity + omega * z_onset)
              x product onset factor
              x [ N(t) ** dose_exponent + expansion(t) / expansion_copies ]

``N(t)`` is the CAR-T cells/kg given by ``t`` (in 1e6) and ``propensity`` the part of the
severity score that does not come from the expansion (burden, product, the patient's own
propensity). CRS starts when the cumulative rate reaches 1. So patients heading for
severe CRS, with more cells on board or more disease, start earlier (McNerney 2023:
high-grade CRS began at a median day 3 vs day 5 for no or low-grade CRS); those who
start late do so as the expansion nears its peak (ELIANA: 1 patient began after day 10).
A later dose changes the rate only from the time it is given, so the past of a re-planned
patient never changes.

*Signs.* Each grade is shown by the signs the ASTCT consensus grades it from (Lee 2019):
fever alone is grade 1; grade 2, 3 and 4 add hypotension (fluids; one vasopressor;
several) or hypoxia (low-flow; high-flow; positive pressure). After tocilizumab or
steroids the fever is masked and the grade follows hypotension and hypoxia only, so it
can fall to 0 while the patient is still being treated.

*Treatment* (the protocol's ``management`` policy): tocilizumab when the grade reaches
``tocilizumab_from_crs_grade``, repeated every ``tocilizumab_repeat_h`` while CRS is
still rising, at most ``tocilizumab_max_doses`` (Kymriah label: repeat after >= 8 h
without improvement, at most 4 doses); steroids from ``steroids_from_crs_grade``. Each
shortens the episode (``*_duration_factor``); none changes the expansion (Stein 2019).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from sim.clinical.grading import HYPOTENSION_LEVELS, OXYGEN_LEVELS, crs_grade_reason
from sim.model.kinetics import Curve
from sim.model.parameters import Crs
from sim.model.timeline import H_PER_DAY, Steps, Timeline, episode_steps
from sim.spec.protocol import Management
from sim.spec.scenario import CrsSigns

MAX_ONSET_DAYS = 60.0
"""CRS starting later than this after the last dose is not CRS from that dose."""
ONSET_RESOLUTION_H = 0.1
"""Onset is found to within 6 minutes (the next later instant)."""


def ordinal(score: float, cutpoints: Sequence[float]) -> int:
    return sum(1 for c in cutpoints if score > c)


def onset_h(
    c: Crs,
    doses: Sequence[tuple[float, float]],
    propensity: float,
    main: Curve,
    z_onset: float,
    rate_factor: float,
) -> float | None:
    """When CRS starts (sim hours), or None if the cumulative rate never reaches 1.

    ``doses`` are ``(time_h, cells_per_kg)`` in time order; ``propensity`` is the part of
    the severity score that does not depend on the doses (burden, product, the patient's
    own propensity); ``main`` is the expansion curve of the doses.
    """
    o = c.onset
    rate = (
        math.exp(o.log_rate_per_day + o.severity_slope * propensity + o.omega * z_onset)
        * rate_factor
    )
    earliest = doses[0][0] + o.min_hours
    total = 0.0  # cumulative rate
    given = 0.0  # 1e6 cells/kg
    for k, (t_k, cpk) in enumerate(doses):
        given += cpk / 1e6
        a = t_k / H_PER_DAY
        last = k + 1 == len(doses)
        b = (t_k / H_PER_DAY + MAX_ONSET_DAYS) if last else doses[k + 1][0] / H_PER_DAY
        flat = given**o.dose_exponent

        def cumulative(t: float, a: float = a, flat: float = flat) -> float:
            return rate * (flat * (t - a) + main.integral(a, t) / o.expansion_copies)

        piece = cumulative(b)
        if total + piece >= 1.0:
            # bracket the crossing by doubling steps from the start of the piece (onset is
            # usually days, the last piece is 60 days long), then bisect to under a minute
            lo, step = a, 0.25
            hi = min(b, a + step)
            while total + cumulative(hi) < 1.0:
                lo, step = hi, step * 2
                hi = min(b, hi + step)
            while (hi - lo) * H_PER_DAY > ONSET_RESOLUTION_H:
                mid = 0.5 * (lo + hi)
                if total + cumulative(mid) >= 1.0:
                    hi = mid
                else:
                    lo = mid
            return max(hi * H_PER_DAY, earliest)
        total += piece
    return None


@dataclass(frozen=True, slots=True)
class CrsCourse:
    grade: int
    steps: Steps
    timeline: Timeline
    tocilizumab_h: tuple[float, ...]
    steroids_h: float | None
    grade4_h: float | None


def _signs(c: Crs, grade: int, masked: bool, z_fever: float, u_sign: float) -> CrsSigns:
    temperature = min(41.0, max(38.0, 38.2 + 0.35 * grade + 0.3 * z_fever))
    hypotension, oxygen = 0, 0
    if grade >= 2:
        if u_sign < c.hypotension_share:
            hypotension = grade - 1
        else:
            oxygen = grade - 1
    return _crs_signs(37.0 if masked else round(temperature, 1), hypotension, oxygen, masked)


@cache
def _crs_signs(temperature_c: float, hypotension: int, oxygen: int, masked: bool) -> CrsSigns:
    """One (frozen) signs object per distinct set of signs: re-plans reuse them."""
    return CrsSigns(
        temperature_c=temperature_c,
        hypotension=HYPOTENSION_LEVELS[hypotension],
        oxygen=OXYGEN_LEVELS[oxygen],
        fever_masked=masked,
    )


@cache
def _why(signs: CrsSigns) -> str:
    _, why = crs_grade_reason(
        signs.temperature_c, signs.hypotension, signs.oxygen, signs.fever_masked
    )
    return f"CRS {why}"


def crs_course(
    c: Crs,
    policy: Management,
    grade: int,
    start_h: float,
    *,
    z_duration: float,
    z_fever: float,
    u_sign: float,
) -> CrsCourse:
    """The course of a CRS episode of peak grade ``grade`` >= 1 starting at ``start_h``."""
    toci = policy.tocilizumab_max_doses > 0 and grade >= policy.tocilizumab_from_crs_grade
    steroids = grade >= policy.steroids_from_crs_grade
    days = c.duration_median_days * math.exp(
        c.omega_duration * z_duration + c.duration_grade_slope * (grade - 2)
    )
    if toci:
        days *= c.tocilizumab_duration_factor
    if steroids:
        days *= c.steroids_duration_factor
    days = min(days, c.max_duration_days)
    steps = episode_steps(start_h, grade, days * H_PER_DAY, c.rise_hours_per_grade)
    doses: list[float] = []
    if toci:
        t = steps.first_at_least(policy.tocilizumab_from_crs_grade)
        while t is not None and t <= steps.plateau_start_h + 1e-9:
            if len(doses) == policy.tocilizumab_max_doses:
                break
            doses.append(t)
            t += policy.tocilizumab_repeat_h
    steroids_h = steps.first_at_least(policy.steroids_from_crs_grade) if steroids else None
    treated = [t for t in (doses[0] if doses else None, steroids_h) if t is not None]
    masked_from = min(treated) + c.fever_masking_hours if treated else math.inf
    changes = sorted({*steps.times, steps.end_h} | ({masked_from} if treated else set()))
    timeline: Timeline = []
    for t in changes:
        if t >= steps.end_h:
            timeline.append((t, None))
            break
        g = steps.grade_at(t)
        signs = _signs(c, g, t >= masked_from, z_fever, u_sign)
        timeline.append((t, {"crs_signs": signs, "why": _why(signs)}))
    grade4_h = steps.first_at_least(4)
    return CrsCourse(grade, steps, timeline, tuple(doses), steroids_h, grade4_h)
