"""Fit the model's free parameters to calibration/targets.yaml and rewrite the file.

Usage::

    python scripts/fit_model.py [--coarse-patients 250] [--coarse-evaluations 300]
                                [--patients 1000] [--evaluations 120] [--seed 20261121]
                                [--workers 2] [--write]

The objective is the sum over targets of ((simulated - published) / half-width)^2, the
half-width being half the published 95 % CI (or the stated tolerance), plus a steep
penalty for any distance outside the interval shrunk by a safety margin, so that a value
that passes here also passes with another seed and cohort size (``cartsim calibrate``
uses 2,000 patients and seed 0); one-sided targets count only when violated. Simulation
uses common random numbers (a fixed seed), so the objective is a deterministic function
of the parameters. It is minimised from ``START`` below by a coordinate pattern search
(``compass_search``) in two stages: a coarse one on small cohorts (cheap, to travel far),
then a fine one on larger cohorts with smaller steps (to remove the small cohorts'
sampling noise). The two trials of each step run in parallel on ``--workers`` processes,
which changes the wall time only, never the result. With ``--write`` the fitted values
are written into sim/model/parameters.yaml (only the FITTED entries change), so the
shipped file can be reproduced from the repository.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from sim.calibration import TargetFile, calibrate, load_targets  # noqa: E402
from sim.model.parameters import DEFAULT_FILE, ModelParameters, load_parameters  # noqa: E402

# (section, key, transform): "log" parameters are fitted on the log scale; a section may be
# dotted ("crs.onset", "products.cd28") for a nested block of the parameter file.
FREE: list[tuple[str, str, str]] = [
    ("products.allogeneic_donor", "beta_factor", "log"),
    ("kinetics", "lloq_copies", "log"),
    ("crs", "intercept", "lin"),
    ("crs", "slope_burden", "lin"),
    ("crs", "duration_median_days", "log"),
    ("crs.onset", "log_rate_per_day", "lin"),
    ("crs.onset", "severity_slope", "lin"),
    ("crs.onset", "omega", "log"),
    ("products.cd28", "crs_shift", "lin"),
    ("icans", "intercept", "lin"),
    ("iec_hs", "intercept", "lin"),
    ("response", "intercept", "lin"),
    ("response", "slope_peak", "lin"),
    ("survival", "relapse_per_month", "log"),
    ("survival", "relapse_slope_burden", "lin"),
    ("survival", "relapse_slope_peak", "lin"),
    ("survival", "relapse_paediatric_factor", "log"),
    ("survival", "death_after_progression_per_month", "log"),
    ("survival", "death_paediatric_factor", "log"),
    ("survival", "death_refractory_factor", "log"),
    ("survival", "background_death_per_month", "log"),
]
# Search stages: (patients per target cohort, evaluations, first step, smallest step);
# steps are on the fitted scale (log scale for "log" parameters, so 0.1 is about 10 %).
COARSE = (250, 300, 0.1, 0.02)  # small cohorts: cheap, to travel far
FINE = (1000, 120, 0.05, 0.01)  # larger cohorts: remove the small cohorts' sampling noise
MAX_STEP = 0.4
OUTSIDE_PENALTY = 400.0  # extra weight on any distance outside a target's pass interval
MARGIN = 0.25  # ... shrunk by this share of its half-width, so values are not left on an edge


# Where the fit starts, so that `--write` reproduces the shipped file exactly whatever
# values it currently holds. History (model version 1): hand-set values -> Nelder-Mead
# (32/36 targets) -> ... -> a two-stage pattern search from the values below (328
# evaluations, 36/36). Model version 2 (CRS onset in time, signs, treatment, products,
# paired targets; issue 14) started from version 1's fitted values, the onset parameters set
# by hand so that ELIANA's median onset is near day 3, and the CD28 CRS shift at 0:
# `--coarse-patients 200 --coarse-evaluations 120 --patients 500 --evaluations 40` (158
# evaluations, loss 2727 -> 58.9, 42/44 targets at 2,000 patients: the two one-sided ones
# missed, weighed too lightly). One-sided targets then got the out-of-interval penalty
# too, and a second run (`--coarse-patients 200 --coarse-evaluations 60 --patients 500
# --evaluations 30`, 88 evaluations) passed 44/44 at seed 0 but left four targets on an
# edge at seeds 1-3 (tocilizumab and steroid use, the severe/mild onset ratio, CAR-DLI
# without LD 12-month EFS). The assumed first CRS cutpoint then moved from -0.8 to -1.3
# (more grade 1 CRS: ELIANA gave tocilizumab to 40 % of its patients with CRS), and four
# fitted values were moved by hand off those edges (onset log rate -1.9 -> -1.7, severity
# slope 0.6 -> 0.45, omega 0.24 -> 0.45, relapse_slope_peak 0.55 -> 0.45): the values
# below. The shipped file is a fine stage from them; the command and figures are in the
# README.
START: dict[tuple[str, str], float] = {
    ("products.allogeneic_donor", "beta_factor"): 1.84356,
    ("kinetics", "lloq_copies"): 249.591,
    ("crs", "intercept"): -0.827782,
    ("crs", "slope_burden"): 0.222064,
    ("crs", "duration_median_days"): 11.6762,
    ("crs.onset", "log_rate_per_day"): -1.7,
    ("crs.onset", "severity_slope"): 0.45,
    ("crs.onset", "omega"): 0.45,
    ("products.cd28", "crs_shift"): 0.7,
    ("icans", "intercept"): -0.8,
    ("iec_hs", "intercept"): -3.71983,
    ("response", "intercept"): 3.03964,
    ("response", "slope_peak"): 1.85923,
    ("survival", "relapse_per_month"): 0.0220894,
    ("survival", "relapse_slope_burden"): 0.338959,
    ("survival", "relapse_slope_peak"): 0.45,
    ("survival", "relapse_paediatric_factor"): 0.0205922,
    ("survival", "death_after_progression_per_month"): 0.173341,
    ("survival", "death_paediatric_factor"): 0.132437,
    ("survival", "death_refractory_factor"): 2.52161,
    ("survival", "background_death_per_month"): 0.000688492,
}


def _get(params: ModelParameters, section: str, key: str) -> float:
    block: Any = params
    for part in section.split("."):
        block = getattr(block, part)
    return float(getattr(block, key))


def with_values(params: ModelParameters, x: np.ndarray) -> ModelParameters:
    data: dict[str, Any] = params.model_dump()
    for (section, key, transform), value in zip(FREE, x, strict=True):
        block = data
        for part in section.split("."):
            block = block[part]
        block[key] = float(math.exp(value) if transform == "log" else value)
    return ModelParameters.model_validate(data)


def start_vector() -> np.ndarray:
    return np.array([math.log(START[(s, k)]) if t == "log" else START[(s, k)] for s, k, t in FREE])


def loss(rows: list[dict[str, Any]]) -> float:
    total = 0.0
    for r in rows:
        value = r["simulated"]["value"]
        low, high, pub = r["published_low"], r["published_high"], r["published"]
        if value is None:
            total += 25.0
            continue
        if low is not None and high is not None:
            half = max((high - low) / 2, 1e-9)
            total += ((value - pub) / half) ** 2
            margin = MARGIN * half
            outside = max(low + margin - value, value - high + margin, 0.0)
            total += OUTSIDE_PENALTY * (outside / half) ** 2
        elif low is not None or high is not None:
            # one-sided: a quarter of the limit is the scale; a value past the limit, or within
            # the margin of it, weighs like a value outside a two-sided interval
            limit = low if low is not None else high
            assert limit is not None
            scale = max(abs(limit) * 0.25, 0.02)
            if low is not None:
                short = limit + MARGIN * scale - value
            else:
                short = value - limit + MARGIN * scale
            if short > 0:
                total += (1 + OUTSIDE_PENALTY) * (short / scale) ** 2
    return total


def write_values(params: ModelParameters, path: Path) -> None:
    """Rewrite the FITTED values in place: a key is found under its (dotted) section by the
    indentation of the lines above it."""
    text = path.read_text(encoding="utf-8")
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing blocks
    lines = []
    for line in text.splitlines():
        m = re.match(r"^( *)([a-z_0-9]+):(.*)$", line)
        if m:
            indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            section = ".".join(k for _, k in stack)
            for s_, k, _ in FREE:
                if s_ == section and k == key:
                    value = _get(params, s_, k)
                    line = f"{' ' * indent}{k}: {value:.6g}"
                    line += " " * max(1, 34 - len(line)) + "# FITTED by scripts/fit_model.py"
            if not rest.strip() or rest.strip().startswith("#"):
                stack.append((indent, key))
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def compass_search(
    evaluate: Callable[[list[np.ndarray]], list[float]],
    x0: np.ndarray,
    step: float,
    min_step: float,
    max_evaluations: int,
) -> tuple[np.ndarray, float]:
    """Coordinate pattern search: try +step and -step on each parameter in turn and keep
    the better improvement (+step first on a tie) at once; a parameter's step doubles
    after a success (up to MAX_STEP) and halves after a failure both ways. Stops when
    every step is below ``min_step`` or after ``max_evaluations``. The two trials of a
    parameter are evaluated together (in parallel when there are workers); the result
    does not depend on the worker count. Deterministic, and indifferent to the small
    plateaus that a finite simulated cohort gives the objective."""
    x = x0.copy()
    best = evaluate([x])[0]
    steps = np.full(len(x), step)
    used = 1
    while used + 2 <= max_evaluations and steps.max() >= min_step:
        for i in range(len(x)):
            if steps[i] < min_step:
                continue
            if used + 2 > max_evaluations:
                break
            trials = [x.copy(), x.copy()]
            trials[0][i] += steps[i]
            trials[1][i] -= steps[i]
            values = evaluate(trials)
            used += 2
            k = int(np.argmin(values))
            if values[k] < best:
                x, best = trials[k], values[k]
                steps[i] = min(2 * steps[i], MAX_STEP)
            else:
                steps[i] /= 2
    return x, best


@cache
def _targets() -> tuple[TargetFile, Path]:
    """The targets file, read once per worker process rather than once per evaluation."""
    return load_targets()


def _objective(args: tuple[np.ndarray, int, int]) -> float:
    """One evaluation: the loss of the parameters ``x`` on cohorts of ``patients``."""
    x, patients, seed = args
    try:
        params = with_values(load_parameters(), x)
    except Exception:
        return 1e9
    targets, path = _targets()
    return loss(calibrate(targets, path.parent, patients, seed, params))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--coarse-patients", type=int, default=COARSE[0])
    ap.add_argument("--coarse-evaluations", type=int, default=COARSE[1])
    ap.add_argument("--patients", type=int, default=FINE[0])
    ap.add_argument("--evaluations", type=int, default=FINE[1])
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--workers", type=int, default=2, help="does not change the result")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    evaluations = 0
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:

        def evaluator(patients: int) -> Callable[[list[np.ndarray]], list[float]]:
            def evaluate(points: list[np.ndarray]) -> list[float]:
                nonlocal evaluations
                values = list(pool.map(_objective, [(x, patients, args.seed) for x in points]))
                for value in values:
                    evaluations += 1
                    print(f"eval {evaluations} ({patients} patients): loss {value:.3f}", flush=True)
                return values

            return evaluate

        x = start_vector()
        stages = [
            (args.coarse_patients, args.coarse_evaluations, COARSE[2], COARSE[3]),
            (args.patients, args.evaluations, FINE[2], FINE[3]),
        ]
        for patients, budget, step, min_step in stages:
            if budget <= 0:
                continue
            x, best = compass_search(evaluator(patients), x, step, min_step, budget)
            print(f"stage done ({patients} patients): loss {best:.3f}", flush=True)
            print("  raw " + " ".join(f"{v:.6g}" for v in x), flush=True)
    base = load_parameters()
    fitted = with_values(base, x)
    wall = time.perf_counter() - started
    print(f"done after {evaluations} evaluations, {wall / 60:.1f} min")
    for (s, k, _), v in zip(FREE, x, strict=True):
        print(f"  {s}.{k} = {_get(fitted, s, k):.6g}  (raw {v:.4f})")
    if args.write:
        write_values(fitted, DEFAULT_FILE)
        print(f"wrote {DEFAULT_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
