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

from sim.cohort import CohortSetup, compare
from sim.errors import InputError
from sim.model.parameters import ModelParameters
from sim.spec.base import Spec
from sim.spec.load import LoadedProtocol, _problems, _read, load_protocol

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


def calibrate(
    targets: TargetFile,
    base: Path,
    patients: int,
    seed: int = 0,
    params: ModelParameters | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Simulate every target; one result row per target, in file order."""
    cohorts: dict[tuple[str, str, tuple[tuple[str, Any], ...]], dict[str, Any]] = {}
    protocols: dict[str, LoadedProtocol] = {}
    rows = []
    for t in targets.targets:
        key = (t.protocol, t.population, tuple(sorted(t.fixed.items())))
        if key not in cohorts:
            if t.protocol not in protocols:
                protocols[t.protocol] = load_protocol(t.protocol, base=base)
            setup = CohortSetup(population=t.population, seed=seed, fixed=key[2], params=params)
            run = compare([protocols[t.protocol]], setup, patients, progress, workers=workers)
            cohorts[key] = run.arm_metrics()[0]
        metrics = cohorts[key]
        if t.endpoint not in metrics:
            raise InputError.single(
                str(base),
                f"target {t.id}: unknown endpoint '{t.endpoint}'"
                f"; known: {', '.join(sorted(metrics))}",
            )
        est = metrics[t.endpoint]
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
