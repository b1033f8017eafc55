"""Every estimator of :mod:`sim.stats` against an independent reference implementation.

References (the ``dev`` extra installs them):

* Wilson and Clopper-Pearson: statsmodels ``proportion_confint`` (methods ``wilson`` and
  ``beta``; the latter uses SciPy's beta quantiles).
* Order-statistic median interval: SciPy ``quantile_test(...).confidence_interval``, the
  same distribution-free interval (Conover 1999, section 3.2); equal to the last bit.
* Percentile bootstrap: SciPy ``bootstrap(method="percentile")`` with the same generator
  state draws the same resamples, so the limits are equal to the last bit.
* Newcombe's paired method 10: no Python library has it, so the published worked examples
  (below) and, on generated tables, the formula of Newcombe (1998) written out here on
  statsmodels' Wilson limits.
* Paired t: SciPy ``ttest_rel(...).confidence_interval``.
* Kaplan-Meier: lifelines ``KaplanMeierFitter`` (its interval is the exponential
  Greenwood, i.e. log(-log), band, Kalbfleisch & Prentice 2002) and statsmodels
  ``SurvfuncRight`` for Greenwood's standard error of S(t). The median and its
  Brookmeyer-Crowley limits against lifelines ``median_survival_time_`` and
  ``median_survival_times(confidence_interval_)`` (both: the first time a curve is <= 0.5).

Agreement is to 1e-9 (absolute, on probabilities in [0, 1]; relative for unbounded
quantities), except where a tolerance is stated next to the test with its reason.
The R comparison (survival::survfit, log-log) is in tests/test_km_reference_r.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sim.stats import (
    Moments,
    bootstrap_median,
    clopper_pearson,
    kaplan_meier,
    km_at,
    km_at_table,
    km_median,
    km_median_table,
    km_table,
    mean_ci,
    median_ci,
    median_ci_counts,
    paired_difference,
    paired_difference_mean,
    paired_difference_table,
    wilson,
)
from sim.tally import ArmTally, binned

scipy_stats = pytest.importorskip("scipy.stats")
proportion = pytest.importorskip("statsmodels.stats.proportion")
survfunc = pytest.importorskip("statsmodels.duration.survfunc")
lifelines = pytest.importorskip("lifelines")

TOL = 1e-9
LEVELS = st.sampled_from([0.8, 0.9, 0.95, 0.99])
counts = st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


def _close(a: float | None, b: float | None, tol: float = TOL) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= tol * max(1.0, abs(b))


# ---- proportions -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(counts, LEVELS)
def test_wilson_equals_statsmodels(xn: tuple[int, int], level: float) -> None:
    x, n = xn
    low, high = proportion.proportion_confint(x, n, alpha=1 - level, method="wilson")
    e = wilson(x, n, level)
    assert e.value == x / n
    assert _close(e.ci_low, float(low)) and _close(e.ci_high, float(high))


@settings(max_examples=400, deadline=None)
@given(counts, LEVELS)
def test_clopper_pearson_equals_statsmodels_beta(xn: tuple[int, int], level: float) -> None:
    x, n = xn
    low, high = proportion.proportion_confint(x, n, alpha=1 - level, method="beta")
    e = clopper_pearson(x, n, level)
    assert e.value == x / n
    assert _close(e.ci_low, float(low)) and _close(e.ci_high, float(high))


# ---- medians -----------------------------------------------------------------------------------

samples = st.lists(
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=400
)
# values such as the simulator's: many ties (doses, whole hours) or continuous (days, copies)
tied_samples = st.lists(st.sampled_from([0.1, 0.3, 0.6, 1.0, 2.0, 3.0, 24.0, 72.0]), min_size=1)


def _scipy_median_ci(x: list[float], level: float) -> tuple[float | None, float | None]:
    ci = scipy_stats.quantile_test(np.asarray(x), q=0.0, p=0.5).confidence_interval(level)
    low, high = float(ci.low), float(ci.high)
    return (None if math.isnan(low) else low), (None if math.isnan(high) else high)


@settings(max_examples=300, deadline=None)
@given(st.one_of(samples, tied_samples), LEVELS)
def test_median_ci_equals_scipy_quantile_test(x: list[float], level: float) -> None:
    e = median_ci(x, level)
    assert e.value == float(np.median(x))
    assert (e.ci_low, e.ci_high) == _scipy_median_ci(x, level)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-3, 1e7, allow_nan=False), min_size=1, max_size=300))
def test_tallied_median_is_the_median_of_binned_values(x: list[float]) -> None:
    """Tallies keep values to 3 significant digits (sim.tally.binned). Rounding is monotone,
    so the interval's order statistics are exactly the binned reference limits, and the
    median is within the binning's relative resolution (0.5 %) of the exact median."""
    tally = ArmTally()
    for v in x:
        tally.add(_row(given_cells_per_kg=v))
    e = tally.metrics()["cells_per_kg_delivered_median"]
    low, high = _scipy_median_ci(x, 0.95)
    assert e.ci_low == (None if low is None else binned(low))
    assert e.ci_high == (None if high is None else binned(high))
    exact = float(np.median(x))
    assert e.value is not None and abs(e.value - exact) <= 5e-3 * exact


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=200),
    st.integers(0, 2**32),
    LEVELS,
)
def test_bootstrap_median_equals_scipy_bootstrap(x: list[float], seed: int, level: float) -> None:
    reps = 500
    e = bootstrap_median(x, np.random.default_rng(seed), reps=reps, level=level)
    with warnings.catch_warnings():  # scipy warns when every resample has the same median
        warnings.simplefilter("ignore")
        ref = scipy_stats.bootstrap(
            (np.asarray(x),),
            np.median,
            n_resamples=reps,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
            vectorized=True,
        ).confidence_interval
    assert e.value == float(np.median(x))
    assert _close(e.ci_low, float(ref.low)) and _close(e.ci_high, float(ref.high))


# ---- paired differences ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "low", "high", "decimals"),
    [
        # Newcombe RG (1998) Stat Med 17:2635-2650 (the paired paper), worked example
        # e=20, f=12, g=2, h=16: method 10 gives 0.0562 to 0.3292. The same figures are
        # reproduced in the published-examples tests of the ratesci R package
        # (petelaud/ratesci, tests/testthat/test3.R, "example from Newcombe ... method 10").
        ((20, 12, 2, 16), 0.0562, 0.3292, 4),
        # Fagerland MW, Lydersen S, Laake P (2014) Stat Methods Med Res 24:224-254, airway
        # hyper-responsiveness before/after stem cell transplantation (Bentur et al. 2009),
        # table (1, 1, 7, 12): Newcombe's hybrid score (method 10) -0.507 to -0.026
        # (also in ratesci's test3.R, "MOVER Wilson - Fagerland use ... 'method 10'").
        ((1, 1, 7, 12), -0.507, -0.026, 3),
    ],
)
def test_paired_difference_reproduces_published_examples(
    table: tuple[int, int, int, int], low: float, high: float, decimals: int
) -> None:
    both, only_a, only_b, neither = table
    n = both + only_a + only_b + neither
    e = paired_difference_table(both, only_a, only_b, n)
    assert e.value == pytest.approx((only_a - only_b) / n)
    assert e.ci_low is not None and e.ci_high is not None
    assert round(e.ci_low, decimals) == low and round(e.ci_high, decimals) == high


def _newcombe_10(both: int, only_a: int, only_b: int, neither: int, level: float) -> tuple:
    """Newcombe (1998), method 10, as printed in the paper, on statsmodels' Wilson limits."""
    n = both + only_a + only_b + neither
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    l1, u1 = proportion.proportion_confint(both + only_a, n, 1 - level, method="wilson")
    l2, u2 = proportion.proportion_confint(both + only_b, n, 1 - level, method="wilson")
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    corrected = cross - n / 2 if cross > n / 2 else (0.0 if cross >= 0 else cross)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    lower = d - math.sqrt(
        max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    )
    upper = d + math.sqrt(
        max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    )
    return d, max(-1.0, lower), min(1.0, upper)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=4, max_size=4).filter(lambda t: sum(t) > 0), LEVELS)
def test_paired_difference_equals_newcombe_formula(table: list[int], level: float) -> None:
    both, only_a, only_b, neither = table
    e = paired_difference_table(both, only_a, only_b, sum(table), level)
    d, low, high = _newcombe_10(both, only_a, only_b, neither, level)
    assert _close(e.value, d) and _close(e.ci_low, low) and _close(e.ci_high, high)
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    assert paired_difference(a, b, level) == e


pairs = st.integers(2, 300).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n),
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n),
    )
)


@settings(max_examples=300, deadline=None)
@given(pairs, LEVELS)
def test_paired_mean_equals_scipy_ttest_rel(
    ab: tuple[list[float], list[float]], level: float
) -> None:
    """Tolerance: the streamed mean and sum of squares (Welford, O(1) memory) differ from
    NumPy's two-pass sums by rounding, ~1e-15 of the data's scale; 1e-9 of that scale."""
    a, b = ab
    d = np.asarray(a) - np.asarray(b)
    e = paired_difference_mean(a, b, level)
    scale = max(1.0, float(np.max(np.abs(d))))
    assert e.value is not None and abs(e.value - float(np.mean(d))) <= TOL * scale
    # zero spread: SciPy gives NaN limits, cartsim the degenerate [mean, mean]
    assume(float(np.std(d)) > 1e-12 * scale)
    ci = scipy_stats.ttest_rel(a, b).confidence_interval(level)
    assert e.ci_low is not None and abs(e.ci_low - float(ci.low)) <= TOL * scale
    assert e.ci_high is not None and abs(e.ci_high - float(ci.high)) <= TOL * scale


def test_merged_moments_equal_one_stream() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, size=1000)
    whole, left, right = Moments(), Moments(), Moments()
    for v in x:
        whole.add(float(v))
    for v in x[:377]:
        left.add(float(v))
    for v in x[377:]:
        right.add(float(v))
    left.merge(right)
    ref = scipy_stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
    for m in (whole, left):
        e = mean_ci(m)
        assert e.ci_low == pytest.approx(float(ref.low), rel=1e-12)
        assert e.ci_high == pytest.approx(float(ref.high), rel=1e-12)


# ---- Kaplan-Meier ------------------------------------------------------------------------------

survival_data = st.lists(
    st.tuples(st.integers(0, 80).map(float), st.booleans()), min_size=1, max_size=120
) | st.lists(
    st.tuples(st.floats(0.0, 800.0, allow_nan=False), st.booleans()), min_size=1, max_size=120
)


def _fit(times: list[float], events: list[bool], level: float = 0.95) -> object:
    kmf = lifelines.KaplanMeierFitter(alpha=1 - level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kmf.fit(np.asarray(times), np.asarray(events, dtype=bool))
    return kmf


def _step(index: np.ndarray, values: np.ndarray, t: float) -> float:
    """Value of a right-continuous step function given at ``index`` (ascending) at ``t``."""
    return float(values[np.searchsorted(index, t, side="right") - 1])


@settings(max_examples=300, deadline=None)
@given(survival_data, LEVELS)
def test_kaplan_meier_equals_lifelines_and_statsmodels(data: list, level: float) -> None:
    times = [t for t, _ in data]
    events = [e for _, e in data]
    curve = kaplan_meier(times, events)
    kmf = _fit(times, events, level)
    sf = kmf.survival_function_.iloc[:, 0]
    band = kmf.confidence_interval_
    lo_col, hi_col = band.columns
    index = sf.index.to_numpy()
    se_ref = None
    if any(events):
        sm = survfunc.SurvfuncRight(np.asarray(times), np.asarray(events, dtype=float))
        se_ref = dict(zip(sm.surv_times.tolist(), sm.surv_prob_se.tolist(), strict=True))
    for t, s, se, at_risk in curve:
        assert _close(s, _step(index, sf.to_numpy(), t))
        assert at_risk == int(kmf.event_table.loc[t, "at_risk"])
        assert se_ref is not None
        if s > 0.0:
            assert _close(se, se_ref[t])
        e = km_at(times, events, t, level)
        assert _close(e.value, s)
        if 0.0 < s < 1.0:
            assert _close(e.ci_low, _step(index, band[lo_col].to_numpy(), t))
            assert _close(e.ci_high, _step(index, band[hi_col].to_numpy(), t))


def _lifelines_median(kmf: object) -> tuple[float | None, ...]:
    """lifelines' first time each curve is <= 0.5 (``qth_survival_time`` on the curve; the
    fitter's own ``median_survival_time_`` takes the first time S < 0.5 instead, which differs
    when S is exactly 0.5 on a flat stretch, as R's midpoint rule does too)."""
    qth = lifelines.utils.qth_survival_time

    def finite(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    band = kmf.confidence_interval_
    curves = [kmf.survival_function_, band.iloc[:, 0], band.iloc[:, 1]]
    return tuple(finite(qth(0.5, c.iloc[:, 0] if c.ndim == 2 else c)) for c in curves)


@settings(max_examples=300, deadline=None)
@given(survival_data, LEVELS)
def test_km_median_equals_lifelines(data: list, level: float) -> None:
    times = [t for t, _ in data]
    events = [e for _, e in data]
    steps = kaplan_meier(times, events)
    # Once S(t) reaches 0 the log(-log) band is undefined: lifelines has NaN there and
    # cartsim the degenerate [0, 0]; compare only curves that stay above 0.
    assume(not steps or steps[-1][1] > 0.0)
    kmf = _fit(times, events, level)
    # "first time <= 0.5" is ill-conditioned when a curve is 0.5 up to rounding (e.g. 3 of 6
    # events): lifelines forms S as exp(sum log(1 - d/r)) and gets 0.5000000000000001.
    band = kmf.confidence_interval_.to_numpy()
    curves = np.column_stack([kmf.survival_function_.to_numpy()[:, 0], band])
    assume(not np.any(np.abs(curves - 0.5) < 1e-9))
    e = km_median(times, events, level)
    assert (e.value, e.ci_low, e.ci_high) == _lifelines_median(kmf)


@settings(max_examples=200, deadline=None)
@given(survival_data, st.floats(0.0, 900.0, allow_nan=False))
def test_tables_give_the_same_estimates_as_the_raw_data(data: list, t: float) -> None:
    times = [x for x, _ in data]
    events = [e for _, e in data]
    table = km_table(times, events)
    assert km_at_table(*table, t) == km_at(times, events, t)
    assert km_median_table(*table) == km_median(times, events)


def test_twelve_month_survival_from_a_tally_equals_lifelines_on_binned_times() -> None:
    """A tally keeps survival times to 3 significant digits; its 12-month estimate is
    lifelines' on those binned times, to 1e-9."""
    rng = np.random.default_rng(11)
    tally = ArmTally()
    times, events = [], []
    for _ in range(400):
        t = float(rng.exponential(300.0))
        event = bool(rng.random() < 0.7)
        tally.add(_row(efs_days=t, efs_event=event))
        times.append(binned(t))
        events.append(event)
    e = tally.metrics()["efs_12m"]
    kmf = _fit(times, events)
    index = kmf.survival_function_.index.to_numpy()
    lo_col, hi_col = kmf.confidence_interval_.columns
    t12 = 365.25
    assert _close(e.value, _step(index, kmf.survival_function_.iloc[:, 0].to_numpy(), t12))
    assert _close(e.ci_low, _step(index, kmf.confidence_interval_[lo_col].to_numpy(), t12))
    assert _close(e.ci_high, _step(index, kmf.confidence_interval_[hi_col].to_numpy(), t12))


def _plain_row() -> dict[str, object]:
    from sim.outcomes import patient_outcomes
    from sim.targets import run_target

    row: dict[str, object] = patient_outcomes(run_target("fractionated-no-toxicity").events)
    row.update(
        {
            "crs_onset_day": None,
            "crs_duration_days": None,
            "peak_copies": None,
            "peak_day": None,
            "auc_0_28": None,
            "persistence_days": None,
            "fold_expansion": None,
            "efs_days": 365.0,
            "efs_event": False,
            "os_days": 365.0,
            "os_event": False,
        }
    )
    return row


_PLAIN_ROW = _plain_row()


def _row(**over: object) -> dict[str, object]:
    """A patient outcome row with every key a tally reads: a real row of a plain course (no
    toxicity), with ``over`` set on it."""
    row: dict[str, object] = dict(_PLAIN_ROW)
    row.update(over)
    return row


def test_counts_table_equals_expanded_sample() -> None:
    values, counts_ = [0.1, 0.3, 2.0], [3, 10, 4]
    expanded = [v for v, c in zip(values, counts_, strict=True) for _ in range(c)]
    assert median_ci_counts(values, counts_) == median_ci(expanded)
