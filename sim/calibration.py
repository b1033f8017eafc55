"""Calibration: simulate every published target and say whether it is reproduced.

Targets live in ``calibration/targets.yaml`` (format described in its header). Targets
sharing a protocol, population and fixed covariates share one simulated cohort. A target
passes when the simulated value lies inside the published 95 % CI (on the known side of
a one-sided CI), or within the stated tolerance when no CI is given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from sim.cohort import ChunkResult, CohortSetup, chunks
from sim.errors import InputError
from sim.model.parameters import ModelParameters
from sim.spec.base import Spec
from sim.spec.load import LoadedProtocol, _problems, _read, load_protocol, outside
from sim.tally import METRICS

DEFAULT_TARGETS = Path(__file__).resolve().parent.parent / "calibration" / "targets.yaml"


class Tolerance(Spec):
    abs: float | None = None
    rel: float | None = None
    factor: Annotated[float, Field(gt=1)] | None = None


class Target(Spec):
    id: str
    protocol: str
    population: str
    fixed: dict[str, Any] = Field(default_factory=dict)
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

    @model_validator(mode="after")
    def _has_a_pass_rule(self) -> Target:
        if self.ci_low is None and self.ci_high is None and self.tolerance is None:
            raise ValueError("a target without a CI needs a tolerance")
        return self

    def endswith_median(self) -> bool:
        return self.endpoint in ("efs_median_months", "os_median_months")

    def bounds(self) -> tuple[float | None, float | None, str]:
        if self.ci_low is not None or self.ci_high is not None:
            return self.ci_low, self.ci_high, "published 95% CI"
        t = self.tolerance
        assert t is not None
        if t.abs is not None:
            return self.value - t.abs, self.value + t.abs, f"+/-{t.abs:g}"
        if t.rel is not None:
            return self.value * (1 - t.rel), self.value * (1 + t.rel), f"+/-{t.rel:.0%}"
        assert t.factor is not None
        return self.value / t.factor, self.value * t.factor, f"x/{t.factor:g}"


class TargetFile(Spec):
    targets: list[Target] = Field(min_length=1)


def load_targets(path: Path | None = None) -> tuple[TargetFile, Path]:
    path = path or DEFAULT_TARGETS
    shown = str(path)
    located = _read(path, shown)
    try:
        return TargetFile.model_validate(located.data), path
    except ValidationError as exc:
        raise InputError(_problems(located, exc)) from None


def check_value(target: Target, simulated: float | None) -> bool:
    """Whether a simulated value passes. A Kaplan-Meier median not reached within the
    follow-up (None) lies beyond it, so it passes a target with only a lower limit."""
    if simulated is None:
        return target.endswith_median() and target.ci_high is None and target.ci_low is not None
    low, high, _ = target.bounds()
    return (low is None or simulated >= low - 1e-12) and (high is None or simulated <= high + 1e-12)


CohortKey = tuple[str, str, tuple[tuple[str, Any], ...]]


def cohort_key(t: Target) -> CohortKey:
    """Targets with the same protocol, population and fixed covariates share a cohort."""
    return (t.protocol, t.population, tuple(sorted(t.fixed.items())))


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
        if t.endpoint not in METRICS:  # before any patient is simulated
            raise InputError.single(
                str(base),
                f"target {t.id}: unknown endpoint '{t.endpoint}'"
                f"; known: {', '.join(sorted(METRICS))}",
            )
        key = cohort_key(t)
        if key not in setups:
            if t.protocol not in protocols:
                why = outside(t.protocol, base, "targets file")
                if why is not None:  # no file elsewhere on the machine is read
                    raise InputError.single(str(base), f"target {t.id}: protocol: {why}")
                protocols[t.protocol] = load_protocol(t.protocol, base=base)
            setups[key] = CohortSetup(
                population=t.population, seed=seed, fixed=key[2], params=params
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
        est = cohorts[key][t.endpoint]
        low, high, rule = t.bounds()
        rows.append(
            {
                "id": t.id,
                "protocol": t.protocol,
                "population": t.population,
                "endpoint": t.endpoint,
                "published": t.value,
                "published_low": low,
                "published_high": high,
                "rule": rule,
                "simulated": est.to_dict(),
                "passes": check_value(t, est.value),
            }
        )
    return rows
