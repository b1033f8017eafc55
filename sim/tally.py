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

import re
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
    "overall_response_rate": lambda r: bool(r["overall_response"]),
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

# Endpoints at a day D (any whole day; a calibration target may name any): the slug
# pattern, and the per-patient time (days from the first infusion) each one counts.
DAY_ENDPOINTS: dict[str, tuple[re.Pattern[str], str]] = {
    "nrm": (re.compile(r"^nrm_d(\d+)$"), "nrm_day"),
    "crs_onset_after": (re.compile(r"^crs_onset_after_d(\d+)_rate$"), "crs_onset_day"),
    "icans_onset_after": (re.compile(r"^icans_onset_after_d(\d+)_rate$"), "icans_onset_day"),
    "agvhd_grade1plus": (re.compile(r"^agvhd_grade1plus_d(\d+)_rate$"), "gvhd_grade1_day"),
    "agvhd_grade2plus": (re.compile(r"^agvhd_grade2plus_d(\d+)_rate$"), "gvhd_grade2_day"),
    "agvhd_grade3plus": (re.compile(r"^agvhd_grade3plus_d(\d+)_rate$"), "gvhd_grade3_day"),
    "response": (re.compile(r"^response_d(\d+)_rate$"), ""),
}
TIME_KEYS = (*(key for _, key in DAY_ENDPOINTS.values() if key), "alive_end_day")
"""Per-patient times (days from the first infusion) an arm keeps as tables."""
DAY_SHOWN = (
    "nrm_d28",
    "nrm_d100",
    "nrm_d365",
    "crs_onset_after_d7_rate",
    "crs_onset_after_d14_rate",
    "icans_onset_after_d7_rate",
    "icans_onset_after_d14_rate",
    "agvhd_grade1plus_d100_rate",
    "agvhd_grade2plus_d100_rate",
    "agvhd_grade3plus_d100_rate",
    "response_d28_rate",
    "response_d100_rate",
)
"""The day endpoints every cohort reports (others are computed on request)."""

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

SURVIVAL = ("efs", "os", "rfs")

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
    "rfs_12m",
    "rfs_24m",
    "rfs_median_months",
    *DAY_SHOWN,
)


def day_endpoint(slug: str) -> tuple[str, int] | None:
    """``('nrm', 100)`` for ``nrm_d100``: the family and day of a day endpoint, or None."""
    for family, (pattern, _) in DAY_ENDPOINTS.items():
        match = pattern.match(slug)
        if match:
            return family, int(match.group(1))
    return None


def known_endpoint(slug: str) -> bool:
    """A slug :meth:`ArmTally.endpoint` can compute (a calibration target may name it)."""
    return slug in METRICS or day_endpoint(slug) is not None


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
    # row key of a time (days) -> binned time -> patients; the run's end for the living
    times: dict[str, Counter[float]] = field(
        default_factory=lambda: {key: Counter[float]() for key in TIME_KEYS}
    )
    # assessment day -> [assessed, in CR]
    assessed: dict[int, list[int]] = field(default_factory=dict)

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
            if row[f"{kind}_days"] is None:  # RFS: not in remission at the assessment
                continue
            cell = self.survival[kind].setdefault(binned(row[f"{kind}_days"]), [0, 0])
            cell[0 if row[f"{kind}_event"] else 1] += 1
        for key, counts in self.times.items():
            value = row.get(key)
            if value is not None:
                counts[binned(value)] += 1
        for day, in_cr in row["cr_at"].items():
            cell = self.assessed.setdefault(day, [0, 0])
            cell[0] += 1
            cell[1] += bool(in_cr)
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
        for key, counts in other.times.items():
            self.times[key].update(counts)
        for day, (n, cr) in other.assessed.items():
            cell = self.assessed.setdefault(day, [0, 0])
            cell[0] += n
            cell[1] += cr

    def _by_day(self, key: str, day: int, after: bool = False) -> int:
        """Patients whose time ``key`` is at or before ``day`` (or after it)."""
        return sum(n for t, n in self.times[key].items() if (t > day) == after)

    def endpoint(self, slug: str) -> Estimate:
        """Any endpoint: one of :data:`METRICS`, or a day endpoint such as ``nrm_d180``.

        Day endpoints count every patient of the arm (each is followed to death or the end
        of follow-up, day 760 in a cohort, so nobody is censored before day D while D is
        within it): non-relapse mortality by day D (a death with no relapse before it;
        relapse is the competing event, so the share is its cumulative incidence), CRS or
        ICANS starting after day D, acute GVHD grade I-IV / II-IV / III-IV by day D, and
        complete remission at the response assessment on day D (of the patients assessed
        then). Wilson intervals."""
        if slug in METRICS:
            return self.metrics()[slug]
        found = day_endpoint(slug)
        if found is None:
            raise KeyError(slug)
        return self._day_metric(*found)

    def _day_metric(self, family: str, day: int) -> Estimate:
        if family == "response":
            n, cr = self.assessed.get(day, (0, 0))
            if n == 0:
                return Estimate(None, None, None, 0, f"no response assessment on day {day}")
            return wilson(cr, n)
        key = DAY_ENDPOINTS[family][1]
        after = family in ("crs_onset_after", "icans_onset_after")
        alive_ends = self.times["alive_end_day"]
        if alive_ends and min(alive_ends) < day:  # someone left the run alive before day D
            return Estimate(None, None, None, self.n, f"day {day} is beyond the follow-up")
        return wilson(self._by_day(key, day, after=after), self.n)

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
        for slug in DAY_SHOWN:
            found = day_endpoint(slug)
            assert found is not None
            out[slug] = self._day_metric(*found)
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
