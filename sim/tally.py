"""Cohort endpoints tallied patient by patient, in memory that does not grow with the cohort.

Each patient's outcome row (:func:`sim.outcomes.patient_outcomes`) is added to an
:class:`ArmTally` and then dropped. A tally keeps counts for rates, a table of
``value -> count`` for medians, a table of ``time -> (events, censorings)`` for
Kaplan-Meier, and the decision-path counts. Values are binned to 3 significant digits
(:func:`binned`) so the tables stay small however many patients are added: at most 900
distinct values per decade (relative resolution 0.5 %; dose levels such as 0.1, 0.3 or
2 x10^6/kg and whole hours up to 999 h are kept exactly; survival times above 100 days
are kept to the day). Paired comparisons on the
same patients keep the paired 2x2 tables and the moments of the paired differences
(:class:`PairTally`).

Tallies merge by adding counts; :class:`~sim.stats.Moments` merge in a fixed order. Chunks
of patients are always the same, whatever the worker count, and are merged in patient
order, so results are identical for 1 or N workers, or on a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.stats import (
    Estimate,
    Moments,
    km_at_table,
    km_median_table,
    mean_ci,
    median_ci_counts,
    paired_difference_table,
    wilson,
)

MONTH_DAYS = 30.4375
YEAR_DAYS = 365.25

Row = Mapping[str, Any]

RATES: dict[str, Callable[[Row], bool]] = {
    "cr_mrd_neg_d28_rate": lambda r: bool(r["cr_mrd_negative"]),
    "cr_d28_rate": lambda r: bool(r["cr"]),
    "cr_rate": lambda r: bool(r["cr"]),
    "crs_any_rate": lambda r: r["crs_max_grade"] >= 1,
    "crs_grade3plus_rate": lambda r: r["crs_max_grade"] >= 3,
    "crs_severe_rate": lambda r: r["crs_max_grade"] >= 3,
    "icans_any_rate": lambda r: r["icans_max_grade"] >= 1,
    "icans_grade3plus_rate": lambda r: r["icans_max_grade"] >= 3,
    "iec_hs_rate": lambda r: r["iec_hs_max_grade"] >= 1,
    "gvhd_rate": lambda r: r["gvhd_max_grade"] >= 1,
    "full_dose_rate": lambda r: bool(r["full_dose_delivered"]),
    "hold_rate": lambda r: r["holds"] >= 1,
    "discontinuation_rate": lambda r: bool(r["stopped"]),
    "repeat_dose_rate": lambda r: r["repeat_doses_given"] >= 1,
    "tocilizumab_rate": lambda r: bool(r["tocilizumab_given"]),
    "steroids_rate": lambda r: bool(r["steroids_given"]),
}

# Rates among the patients who had CRS (denominator: patients with a CRS onset).
RATES_IN_CRS: dict[str, Callable[[Row], bool]] = {
    "tocilizumab_rate_in_crs": lambda r: bool(r["tocilizumab_given"]),
    "steroids_rate_in_crs": lambda r: bool(r["steroids_given"]),
    "crs_onset_within_24h_share": lambda r: r["crs_onset_day"] <= 1.0,
    "crs_onset_within_48h_share": lambda r: r["crs_onset_day"] <= 2.0,
}

# slug -> (row key, which patients: all, infused, or those with CRS)
MEDIANS: dict[str, tuple[str, str]] = {
    "cells_per_kg_delivered_median": ("given_cells_per_kg", "all"),
    "time_to_last_fraction_h_median": ("last_fraction_after_first_h", "infused"),
    "crs_onset_day_median": ("crs_onset_day", "crs"),
    "crs_onset_day_median_grade3plus": ("crs_onset_day", "crs_grade3plus"),
    "crs_onset_day_median_grade1_2": ("crs_onset_day", "crs_grade1_2"),
    "crs_duration_days_median": ("crs_duration_days", "crs"),
    "peak_copies_median": ("peak_copies", "infused"),
    "tmax_day_median": ("peak_day", "infused"),
    "auc_0_28_copies": ("auc_0_28", "infused"),
    "persistence_days_median": ("persistence_days", "infused"),
    "fold_expansion_typical": ("fold_expansion", "infused"),
}

SURVIVAL = ("efs", "os")

# The metrics in report order (the rates, then medians, then survival).
METRICS: tuple[str, ...] = (
    *RATES,
    *RATES_IN_CRS,
    *MEDIANS,
    "crs_onset_median_ratio_severe_mild",
    "efs_12m",
    "efs_24m",
    "os_12m",
    "os_24m",
    "efs_median_months",
    "os_median_months",
)

PAIRED_RATES: dict[str, Callable[[Row], bool]] = {
    slug: RATES[slug]
    for slug in (
        "full_dose_rate",
        "hold_rate",
        "crs_grade3plus_rate",
        "icans_grade3plus_rate",
        "cr_mrd_neg_d28_rate",
    )
}


SIGNIFICANT_DIGITS = 3


def binned(x: float) -> float:
    """``x`` to 3 significant digits (the resolution of tallied medians and survival times)."""
    return float(f"{x:.3g}")


def _in_subset(row: Row, subset: str) -> bool:
    if subset == "all":
        return True
    if subset == "infused":
        return bool(row["infused"])
    if row["crs_onset_day"] is None:
        return False
    if subset == "crs_grade3plus":
        return bool(row["crs_max_grade"] >= 3)
    if subset == "crs_grade1_2":
        return bool(row["crs_max_grade"] < 3)
    return True


def _table(counts: Mapping[float, int]) -> tuple[list[float], list[int]]:
    keys = sorted(counts)
    return keys, [counts[k] for k in keys]


@dataclass
class ArmTally:
    """The running endpoints of one arm."""

    n: int = 0
    rates: Counter[str] = field(default_factory=Counter)
    values: dict[str, Counter[float]] = field(
        default_factory=lambda: {slug: Counter() for slug in MEDIANS}
    )
    # kind -> time -> [events, censorings]
    survival: dict[str, dict[float, list[int]]] = field(
        default_factory=lambda: {kind: {} for kind in SURVIVAL}
    )
    paths: Counter[tuple[str, ...]] = field(default_factory=Counter)
    crs_n: int = 0  # patients with CRS: the denominator of RATES_IN_CRS
    # fraction position -> [patients whose fraction was checked, ... with CRS begun before]
    crs_before: dict[int, list[int]] = field(default_factory=dict)

    def add(
        self,
        row: Row,
        path: tuple[str, ...] | None = None,
        crs_checks: tuple[tuple[bool, bool], ...] = (),
    ) -> None:
        self.n += 1
        for slug, test in RATES.items():
            if test(row):
                self.rates[slug] += 1
        if row["crs_onset_day"] is not None:
            self.crs_n += 1
            for slug, test in RATES_IN_CRS.items():
                if test(row):
                    self.rates[slug] += 1
        for k, (checked, crs) in enumerate(crs_checks):
            if checked:
                cell = self.crs_before.setdefault(k, [0, 0])
                cell[0] += 1
                cell[1] += int(crs)
        for slug, (key, subset) in MEDIANS.items():
            value = row.get(key)
            if value is not None and _in_subset(row, subset):
                self.values[slug][binned(value)] += 1
        for kind in SURVIVAL:
            cell = self.survival[kind].setdefault(binned(row[f"{kind}_days"]), [0, 0])
            cell[0 if row[f"{kind}_event"] else 1] += 1
        if path is not None:
            self.paths[path] += 1

    def merge(self, other: ArmTally) -> None:
        self.n += other.n
        self.crs_n += other.crs_n
        for k, (checked, crs) in other.crs_before.items():
            cell = self.crs_before.setdefault(k, [0, 0])
            cell[0] += checked
            cell[1] += crs
        self.rates.update(other.rates)
        for slug, counts in other.values.items():
            self.values[slug].update(counts)
        for kind, table in other.survival.items():
            mine = self.survival[kind]
            for t, (d, c) in table.items():
                cell = mine.setdefault(t, [0, 0])
                cell[0] += d
                cell[1] += c
        self.paths.update(other.paths)

    def _km(self, kind: str) -> tuple[list[float], list[int], list[int]]:
        times = sorted(self.survival[kind])
        table = self.survival[kind]
        return times, [table[t][0] for t in times], [table[t][1] for t in times]

    def _km_months(self, kind: str) -> Estimate:
        est = km_median_table(*self._km(kind))

        def months(v: float | None) -> float | None:
            return None if v is None else v / MONTH_DAYS

        return Estimate(
            months(est.value), months(est.ci_low), months(est.ci_high), est.n, est.method
        )

    def metrics(self) -> dict[str, Estimate]:
        """Every endpoint with its 95 % CI (slugs of calibration/targets.yaml where they apply)."""
        out: dict[str, Estimate] = {slug: wilson(self.rates[slug], self.n) for slug in RATES}
        for slug in RATES_IN_CRS:
            out[slug] = wilson(self.rates[slug], self.crs_n)
        for slug in MEDIANS:
            est = median_ci_counts(*_table(self.values[slug]))
            method = f"{est.method}, values to {SIGNIFICANT_DIGITS} significant digits"
            out[slug] = Estimate(est.value, est.ci_low, est.ci_high, est.n, method)
        severe = out["crs_onset_day_median_grade3plus"].value
        mild = out["crs_onset_day_median_grade1_2"].value
        ratio = severe / mild if severe is not None and mild else None
        out["crs_onset_median_ratio_severe_mild"] = Estimate(
            ratio, None, None, self.crs_n, "ratio of the two medians (no interval)"
        )
        for kind in SURVIVAL:
            out[f"{kind}_12m"] = km_at_table(*self._km(kind), YEAR_DAYS)
            out[f"{kind}_24m"] = km_at_table(*self._km(kind), 2 * YEAR_DAYS)
        for kind in SURVIVAL:
            out[f"{kind}_median_months"] = self._km_months(kind)
        return {slug: out[slug] for slug in METRICS}


@dataclass
class PairTally:
    """Paired differences (arm a minus arm b) on the same patients."""

    n: int = 0
    # slug -> [both, only a, only b]
    tables: dict[str, list[int]] = field(
        default_factory=lambda: {slug: [0, 0, 0] for slug in PAIRED_RATES}
    )
    cells: Moments = field(default_factory=Moments)

    def add(self, a: Row, b: Row) -> None:
        self.n += 1
        for slug, test in PAIRED_RATES.items():
            in_a, in_b = test(a), test(b)
            if in_a or in_b:
                self.tables[slug][0 if in_a and in_b else 1 if in_a else 2] += 1
        self.cells.add(a["given_cells_per_kg"] - b["given_cells_per_kg"])

    def merge(self, other: PairTally) -> None:
        self.n += other.n
        for slug, counts in other.tables.items():
            mine = self.tables[slug]
            for i in range(3):
                mine[i] += counts[i]
        self.cells.merge(other.cells)

    def metrics(self) -> dict[str, Estimate]:
        out = {}
        for slug in PAIRED_RATES:
            both, only_a, only_b = self.tables[slug]
            out[slug] = paired_difference_table(both, only_a, only_b, self.n)
        out["cells_per_kg_delivered_mean"] = mean_ci(self.cells)
        return out
