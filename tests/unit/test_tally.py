"""Streamed cohort tallies: what they keep, and that they equal the in-memory statistics."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sim.stats import km_at, median_ci, paired_difference, wilson
from sim.tally import MEDIANS, RATES, ArmTally, PairTally, binned


def _row(rng: random.Random) -> dict[str, Any]:
    infused = rng.random() < 0.95
    crs = rng.choice([0, 0, 1, 2, 3, 4]) if infused else 0
    return {
        "cr_mrd_negative": rng.random() < 0.6,
        "cr": rng.random() < 0.7,
        "crs_max_grade": crs,
        "icans_max_grade": rng.choice([0, 0, 0, 1, 3]),
        "iec_hs_max_grade": 0,
        "gvhd_max_grade": rng.choice([0, 0, 2]),
        "full_dose_delivered": rng.random() < 0.8,
        "holds": rng.choice([0, 0, 1, 2]),
        "stopped": rng.random() < 0.1,
        "repeat_doses_given": 0,
        "infused": infused,
        "given_cells_per_kg": rng.choice([0.0, 1e5, 4e5, 1e6, 3e6]) if infused else 0.0,
        "last_fraction_after_first_h": rng.choice([0.0, 72.0, 84.0, 96.0]),
        "crs_onset_day": rng.uniform(0.5, 9) if crs else None,
        "tocilizumab_given": crs >= 2,
        "steroids_given": crs >= 3,
        "crs_duration_days": rng.uniform(1, 12) if crs else None,
        "peak_copies": rng.lognormvariate(9, 1.5),
        "peak_day": rng.uniform(7, 16),
        "auc_0_28": rng.lognormvariate(11, 1.5),
        "persistence_days": rng.uniform(20, 700),
        "fold_expansion": rng.lognormvariate(7, 1),
        "efs_days": rng.uniform(1, 760),
        "efs_event": rng.random() < 0.5,
        "os_days": rng.uniform(1, 760),
        "os_event": rng.random() < 0.3,
        "overall_response": rng.random() < 0.75,
        "cr_at": {28: rng.random() < 0.7, 100: rng.random() < 0.6},
        "rfs_days": rng.uniform(1, 700) if rng.random() < 0.7 else None,
        "rfs_event": rng.random() < 0.4,
        "nrm_day": rng.uniform(1, 700) if rng.random() < 0.1 else None,
        "relapse_day": rng.uniform(30, 700) if rng.random() < 0.3 else None,
        "alive_end_day": 761.0 if rng.random() < 0.7 else None,
        "icans_onset_day": rng.uniform(1, 20) if rng.random() < 0.3 else None,
        "gvhd_grade1_day": rng.uniform(10, 200) if rng.random() < 0.3 else None,
        "gvhd_grade2_day": rng.uniform(10, 200) if rng.random() < 0.1 else None,
        "gvhd_grade3_day": rng.uniform(10, 200) if rng.random() < 0.03 else None,
    }


ROWS = [_row(random.Random(i)) for i in range(600)]


def test_binned_keeps_three_significant_digits_and_exact_grid_values() -> None:
    assert binned(1234.5) == 1230.0
    assert binned(0.012345) == 0.0123
    for exact in (0.0, 72.0, 84.0, 1e5, 3e6, 2.45e6, 365.0):
        assert binned(exact) == exact


def test_rates_are_wilson_of_the_counts() -> None:
    tally = ArmTally()
    for row in ROWS:
        tally.add(row)
    metrics = tally.metrics()
    for slug, test in RATES.items():
        assert metrics[slug] == wilson(sum(test(r) for r in ROWS), len(ROWS))


def test_medians_and_survival_equal_the_in_memory_statistics_of_binned_values() -> None:
    tally = ArmTally()
    for row in ROWS:
        tally.add(row)
    metrics = tally.metrics()
    key, _ = MEDIANS["peak_copies_median"]
    expected = median_ci([binned(r[key]) for r in ROWS if r["infused"]])
    got = metrics["peak_copies_median"]
    assert (got.value, got.ci_low, got.ci_high, got.n) == (
        expected.value,
        expected.ci_low,
        expected.ci_high,
        expected.n,
    )
    times = [binned(r["os_days"]) for r in ROWS]
    assert metrics["os_12m"] == km_at(times, [r["os_event"] for r in ROWS], 365.25)
    crs_cases = [r for r in ROWS if r["crs_onset_day"] is not None]
    assert metrics["crs_onset_day_median"].n == len(crs_cases)


def test_merge_in_any_split_gives_the_same_metrics() -> None:
    whole = ArmTally()
    for row in ROWS:
        whole.add(row, ("on_time",))
    left, right = ArmTally(), ArmTally()
    for row in ROWS[:211]:
        left.add(row, ("on_time",))
    for row in ROWS[211:]:
        right.add(row, ("on_time",))
    left.merge(right)
    assert left.metrics() == whole.metrics()
    assert left.paths == whole.paths == {("on_time",): len(ROWS)}


def test_tables_stay_small_however_many_patients() -> None:
    """Memory does not grow with the cohort: at most 900 bins per decade per median."""
    tally = ArmTally()
    rng = random.Random(7)
    for _ in range(20_000):
        tally.add(_row(rng))
    assert tally.n == 20_000
    # peak copies span about 6 decades here; the raw values are (almost) all distinct
    assert len(tally.values["peak_copies_median"]) <= 6 * 900
    # survival times 1-760 days: 3 decades of 900 bins at most (raw values all distinct)
    assert len(tally.survival["os"]) <= 3 * 900 < 20_000


def test_pair_tally_equals_paired_difference() -> None:
    pair = PairTally()
    a, b = ROWS[:300], ROWS[300:]
    for ra, rb in zip(a, b, strict=True):
        pair.add(ra, rb)
    got = pair.metrics()
    test = RATES["crs_grade3plus_rate"]
    assert got["crs_grade3plus_rate"] == paired_difference(
        [test(r) for r in a], [test(r) for r in b]
    )
    mean = got["cells_per_kg_delivered_mean"].value
    assert mean == pytest.approx(
        sum(x["given_cells_per_kg"] - y["given_cells_per_kg"] for x, y in zip(a, b, strict=True))
        / 300
    )
