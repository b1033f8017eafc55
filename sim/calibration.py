"""Calibration: simulate every target the model was fitted to and say whether it passes.

Targets live in ``calibration/targets.yaml`` (format described in its header). Targets
sharing a protocol, population and fixed covariates share one simulated cohort. A target
passes when the simulated value lies inside its 95 % interval (on the known side of a
one-sided interval), or within the stated tolerance when no interval is given. A paired
target (``versus``) compares two arms on the same virtual patients: its value is the
difference of the two arms' endpoints.

Each interval is labelled by where it came from (``interval_source``): ``published_ci``
(the source's own CI), ``clopper_pearson`` (the exact interval computed from the
source's count n/N, not published), ``tolerance`` (the simulator's own tolerance) or
``limit`` (a one-sided limit this project reads from the source's words). A
target file may say so; when it does not, the source is read from the target: an
interval whose notes say it was computed here (exact Clopper-Pearson, k/N) is checked
against that count and labelled ``clopper_pearson``.

This is calibration, not validation: the model's parameters were fitted to these
targets, so passing them shows the fit, not predictive accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from sim.builtin_files import builtin_folder
from sim.cohort import ChunkResult, CohortSetup, chunks
from sim.errors import InputError
from sim.model.parameters import ModelParameters
from sim.spec.base import Spec
from sim.spec.load import LoadedProtocol, _problems, _read, load_protocol, outside
from sim.stats import Estimate, clopper_pearson
from sim.tally import METRICS, known_endpoint

IntervalSource = Literal["published_ci", "clopper_pearson", "tolerance", "limit"]
INTERVAL_WORDS: dict[str, str] = {
    "published_ci": "published 95% CI",
    "clopper_pearson": "exact Clopper-Pearson 95% CI computed here from {count}",
    "tolerance": "{rule}",
    "limit": "one-sided limit read here from the source's words (see the target's notes)",
}
_COUNT = re.compile(r"Clopper-Pearson,\s*(\d+)\s*/\s*(\d+)")

TARGETS_NAME = "calibration/targets.yaml"  # the built-in targets, as messages name them


class Tolerance(Spec):
    abs: float | None = None
    rel: float | None = None
    factor: Annotated[float, Field(gt=1)] | None = None


class Arm(Spec):
    """The comparator arm of a paired target: run on the same virtual patients (same seed
    and patient indices, so the same latent traits), through its own protocol, population
    and fixed covariates."""

    protocol: str
    population: str
    fixed: dict[str, Any] = Field(default_factory=dict)


class Target(Spec):
    id: str
    added_here: bool = Field(
        False,
        description="a figure this project found and cited, not in the shared reference",
    )
    protocol: str
    population: str
    fixed: dict[str, Any] = Field(default_factory=dict)
    versus: Arm | None = Field(
        None,
        description="a paired target: the endpoint is this arm's value minus the versus arm's",
    )
    published_n: int | None = None
    endpoint: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    tolerance: Tolerance | None = None
    unit: str
    source: str
    status: Literal["V", "S"]
    notes: str | None = None
    interval_source: IntervalSource | None = Field(
        None,
        description="where the interval comes from; read from the target when left out",
    )

    @model_validator(mode="after")
    def _has_a_pass_rule(self) -> Target:
        if self.ci_low is None and self.ci_high is None and self.tolerance is None:
            raise ValueError("a target without a CI needs a tolerance")
        has_ci = self.ci_low is not None or self.ci_high is not None
        if self.interval_source == "tolerance" and has_ci:
            raise ValueError("interval_source 'tolerance' but ci_low/ci_high are given")
        if self.interval_source in ("published_ci", "clopper_pearson", "limit") and not has_ci:
            raise ValueError(f"interval_source '{self.interval_source}' needs ci_low/ci_high")
        return self

    def count(self) -> tuple[int, int] | None:
        """The count k/N a computed interval was made from, as its notes give it."""
        match = _COUNT.search(self.notes or "")
        return (int(match.group(1)), int(match.group(2))) if match else None

    def source_of_interval(self) -> IntervalSource:
        if self.interval_source is not None:
            return self.interval_source
        if self.ci_low is None and self.ci_high is None:
            return "tolerance"
        notes = (self.notes or "").lower()
        computed = "computed here" in notes or "not published" in notes
        return "clopper_pearson" if computed and self.count() is not None else "published_ci"

    def interval_words(self) -> str:
        """The interval's label, e.g. 'exact Clopper-Pearson 95% CI computed here from 27/32'."""
        source = self.source_of_interval()
        count = self.count()
        return INTERVAL_WORDS[source].format(
            count=f"{count[0]}/{count[1]}" if count else "n/N", rule=self.bounds()[2]
        )

    def endswith_median(self) -> bool:
        return self.endpoint in ("efs_median_months", "os_median_months")

    def is_probability(self) -> bool:
        return self.unit == "fraction"

    def bounds(self) -> tuple[float | None, float | None, str]:
        """The pass range and how it was set. A tolerance around a probability is clipped
        to [0, 1] (a rate of 0.95 +/- 0.10 passes from 0.85 to 1, not to 1.05)."""
        if self.ci_low is not None or self.ci_high is not None:
            return self.ci_low, self.ci_high, "95% CI"
        t = self.tolerance
        assert t is not None
        if t.abs is not None:
            low, high = self.value - t.abs, self.value + t.abs
            if self.is_probability():
                return max(0.0, low), min(1.0, high), f"tolerance +/-{100 * t.abs:g} points"
            return low, high, f"tolerance +/-{t.abs:g}"
        if t.rel is not None:
            low, high = self.value * (1 - t.rel), self.value * (1 + t.rel)
            if self.is_probability():
                low, high = max(0.0, low), min(1.0, high)
            return low, high, f"tolerance +/-{t.rel:.0%}"
        assert t.factor is not None
        return self.value / t.factor, self.value * t.factor, f"tolerance x/{t.factor:g}"


class TargetFile(Spec):
    targets: list[Target] = Field(min_length=1)


def default_targets() -> Path:
    """The built-in targets file (inside the installed package, or in a source checkout)."""
    return builtin_folder("calibration") / "targets.yaml"


def load_targets(path: Path | None = None) -> tuple[TargetFile, Path]:
    shown = str(path) if path is not None else TARGETS_NAME
    path = path or default_targets()
    located = _read(path, shown)
    try:
        targets = TargetFile.model_validate(located.data)
    except ValidationError as exc:
        raise InputError(_problems(located, exc)) from None
    problems = [p for t in targets.targets for p in _interval_problems(t)]
    if problems:
        raise InputError.single(shown, "; ".join(problems))
    return targets, path


def _interval_problems(t: Target) -> list[str]:
    """A computed interval must be the exact interval of the count its notes give."""
    if t.source_of_interval() != "clopper_pearson":
        return []
    count = t.count()
    if count is None:
        return [f"target {t.id}: a Clopper-Pearson interval needs its count (k/N) in notes"]
    exact = clopper_pearson(*count)
    assert exact.ci_low is not None and exact.ci_high is not None
    if (t.ci_low is not None and abs(exact.ci_low - t.ci_low) > 5e-4) or (
        t.ci_high is not None and abs(exact.ci_high - t.ci_high) > 5e-4
    ):
        return [
            f"target {t.id}: the Clopper-Pearson interval of {count[0]}/{count[1]} is "
            f"{exact.ci_low:.4f}-{exact.ci_high:.4f}, not {t.ci_low}-{t.ci_high}"
        ]
    return []


def check_value(target: Target, simulated: float | None) -> bool:
    """Whether a simulated value passes. A Kaplan-Meier median not reached within the
    follow-up (None) lies beyond it, so it passes a target with only a lower limit."""
    if simulated is None:
        return target.endswith_median() and target.ci_high is None and target.ci_low is not None
    low, high, _ = target.bounds()
    return (low is None or simulated >= low - 1e-12) and (high is None or simulated <= high + 1e-12)


CohortKey = tuple[str, str, tuple[tuple[str, Any], ...]]


def cohort_key(t: Target | Arm) -> CohortKey:
    """Targets with the same protocol, population and fixed covariates share a cohort."""
    return (t.protocol, t.population, tuple(sorted(t.fixed.items())))


def _arms(t: Target) -> list[Target | Arm]:
    return [t] if t.versus is None else [t, t.versus]


def cohort_keys(targets: TargetFile) -> set[CohortKey]:
    """Every cohort the targets need (paired targets need two)."""
    return {cohort_key(arm) for t in targets.targets for arm in _arms(t)}


def calibrate(
    targets: TargetFile,
    base: Path,
    patients: int,
    seed: int = 0,
    params: ModelParameters | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
) -> list[dict[str, Any]]:
    """Simulate every target; one result row per target, in file order.

    Every cohort's chunks go to the workers together, so that small cohorts (as in the
    fit) keep every worker busy; each cohort is merged in chunk order, exactly as
    ``cartsim cohort`` would run it alone.
    """
    from sim.workers import run_jobs

    protocols: dict[str, LoadedProtocol] = {}
    setups: dict[CohortKey, CohortSetup] = {}
    for t in targets.targets:
        if not known_endpoint(t.endpoint):  # before any patient is simulated
            raise InputError.single(
                str(base),
                f"target {t.id}: unknown endpoint '{t.endpoint}'"
                f"; known: {', '.join(sorted(METRICS))}, or any day D in nrm_dD, "
                "crs_onset_after_dD_rate, icans_onset_after_dD_rate, "
                "agvhd_grade{1,2,3}plus_dD_rate, response_dD_rate",
            )
        for arm in _arms(t):
            key = cohort_key(arm)
            if key not in setups:
                if arm.protocol not in protocols:
                    why = outside(arm.protocol, base, "targets file")
                    if why is not None:  # no file elsewhere on the machine is read
                        raise InputError.single(str(base), f"target {t.id}: protocol: {why}")
                    protocols[arm.protocol] = load_protocol(arm.protocol, base=base)
                setups[key] = CohortSetup(
                    population=arm.population, seed=seed, fixed=key[2], params=params
                )
    plan = [(key, setup, a, b) for key, setup in setups.items() for a, b in chunks(patients)]
    jobs = [([protocols[key[0]]], setup, a, b, False, False) for key, setup, a, b in plan]
    totals = {key: ChunkResult.empty(1) for key in setups}
    owners = [key for key, *_ in plan]
    for key, part in zip(owners, run_jobs(jobs, workers=workers, scheduler=scheduler), strict=True):
        totals[key].merge(part)
        if progress is not None:
            progress(part.stop - part.start)
    cohorts = {key: total.arms[0].metrics() for key, total in totals.items()}
    rows = []
    for t in targets.targets:
        key = cohort_key(t)
        est = cohorts[key].get(t.endpoint) or totals[key].arms[0].endpoint(t.endpoint)
        if t.versus is not None:
            vkey = cohort_key(t.versus)
            other = cohorts[vkey].get(t.endpoint) or totals[vkey].arms[0].endpoint(t.endpoint)
            diff = None
            if est.value is not None and other.value is not None:
                diff = est.value - other.value
            est = Estimate(
                diff,
                None,
                None,
                est.n,
                f"difference of the two arms on the same {est.n} virtual patients "
                f"({t.protocol} minus {t.versus.protocol})",
            )
        low, high, rule = t.bounds()
        rows.append(
            {
                "id": t.id,
                "protocol": t.protocol,
                "population": t.population,
                "versus": t.versus.model_dump() if t.versus is not None else None,
                "endpoint": t.endpoint,
                "unit": t.unit,
                "published": t.value,
                "published_low": low,
                "published_high": high,
                "rule": rule,
                "interval_source": t.source_of_interval(),
                "interval": t.interval_words(),
                "simulated": est.to_dict(),
                "passes": check_value(t, est.value),
            }
        )
    return rows
