"""Confidence intervals for cohort metrics (pure functions, numpy + stdlib only).

Every function returns an :class:`Estimate` (or, for :func:`kaplan_meier`, the curve) and never
touches a global random state: resampling takes an explicit :class:`numpy.random.Generator`.

Methods
-------
* Proportions: Wilson score interval (Wilson 1927, J Am Stat Assoc 22:209-212) and the exact
  Clopper-Pearson interval (Clopper & Pearson 1934, Biometrika 26:404-413) from beta quantiles.
  The regularised incomplete beta function is evaluated with its continued fraction (modified
  Lentz; Press et al., *Numerical Recipes*, 3rd ed., section 6.4) and inverted by bisection.
* Median: distribution-free interval between order statistics whose ranks come from the
  Binomial(n, 1/2) distribution (e.g. Conover, *Practical Nonparametric Statistics*, 3rd ed.,
  section 3.2; Hollander & Wolfe); percentile bootstrap (Efron & Tibshirani 1993, ch. 13).
* Survival: Kaplan-Meier product-limit estimator (Kaplan & Meier 1958, J Am Stat Assoc
  53:457-481) with Greenwood's variance (Greenwood 1926); pointwise interval on the
  log(-log S) scale (Kalbfleisch & Prentice 2002, section 1.4; Collett 2015, section 2.2.3);
  median survival with the Brookmeyer-Crowley interval (Brookmeyer & Crowley 1982, Biometrics
  38:29-41), obtained by inverting that log(-log) pointwise band.
* Paired binary outcomes: Newcombe's hybrid score interval for the difference of paired
  proportions, method 10 of Newcombe (1998), Stat Med 17:2635-2650 (Wilson limits of the two
  marginal proportions combined with the corrected phi coefficient of the paired 2x2 table).
* Paired continuous outcomes: Student t interval for the mean of the paired differences.

Normal quantiles come from :class:`statistics.NormalDist`; Student t quantiles from inverting
the incomplete beta function, so no SciPy is needed.

Every estimator is checked against a reference implementation on generated inputs
(tests/unit/test_stats_reference.py: statsmodels, SciPy, lifelines and Newcombe's published
worked examples, to 1e-9) and Kaplan-Meier also against R's survival package
(tests/test_km_reference_r.py). Cohort tallies keep values to 3 significant digits
(:func:`sim.tally.binned`): their medians and survival estimates are these estimators applied
to the binned values, and are tested as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "Estimate",
    "bootstrap_median",
    "clopper_pearson",
    "kaplan_meier",
    "km_at",
    "km_median",
    "median_ci",
    "paired_difference",
    "paired_difference_mean",
    "wilson",
]

FloatArray = npt.NDArray[np.float64]

_BETACF_MAXIT = 10_000
_BETACF_EPS = 1e-15
_FPMIN = 1e-300
# Elements resampled per bootstrap chunk: bounds memory without changing results for given inputs.
_BOOT_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    ``value`` is None when the quantity is undefined (no data, median not reached, time beyond
    follow-up); ``ci_low``/``ci_high`` are None when a limit cannot be computed or is not
    reached. ``n`` is the number of observations (patients or pairs) used.
    """

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Plain dict for reports; floats rounded to 6 decimals, None kept."""
        return {
            "value": _round(self.value),
            "ci_low": _round(self.ci_low),
            "ci_high": _round(self.ci_high),
            "n": self.n,
            "method": self.method,
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


# --------------------------------------------------------------------------------------------
# validation and special functions
# --------------------------------------------------------------------------------------------


def _check_level(level: float) -> None:
    if not (math.isfinite(level) and 0.0 < level < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _z(level: float) -> float:
    """Two-sided standard normal critical value for ``level``."""
    _check_level(level)
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _check_counts(successes: int, n: int) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")


def _finite_array(values: Sequence[float], name: str) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _FPMIN:
        d = _FPMIN
    d = 1.0 / d
    h = d
    for m in range(1, _BETACF_MAXIT + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + aa / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _BETACF_EPS:
            return h
    raise ArithmeticError(f"incomplete beta continued fraction did not converge (a={a}, b={b})")


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _beta_ppf(q: float, a: float, b: float) -> float:
    """Quantile of the Beta(a, b) distribution by bisection on :func:`_betainc`."""
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _betainc(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (0 < q < 1)."""
    if q == 0.5:
        return 0.0
    upper = q > 0.5
    tail = 2.0 * (1.0 - q if upper else q)  # two-sided tail probability P(|T| > t)
    # P(|T| > t) = I_{df / (df + t^2)}(df / 2, 1 / 2)
    x = _beta_ppf(tail, df / 2.0, 0.5)
    t = math.sqrt(df * (1.0 - x) / x)
    return t if upper else -t


# --------------------------------------------------------------------------------------------
# proportions
# --------------------------------------------------------------------------------------------


def _wilson_limits(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def wilson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Proportion ``successes / n`` with the Wilson score interval (None for n == 0)."""
    _check_counts(successes, n)
    z = _z(level)
    if n == 0:
        return Estimate(None, None, None, 0, "Wilson score")
    low, high = _wilson_limits(successes, n, z)
    return Estimate(successes / n, low, high, n, "Wilson score")


def clopper_pearson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """Proportion with the exact Clopper-Pearson interval (None for n == 0).

    Limits are the beta quantiles B(alpha/2; x, n-x+1) and B(1-alpha/2; x+1, n-x), with the
    lower limit 0 when x == 0 and the upper limit 1 when x == n.
    """
    _check_counts(successes, n)
    _check_level(level)
    if n == 0:
        return Estimate(None, None, None, 0, "Clopper-Pearson")
    alpha = 1.0 - level
    x = successes
    low = 0.0 if x == 0 else _beta_ppf(alpha / 2.0, x, n - x + 1)
    high = 1.0 if x == n else _beta_ppf(1.0 - alpha / 2.0, x + 1, n - x)
    return Estimate(x / n, low, high, n, "Clopper-Pearson")


# --------------------------------------------------------------------------------------------
# medians
# --------------------------------------------------------------------------------------------


def median_ci(values: Sequence[float], level: float = 0.95) -> Estimate:
    """Sample median with the distribution-free order-statistic interval.

    With B ~ Binomial(n, 1/2), the interval [x_(k), x_(n-k+1)] (1-based order statistics)
    covers the population median with probability 1 - 2 P(B <= k - 1). The largest k whose
    coverage is at least ``level`` is used (coverage is conservative). When even [min, max]
    cannot reach ``level`` (n <= 5 at 95%), both limits are None. Empty input gives None.
    """
    x = _finite_array(values, "values")
    uniq, counts = np.unique(x, return_counts=True)
    return median_ci_counts(uniq.tolist(), counts.tolist(), level)


def _median_rank(n: int, level: float) -> int | None:
    """0-based index k of the lower order statistic of the median interval (None: not reached).

    The binomial CDF is summed from ``k0`` = 12 standard deviations below n/2 (the mass below
    is < 1e-30), so the work is O(sqrt n) and the result is that of the full sum.
    """
    half = n // 2
    k0 = max(0, int(half - 6.0 * math.sqrt(n)) - 1)
    ks = np.arange(k0, half + 1, dtype=np.float64)
    log_c0 = math.lgamma(n + 1) - math.lgamma(k0 + 1) - math.lgamma(n - k0 + 1)
    # log C(n, k) by the recurrence C(n, k+1) = C(n, k) (n - k) / (k + 1)
    log_ratio = np.log(n - ks[:-1]) - np.log(ks[:-1] + 1.0)
    log_comb = log_c0 + np.concatenate(([0.0], np.cumsum(log_ratio)))
    cdf = np.cumsum(np.exp(log_comb - n * math.log(2.0)))  # cdf[j] = P(k0 <= B <= k0 + j)
    alpha_half = (1.0 - level) / 2.0
    ok = np.nonzero(cdf <= alpha_half * (1.0 + 1e-12))[0]
    if ok.size == 0:
        return None
    return k0 + int(ok[-1])


def median_ci_counts(
    values: Sequence[float], counts: Sequence[int], level: float = 0.95
) -> Estimate:
    """:func:`median_ci` of a sample given as distinct ``values`` (ascending) and their counts.

    This is how cohort tallies keep medians in memory that does not grow with the number of
    patients; the result equals :func:`median_ci` of the expanded sample.
    """
    _check_level(level)
    v = _finite_array(values, "values")
    c = np.asarray(counts, dtype=np.int64)
    if c.shape != v.shape or np.any(c < 0) or np.any(np.diff(v) <= 0):
        raise ValueError("values must be strictly ascending, with one count >= 0 each")
    n = int(c.sum())
    method = "order statistics"
    if n == 0:
        return Estimate(None, None, None, 0, method)
    upper_rank = np.cumsum(c)  # 1-based rank of the last copy of each value

    def order_stat(i: int) -> float:  # 0-based
        return float(v[int(np.searchsorted(upper_rank, i + 1, side="left"))])

    mid = n // 2
    value = order_stat(mid) if n % 2 else (order_stat(mid - 1) + order_stat(mid)) / 2.0
    k = _median_rank(n, level)
    if k is None:
        return Estimate(value, None, None, n, method)
    return Estimate(value, order_stat(k), order_stat(n - 1 - k), n, method)


def bootstrap_median(
    values: Sequence[float],
    rng: np.random.Generator,
    reps: int = 2000,
    level: float = 0.95,
) -> Estimate:
    """Sample median with a percentile bootstrap interval from ``reps`` resamples.

    Resampling uses only ``rng``: the same generator state and inputs give the same result.
    """
    _check_level(level)
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    x = _finite_array(values, "values")
    n = int(x.size)
    method = "percentile bootstrap"
    if n == 0:
        return Estimate(None, None, None, 0, method)
    rows = max(1, _BOOT_CHUNK_ELEMENTS // n)
    medians = np.empty(reps, dtype=np.float64)
    done = 0
    while done < reps:
        size = min(rows, reps - done)
        idx = rng.integers(0, n, size=(size, n))
        medians[done : done + size] = np.median(x[idx], axis=1)
        done += size
    alpha = 1.0 - level
    low, high = np.quantile(medians, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Estimate(float(np.median(x)), float(low), float(high), n, method)


# --------------------------------------------------------------------------------------------
# survival
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _KMStep:
    time: float
    survival: float
    greenwood: float  # sum of d / (r (r - d)); inf once survival reaches 0
    at_risk: int


def _km_inputs(times: Sequence[float], events: Sequence[bool]) -> tuple[FloatArray, FloatArray]:
    t = _finite_array(times, "times")
    e = np.asarray(events, dtype=bool)
    if e.shape != t.shape:
        raise ValueError("times and events must have the same length")
    if np.any(t < 0):
        raise ValueError("times must be >= 0")
    return t, t[e]


def km_table(
    times: Sequence[float], events: Sequence[bool]
) -> tuple[list[float], list[int], list[int]]:
    """Distinct times (ascending) with the number of events and of censorings at each."""
    t, event_times = _km_inputs(times, events)
    uniq, total = np.unique(t, return_counts=True)
    ev_uniq, ev_counts = np.unique(event_times, return_counts=True)
    deaths = np.zeros(uniq.size, dtype=np.int64)
    deaths[np.searchsorted(uniq, ev_uniq)] = ev_counts
    return uniq.tolist(), deaths.tolist(), (total - deaths).tolist()


def _km_steps_table(
    times: Sequence[float], deaths: Sequence[int], censored: Sequence[int]
) -> tuple[list[_KMStep], int, float | None]:
    """KM steps from a table of distinct ascending times; also n and the last time."""
    t = _finite_array(times, "times")
    d_all = np.asarray(deaths, dtype=np.int64)
    c_all = np.asarray(censored, dtype=np.int64)
    if not (t.shape == d_all.shape == c_all.shape) or np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly ascending, with one count each")
    if np.any(t < 0) or np.any(d_all < 0) or np.any(c_all < 0):
        raise ValueError("times and counts must be >= 0")
    total = d_all + c_all
    n = int(total.sum())
    # at risk at u: everyone with time >= u (censorings at u count as still at risk)
    at_risk = n - (np.cumsum(total) - total)
    steps: list[_KMStep] = []
    s = 1.0
    gw = 0.0
    for u, d_, r_ in zip(t.tolist(), d_all.tolist(), at_risk.tolist(), strict=True):
        d, r = int(d_), int(r_)
        if d == 0:
            continue
        s *= 1.0 - d / r
        gw = math.inf if d >= r else gw + d / (r * (r - d))
        steps.append(_KMStep(float(u), s if d < r else 0.0, gw, r))
    last = float(t[-1]) if t.size else None
    return steps, n, last


def _km_steps(
    times: Sequence[float], events: Sequence[bool]
) -> tuple[list[_KMStep], int, float | None]:
    return _km_steps_table(*km_table(times, events))


def kaplan_meier(
    times: Sequence[float], events: Sequence[bool]
) -> list[tuple[float, float, float, int]]:
    """Kaplan-Meier curve as ``(time, survival, greenwood_se, at_risk)`` at each event time.

    ``events[i]`` is True for an observed event and False for a censoring. At tied times,
    events are taken to precede censorings (censored subjects are at risk at their time).
    ``greenwood_se`` is S(t) * sqrt(sum d / (r (r - d))); it is reported as 0.0 once S(t)
    reaches 0, where Greenwood's formula is undefined. No events gives an empty list.
    """
    steps, _, _ = _km_steps(times, events)
    return [
        (
            st.time,
            st.survival,
            0.0 if st.survival == 0.0 else st.survival * math.sqrt(st.greenwood),
            st.at_risk,
        )
        for st in steps
    ]


def _loglog_band(survival: float, greenwood: float, z: float) -> tuple[float, float]:
    """Pointwise log(-log) interval; degenerate [S, S] when S is 0 or 1."""
    if survival <= 0.0 or survival >= 1.0 or not math.isfinite(greenwood):
        return survival, survival
    w = z * math.sqrt(greenwood) / abs(math.log(survival))
    low = survival ** math.exp(w)
    high = survival ** math.exp(-w)
    return min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0)


def km_at(
    times: Sequence[float], events: Sequence[bool], t: float, level: float = 0.95
) -> Estimate:
    """Kaplan-Meier survival S(t) with a log(-log) Greenwood interval, clipped to [0, 1].

    The interval is S^exp(+-z sqrt(V) / |log S|) with V the Greenwood sum; it is the
    degenerate [S, S] when S is 1 (before any event) or 0. ``value`` is None for empty input
    and for t beyond the last observed time while S > 0 (the curve is undefined there).
    ``n`` is the number of subjects.
    """
    return km_at_table(*km_table(times, events), t, level)


def km_at_table(
    times: Sequence[float],
    deaths: Sequence[int],
    censored: Sequence[int],
    t: float,
    level: float = 0.95,
) -> Estimate:
    """:func:`km_at` from a table of distinct ascending times with event/censoring counts."""
    z = _z(level)
    if not math.isfinite(t):
        raise ValueError("t must be finite")
    steps, n, last = _km_steps_table(times, deaths, censored)
    method = "Kaplan-Meier"
    if n == 0:
        return Estimate(None, None, None, 0, method)
    survival, greenwood = 1.0, 0.0
    for st in steps:
        if st.time > t:
            break
        survival, greenwood = st.survival, st.greenwood
    if last is not None and t > last and survival > 0.0:
        return Estimate(None, None, None, n, method)
    low, high = _loglog_band(survival, greenwood, z)
    return Estimate(survival, low, high, n, method)


def km_median(times: Sequence[float], events: Sequence[bool], level: float = 0.95) -> Estimate:
    """Median survival time with the Brookmeyer-Crowley interval.

    The median is the first event time with S(t) <= 0.5 (no midpoint rule when S is exactly
    0.5 on a flat stretch, unlike R's survfit). The interval is the set of t whose
    log(-log) pointwise band contains 0.5: the lower limit is the first event time at which the
    lower band is <= 0.5, the upper limit the first event time at which the upper band is
    <= 0.5. Each part is None when not reached (e.g. upper limit with heavy censoring).
    """
    return km_median_table(*km_table(times, events), level)


def km_median_table(
    times: Sequence[float], deaths: Sequence[int], censored: Sequence[int], level: float = 0.95
) -> Estimate:
    """:func:`km_median` from a table of distinct ascending times with event/censoring counts."""
    z = _z(level)
    steps, n, _ = _km_steps_table(times, deaths, censored)
    median: float | None = None
    low: float | None = None
    high: float | None = None
    for st in steps:
        band_low, band_high = _loglog_band(st.survival, st.greenwood, z)
        if median is None and st.survival <= 0.5:
            median = st.time
        if low is None and band_low <= 0.5:
            low = st.time
        if high is None and band_high <= 0.5:
            high = st.time
            break
    return Estimate(median, low, high, n, "Brookmeyer-Crowley (log-log)")


# --------------------------------------------------------------------------------------------
# paired comparisons
# --------------------------------------------------------------------------------------------


def paired_difference(a: Sequence[bool], b: Sequence[bool], level: float = 0.95) -> Estimate:
    """Difference p_a - p_b of two proportions measured on the same patients.

    Uses Newcombe's (1998) method 10 hybrid score interval for paired data: with Wilson limits
    (l1, u1) for p_a and (l2, u2) for p_b, and D = p_a - p_b,

        lower = D - sqrt((p_a - l1)^2 - 2 phi (p_a - l1)(u2 - p_b) + (u2 - p_b)^2)
        upper = D + sqrt((p_b - l2)^2 - 2 phi (p_b - l2)(u1 - p_a) + (u1 - p_a)^2)

    where phi is the phi coefficient of the paired 2x2 table with Newcombe's correction
    (numerator AD - BC reduced by n/2 when it exceeds n/2, set to 0 when in [0, n/2], kept when
    negative; phi = 0 when any margin is 0). Limits are clipped to [-1, 1].
    """
    _check_level(level)
    xa = np.asarray(a, dtype=bool)
    xb = np.asarray(b, dtype=bool)
    if xa.ndim != 1 or xa.shape != xb.shape:
        raise ValueError("a and b must be one-dimensional and of the same length")
    both = int(np.sum(xa & xb))
    only_a = int(np.sum(xa & ~xb))
    only_b = int(np.sum(~xa & xb))
    return paired_difference_table(both, only_a, only_b, int(xa.size), level)


def paired_difference_table(
    both: int, only_a: int, only_b: int, n: int, level: float = 0.95
) -> Estimate:
    """:func:`paired_difference` from the paired 2x2 table (``n`` pairs in all)."""
    z = _z(level)
    method = "Newcombe hybrid score (paired, method 10)"
    if min(both, only_a, only_b) < 0 or both + only_a + only_b > n:
        raise ValueError("table counts must be >= 0 and sum to at most n")
    if n == 0:
        return Estimate(None, None, None, 0, method)
    neither = n - both - only_a - only_b
    succ_a, succ_b = both + only_a, both + only_b
    p1, p2 = succ_a / n, succ_b / n
    diff = p1 - p2
    l1, u1 = _wilson_limits(succ_a, n, z)
    l2, u2 = _wilson_limits(succ_b, n, z)
    margins = [succ_a, n - succ_a, succ_b, n - succ_b]
    phi = 0.0
    if min(margins) > 0:
        cross = both * neither - only_a * only_b
        if cross > n / 2:
            numer = cross - n / 2
        elif cross >= 0:
            numer = 0.0
        else:
            numer = float(cross)
        phi = numer / math.sqrt(float(math.prod(margins)))
    dl1, du1 = p1 - l1, u1 - p1
    dl2, du2 = p2 - l2, u2 - p2
    delta = math.sqrt(max(0.0, dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2))
    eps = math.sqrt(max(0.0, dl2 * dl2 - 2.0 * phi * dl2 * du1 + du1 * du1))
    return Estimate(diff, max(-1.0, diff - delta), min(1.0, diff + eps), n, method)


def paired_difference_mean(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean of the paired differences a_i - b_i with a Student t interval (n - 1 df).

    None for no pairs; the limits are None for a single pair (no variance estimate).
    """
    _check_level(level)
    xa = _finite_array(a, "a")
    xb = _finite_array(b, "b")
    if xa.shape != xb.shape:
        raise ValueError("a and b must have the same length")
    moments = Moments()
    for d in (xa - xb).tolist():
        moments.add(d)
    return mean_ci(moments, level)


@dataclass(slots=True)
class Moments:
    """Count, mean and sum of squared deviations, updated one value at a time (Welford) and
    merged exactly in a fixed order (Chan et al. 1979), so streamed cohorts need O(1) memory."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    def merge(self, other: Moments) -> None:
        if other.n == 0:
            return
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            return
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n


def mean_ci(moments: Moments, level: float = 0.95) -> Estimate:
    """Mean with a Student t interval (n - 1 df) from streamed :class:`Moments`."""
    _check_level(level)
    method = "paired t"
    n = moments.n
    if n == 0:
        return Estimate(None, None, None, 0, method)
    if n == 1:
        return Estimate(moments.mean, None, None, 1, method)
    se = math.sqrt(max(0.0, moments.m2) / (n - 1)) / math.sqrt(n)
    half = _t_ppf(0.5 + level / 2.0, n - 1) * se
    return Estimate(moments.mean, moments.mean - half, moments.mean + half, n, method)
