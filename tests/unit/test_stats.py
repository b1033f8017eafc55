"""Confidence intervals for cohort metrics: known values, properties, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.stats import (
    Estimate,
    bootstrap_median,
    clopper_pearson,
    kaplan_meier,
    km_at,
    km_median,
    median_ci,
    paired_difference,
    paired_difference_mean,
    wilson,
)

# 6-MP arm of the Freireich et al. (1963) remission data (weeks); negative = censored:
# 6, 6, 6, 6*, 7, 9*, 10, 10*, 11*, 13, 16, 17*, 19*, 20*, 22, 23, 25*, 32*, 32*, 34*, 35*
_SIX_MP = [6, 6, 6, -6, 7, -9, 10, -10, -11, 13, 16, -17, -19, -20, 22, 23, -25, -32, -32, -34, -35]
MP_TIMES = [float(abs(x)) for x in _SIX_MP]
MP_EVENTS = [x > 0 for x in _SIX_MP]

counts = st.integers(0, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
levels = st.sampled_from([0.8, 0.9, 0.95, 0.99])
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
survival_data = st.lists(
    st.tuples(st.integers(0, 60).map(float), st.booleans()), min_size=1, max_size=60
)


def _ci(e: Estimate) -> tuple[float, float]:
    assert e.ci_low is not None and e.ci_high is not None
    return e.ci_low, e.ci_high


# ---- Estimate --------------------------------------------------------------------------------


def test_to_dict_rounds_and_keeps_none() -> None:
    e = Estimate(1 / 3, None, 0.123456789, 7, "m")
    assert e.to_dict() == {
        "value": 0.333333,
        "ci_low": None,
        "ci_high": 0.123457,
        "n": 7,
        "method": "m",
    }


def test_estimate_is_frozen() -> None:
    e = Estimate(0.5, 0.1, 0.9, 10, "m")
    with pytest.raises(AttributeError):
        e.value = 0.2  # type: ignore[misc]


# ---- proportions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0)],
)
def test_wilson_known_values(x: int, n: int, low: float, high: float) -> None:
    e = wilson(x, n)
    assert e.value == pytest.approx(x / n)
    assert _ci(e) == pytest.approx((low, high), abs=5e-5)
    assert e.n == n and e.method == "Wilson score"


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (27, 32, 0.6721, 0.9472),
        (4, 32, 0.0351, 0.2899),
        (41, 42, 0.8743, 0.9994),
        (2, 32, 0.0077, 0.2081),
        (0, 10, 0.0, 0.3085),
        (10, 10, 0.6915, 1.0),
    ],
)
def test_clopper_pearson_known_values(x: int, n: int, low: float, high: float) -> None:
    e = clopper_pearson(x, n)
    assert e.value == pytest.approx(x / n)
    lo, hi = _ci(e)
    assert round(lo, 4) == low and round(hi, 4) == high


def test_clopper_pearson_large_n_rule_of_three() -> None:
    # 0/n: upper limit is 1 - (alpha/2)^(1/n), close to 3.69/n
    lo, hi = _ci(clopper_pearson(0, 5000))
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025 ** (1 / 5000), rel=1e-9)


@pytest.mark.parametrize("fn", [wilson, clopper_pearson])
def test_proportion_empty(fn: object) -> None:
    assert callable(fn)
    e = fn(0, 0)
    assert (e.value, e.ci_low, e.ci_high, e.n) == (None, None, None, 0)


@pytest.mark.parametrize("fn", [wilson, clopper_pearson])
@pytest.mark.parametrize(("x", "n", "level"), [(-1, 5, 0.95), (6, 5, 0.95), (1, 5, 1.0)])
def test_proportion_rejects_bad_input(fn: object, x: int, n: int, level: float) -> None:
    assert callable(fn)
    with pytest.raises(ValueError):
        fn(x, n, level)


@settings(max_examples=150, deadline=None)
@given(counts, levels)
def test_proportion_ci_contains_estimate_within_unit_interval(
    xn: tuple[int, int], level: float
) -> None:
    x, n = xn
    assume(n > 0)
    for e in (wilson(x, n, level), clopper_pearson(x, n, level)):
        lo, hi = _ci(e)
        assert e.value is not None
        assert 0.0 <= lo <= e.value <= hi <= 1.0


@settings(max_examples=100, deadline=None)
@given(counts)
def test_proportion_wider_at_99_than_95(xn: tuple[int, int]) -> None:
    x, n = xn
    assume(n > 0)
    for fn in (wilson, clopper_pearson):
        lo95, hi95 = _ci(fn(x, n, 0.95))
        lo99, hi99 = _ci(fn(x, n, 0.99))
        assert lo99 <= lo95 and hi95 <= hi99
        assert hi99 - lo99 > hi95 - lo95


@settings(max_examples=100, deadline=None)
@given(counts)
def test_clopper_pearson_contains_wilson(xn: tuple[int, int]) -> None:
    x, n = xn
    assume(n > 0)
    lo_w, hi_w = _ci(wilson(x, n))
    lo_cp, hi_cp = _ci(clopper_pearson(x, n))
    # the exact interval is conservative; allow tiny slack at the boundaries
    assert lo_cp <= lo_w + 1e-3 and hi_w <= hi_cp + 1e-3


# ---- medians ---------------------------------------------------------------------------------


def test_median_ci_order_statistic_ranks() -> None:
    # n = 10: ranks 2 and 9 (coverage 1 - 2 * 11/1024 = 0.9785; ranks 3, 8 give only 0.891)
    e = median_ci([float(v) for v in range(1, 11)])
    assert e.value == 5.5 and _ci(e) == (2.0, 9.0) and e.method == "order statistics"
    # n = 20: ranks 6 and 15
    e = median_ci([float(v) for v in range(20, 0, -1)])
    assert e.value == 10.5 and _ci(e) == (6.0, 15.0)


def test_median_ci_small_and_empty() -> None:
    assert median_ci([]) == Estimate(None, None, None, 0, "order statistics")
    # n = 5: even [min, max] covers only 1 - 2/32 = 0.9375 < 0.95
    e = median_ci([3.0, 1.0, 2.0, 5.0, 4.0])
    assert e.value == 3.0 and e.ci_low is None and e.ci_high is None
    assert _ci(median_ci([3.0, 1.0, 2.0, 5.0, 4.0], level=0.9)) == (1.0, 5.0)
    assert _ci(median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])) == (1.0, 6.0)


def test_median_ci_rejects_nan() -> None:
    with pytest.raises(ValueError):
        median_ci([1.0, math.nan])


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=6, max_size=200), levels)
def test_median_ci_contains_median(values: list[float], level: float) -> None:
    e = median_ci(values, level)
    assert e.value is not None
    if e.ci_low is None or e.ci_high is None:
        return
    assert min(values) <= e.ci_low <= e.value <= e.ci_high <= max(values)
    e99 = median_ci(values, 0.99)
    if e99.ci_low is not None and e99.ci_high is not None:
        assert e99.ci_low <= e.ci_low and e.ci_high <= e99.ci_high


def test_bootstrap_median_deterministic_with_same_seed() -> None:
    values = [1.0, 4.0, 2.5, 8.0, 3.3, 7.1, 0.2, 5.5, 6.0, 2.2]
    a = bootstrap_median(values, np.random.default_rng(42), reps=500)
    b = bootstrap_median(values, np.random.default_rng(42), reps=500)
    assert a == b
    assert a.value == pytest.approx(float(np.median(values)))
    assert a.method == "percentile bootstrap" and a.n == 10
    lo, hi = _ci(a)
    assert min(values) <= lo <= hi <= max(values)


def test_bootstrap_median_does_not_touch_global_rng() -> None:
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    bootstrap_median([1.0, 2.0, 3.0, 4.0], np.random.default_rng(0), reps=50)
    assert np.random.random() == expected


def test_bootstrap_median_empty_and_bad_reps() -> None:
    assert bootstrap_median([], np.random.default_rng(0)).value is None
    with pytest.raises(ValueError):
        bootstrap_median([1.0], np.random.default_rng(0), reps=0)


def test_bootstrap_median_close_to_order_statistic_interval() -> None:
    rng = np.random.default_rng(123)
    values = rng.normal(10.0, 2.0, size=400).tolist()
    lo_b, hi_b = _ci(bootstrap_median(values, np.random.default_rng(5), reps=2000))
    lo_o, hi_o = _ci(median_ci(values))
    assert lo_b == pytest.approx(lo_o, abs=0.25) and hi_b == pytest.approx(hi_o, abs=0.25)


# ---- Kaplan-Meier ----------------------------------------------------------------------------


def test_km_six_mp_curve() -> None:
    curve = kaplan_meier(MP_TIMES, MP_EVENTS)
    times = [row[0] for row in curve]
    surv = [round(row[1], 3) for row in curve]
    at_risk = [row[3] for row in curve]
    assert times == [6.0, 7.0, 10.0, 13.0, 16.0, 22.0, 23.0]
    assert surv == [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448]
    assert at_risk == [21, 17, 15, 12, 11, 7, 6]
    # Greenwood standard errors (e.g. Kalbfleisch & Prentice; R survfit)
    ses = [round(row[2], 4) for row in curve]
    assert ses == [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346]


@pytest.mark.parametrize(
    ("t", "s", "low", "high"),
    [
        (6.0, 0.857, 0.620, 0.952),
        (10.0, 0.753, 0.503, 0.889),
        (23.0, 0.448, 0.188, 0.680),
        (30.0, 0.448, 0.188, 0.680),
    ],
)
def test_km_at_log_log_interval(t: float, s: float, low: float, high: float) -> None:
    e = km_at(MP_TIMES, MP_EVENTS, t)
    assert e.value is not None and round(e.value, 3) == s
    lo, hi = _ci(e)
    assert (round(lo, 3), round(hi, 3)) == (low, high)
    assert e.n == 21 and e.method == "Kaplan-Meier"


def test_km_at_before_first_event_and_beyond_follow_up() -> None:
    assert km_at(MP_TIMES, MP_EVENTS, 3.0) == Estimate(1.0, 1.0, 1.0, 21, "Kaplan-Meier")
    assert km_at(MP_TIMES, MP_EVENTS, 35.0).value == pytest.approx(0.448179, abs=1e-6)
    assert km_at(MP_TIMES, MP_EVENTS, 36.0).value is None
    assert km_at([], [], 1.0).value is None
    # curve reaches zero: defined (and degenerate) beyond the last time
    assert km_at([1.0, 2.0], [True, True], 5.0) == Estimate(0.0, 0.0, 0.0, 2, "Kaplan-Meier")


def test_km_median_six_mp() -> None:
    e = km_median(MP_TIMES, MP_EVENTS)
    # R: survfit(..., conf.type = "log-log") gives median 23, 95% CI 13 to NA
    assert e.value == 23.0 and e.ci_low == 13.0 and e.ci_high is None and e.n == 21


def test_km_median_not_reached_and_fully_observed() -> None:
    assert km_median([1.0, 2.0, 3.0], [True, False, False]).value is None
    e = km_median([float(v) for v in range(1, 21)], [True] * 20)
    assert e.value == 10.0
    lo, hi = _ci(e)
    assert lo < 10.0 < hi


def test_km_ties_events_before_censorings() -> None:
    curve = kaplan_meier([2.0, 2.0, 2.0, 5.0], [True, False, False, True])
    # all four at risk at t = 2 (the two censorings count), one event: S = 3/4
    t, s, se, r = curve[0]
    assert (t, r) == (2.0, 4)
    assert s == pytest.approx(0.75) and se == pytest.approx(0.75 * math.sqrt(1 / 12))
    assert curve[1][:2] == (5.0, 0.0) and curve[1][3] == 1


def test_km_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        kaplan_meier([1.0, 2.0], [True])
    with pytest.raises(ValueError):
        kaplan_meier([-1.0], [True])


@settings(max_examples=150, deadline=None)
@given(survival_data)
def test_km_survival_non_increasing_and_bounded(data: list[tuple[float, bool]]) -> None:
    times = [t for t, _ in data]
    events = [e for _, e in data]
    curve = kaplan_meier(times, events)
    assert len(curve) == len({t for t, e in data if e})
    prev_t, prev_s, prev_r = -1.0, 1.0, len(data) + 1
    for t, s, se, r in curve:
        assert t > prev_t and 0.0 <= s <= prev_s and se >= 0.0 and 0 < r < prev_r
        prev_t, prev_s, prev_r = t, s, r


@settings(max_examples=100, deadline=None)
@given(survival_data, st.integers(0, 60).map(float))
def test_km_at_interval_contains_estimate(data: list[tuple[float, bool]], t: float) -> None:
    times = [x for x, _ in data]
    events = [e for _, e in data]
    e95 = km_at(times, events, t)
    if e95.value is None:
        return
    lo, hi = _ci(e95)
    assert 0.0 <= lo <= e95.value <= hi <= 1.0
    lo99, hi99 = _ci(km_at(times, events, t, level=0.99))
    assert lo99 <= lo + 1e-12 and hi - 1e-12 <= hi99
    m = km_median(times, events)
    if m.value is not None:
        assert m.ci_low is not None and m.ci_low <= m.value
        assert m.ci_high is None or m.value <= m.ci_high


# ---- paired comparisons ----------------------------------------------------------------------


def test_paired_difference_identical_arms() -> None:
    a = [True] * 7 + [False] * 13
    e = paired_difference(a, list(a))
    assert e.value == 0.0
    lo, hi = _ci(e)
    assert -1.0 <= lo <= 0.0 <= hi <= 1.0
    assert e.method.startswith("Newcombe")


def test_paired_difference_all_discordant() -> None:
    e = paired_difference([True] * 12, [False] * 12)
    assert e.value == 1.0
    lo, hi = _ci(e)
    assert 0.0 < lo < 1.0 and hi == 1.0
    rev = paired_difference([False] * 12, [True] * 12)
    assert rev.value == -1.0 and _ci(rev) == pytest.approx((-1.0, -lo))
    # half discordant each way: no net difference
    e = paired_difference([True, False] * 6, [False, True] * 6)
    assert e.value == 0.0
    lo, hi = _ci(e)
    assert -1.0 <= lo < 0.0 < hi <= 1.0
    assert lo == pytest.approx(-hi)


def test_paired_difference_altman_table_6_2() -> None:
    # Altman et al., Statistics with Confidence (2000), Table 6.2 paired table [[14, 5], [0, 22]]
    a = [True] * 19 + [False] * 22
    b = [True] * 14 + [False] * 5 + [False] * 22
    e = paired_difference(a, b)
    assert e.value == pytest.approx(5 / 41)
    lo, hi = _ci(e)
    assert (round(lo, 3), round(hi, 3)) == (0.011, 0.226)


def test_paired_difference_empty_and_mismatch() -> None:
    assert paired_difference([], []).value is None
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=150))
def test_paired_difference_properties(pairs: list[tuple[bool, bool]]) -> None:
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    e95 = paired_difference(a, b)
    e99 = paired_difference(a, b, level=0.99)
    assert e95.value == pytest.approx((sum(a) - sum(b)) / len(pairs))
    lo, hi = _ci(e95)
    lo99, hi99 = _ci(e99)
    assert e95.value is not None
    assert -1.0 <= lo <= e95.value <= hi <= 1.0
    assert lo99 <= lo + 1e-12 and hi <= hi99 + 1e-12
    # swapping arms mirrors the interval
    swapped = paired_difference(b, a)
    assert _ci(swapped) == pytest.approx((-hi, -lo))


def test_paired_difference_mean_known_values() -> None:
    # differences 1, 2, 2, 3: mean 2, sd sqrt(2/3), t(0.975, 3) = 3.182446
    e = paired_difference_mean([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0])
    half = 3.182446305 * math.sqrt(2 / 3) / 2
    assert e.value == 2.0 and _ci(e) == pytest.approx((2 - half, 2 + half), rel=1e-8)
    assert e.method == "paired t" and e.n == 4


def test_paired_difference_mean_edge_cases() -> None:
    assert paired_difference_mean([], []).value is None
    one = paired_difference_mean([3.0], [1.0])
    assert one.value == 2.0 and one.ci_low is None and one.ci_high is None
    same = paired_difference_mean([1.0, 2.0, 5.0], [1.0, 2.0, 5.0])
    assert same == Estimate(0.0, 0.0, 0.0, 3, "paired t")
    with pytest.raises(ValueError):
        paired_difference_mean([1.0], [1.0, 2.0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=2, max_size=100))
def test_paired_difference_mean_properties(pairs: list[tuple[float, float]]) -> None:
    a = [x for x, _ in pairs]
    b = [y for _, y in pairs]
    e95 = paired_difference_mean(a, b)
    lo, hi = _ci(e95)
    lo99, hi99 = _ci(paired_difference_mean(a, b, level=0.99))
    assert e95.value is not None
    assert lo <= e95.value <= hi
    assert lo99 <= lo and hi <= hi99


# --- count/table forms used by streamed cohort tallies -------------------------------------


def _full_sum_rank(n: int, level: float = 0.95) -> int | None:
    """The order-statistic rank by summing the whole binomial CDF (the reference)."""
    cdf = 0.0
    best = None
    for k in range(n // 2 + 1):
        cdf += math.comb(n, k) / 2.0**n
        if cdf <= (1 - level) / 2 * (1 + 1e-12):
            best = k
    return best


@pytest.mark.parametrize("n", [1, 5, 6, 7, 10, 33, 100, 257, 1000])
def test_windowed_median_rank_equals_full_sum(n: int) -> None:
    from sim.stats import _median_rank

    assert _median_rank(n, 0.95) == _full_sum_rank(n)


def test_median_ci_counts_equals_expanded_sample() -> None:
    rng = np.random.default_rng(3)
    values = np.round(rng.lognormal(2.0, 1.0, 501), 1)
    uniq, counts = np.unique(values, return_counts=True)
    from sim.stats import median_ci_counts

    assert median_ci_counts(uniq.tolist(), counts.tolist()) == median_ci(values.tolist())
    with pytest.raises(ValueError):
        median_ci_counts([2.0, 1.0], [1, 1])


def test_km_table_forms_equal_list_forms() -> None:
    from sim.stats import km_at_table, km_median_table, km_table

    rng = np.random.default_rng(4)
    times = np.round(rng.exponential(300.0, 400), 0).tolist()
    events = (rng.random(400) < 0.7).tolist()
    table = km_table(times, events)
    assert sum(table[1]) == sum(events) and sum(table[1]) + sum(table[2]) == 400
    assert km_at_table(*table, 365.25) == km_at(times, events, 365.25)
    assert km_median_table(*table) == km_median(times, events)


def test_moments_merge_matches_one_pass() -> None:
    from sim.stats import Moments, mean_ci

    rng = np.random.default_rng(5)
    xs = rng.normal(1.0, 2.0, 1000).tolist()
    whole = Moments()
    for x in xs:
        whole.add(x)
    parts = [Moments() for _ in range(7)]
    for i, x in enumerate(xs):
        parts[i * 7 // len(xs)].add(x)
    merged = Moments()
    for part in parts:
        merged.merge(part)
    assert merged.n == 1000
    assert merged.mean == pytest.approx(np.mean(xs), rel=1e-12)
    assert merged.m2 / 999 == pytest.approx(np.var(xs, ddof=1), rel=1e-10)
    est = mean_ci(merged)
    assert est.ci_low is not None and est.ci_low < est.value < est.ci_high  # type: ignore[operator]
