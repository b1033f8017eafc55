"""Fit the model's free parameters to calibration/targets.yaml and rewrite the file.

Usage::

    python scripts/fit_model.py [--patients 500] [--seed 20261121] [--maxiter 30] [--write]

The objective is the sum over targets of ((simulated - published) / half-width)^2, the
half-width being half the published 95 % CI (or the stated tolerance), plus a steep
penalty for any distance outside the interval; one-sided targets count only when
violated. Simulation uses common random numbers (a fixed seed), so the
objective is a deterministic function of the parameters, minimised with Nelder-Mead from
the current file's values. With ``--write`` the fitted values are written into
sim/model/parameters.yaml (only the FITTED entries change), so the shipped file can be
reproduced from the repository.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

from sim.calibration import calibrate, load_targets  # noqa: E402
from sim.model.parameters import DEFAULT_FILE, ModelParameters, load_parameters  # noqa: E402

# (section, key, transform): "log" parameters are fitted on the log scale
FREE: list[tuple[str, str, str]] = [
    ("kinetics", "allogeneic_beta_factor", "log"),
    ("kinetics", "lloq_copies", "log"),
    ("crs", "intercept", "lin"),
    ("crs", "slope_burden", "lin"),
    ("crs", "duration_median_days", "log"),
    ("icans", "intercept", "lin"),
    ("iec_hs", "intercept", "lin"),
    ("response", "intercept", "lin"),
    ("response", "slope_peak", "lin"),
    ("survival", "relapse_per_month", "log"),
    ("survival", "relapse_slope_burden", "lin"),
    ("survival", "relapse_paediatric_factor", "log"),
    ("survival", "death_after_progression_per_month", "log"),
    ("survival", "death_paediatric_factor", "log"),
    ("survival", "death_refractory_factor", "log"),
    ("survival", "background_death_per_month", "log"),
]
STEP = 0.1  # initial simplex step per parameter (on the fitted scale)
OUTSIDE_PENALTY = 400.0  # extra weight on any distance outside a target's pass interval
MARGIN = 0.1  # ... shrunk by this share of its half-width, so values are not left on an edge


# Where the fit starts, so that `--write` reproduces the shipped file exactly whatever
# values it currently holds. History: hand-set values -> fit (250 patients, 150
# iterations, 32/36 targets) -> refractory/background death set by hand and freed -> fit
# (250 patients, 80 iterations, 34/36) -> fit with the out-of-interval penalty (500
# patients, 40 iterations, 35/36) -> these values; the shipped file is this fit with a
# safety margin inside each interval (500 patients, 30 iterations).
START: dict[tuple[str, str], float] = {
    ("kinetics", "allogeneic_beta_factor"): 2.19613,
    ("kinetics", "lloq_copies"): 209.521,
    ("crs", "intercept"): -0.752782,
    ("crs", "slope_burden"): 0.347064,
    ("crs", "duration_median_days"): 11.1067,
    ("icans", "intercept"): -0.0598055,
    ("iec_hs", "intercept"): -3.86983,
    ("response", "intercept"): 2.91464,
    ("response", "slope_peak"): 1.50923,
    ("survival", "relapse_per_month"): 0.0250306,
    ("survival", "relapse_slope_burden"): 0.338959,
    ("survival", "relapse_paediatric_factor"): 0.107223,
    ("survival", "death_after_progression_per_month"): 0.131664,
    ("survival", "death_paediatric_factor"): 0.207703,
    ("survival", "death_refractory_factor"): 3.7618,
    ("survival", "background_death_per_month"): 0.000977017,
}


def _get(params: ModelParameters, section: str, key: str) -> float:
    return float(getattr(getattr(params, section), key))


def with_values(params: ModelParameters, x: np.ndarray) -> ModelParameters:
    data: dict[str, Any] = params.model_dump()
    for (section, key, transform), value in zip(FREE, x, strict=True):
        data[section][key] = float(math.exp(value) if transform == "log" else value)
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
        elif low is not None and value < low:
            total += ((low - value) / max(abs(low) * 0.25, 1e-9)) ** 2
        elif high is not None and value > high:
            total += ((value - high) / max(abs(high) * 0.25, 1e-9)) ** 2
    return total


def write_values(params: ModelParameters, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    section = None
    lines = []
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+):\s*$", line)
        if m:
            section = m.group(1)
        for s, k, _ in FREE:
            if s == section and re.match(rf"^  {k}:", line):
                value = _get(params, s, k)
                line = f"  {k}: {value:.6g}"
                line += " " * max(1, 34 - len(line)) + "# FITTED by scripts/fit_model.py"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--maxiter", type=int, default=30)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    targets, path = load_targets()
    base = load_parameters()
    evaluations = 0

    def objective(x: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        try:
            params = with_values(base, x)
        except Exception:
            return 1e9
        value = loss(calibrate(targets, path.parent, args.patients, args.seed, params))
        print(f"eval {evaluations}: loss {value:.3f}", flush=True)
        return value

    x0 = start_vector()
    simplex = np.vstack([x0] + [x0 + STEP * row for row in np.eye(len(x0))])
    result = minimize(
        objective,
        x0,
        method="Nelder-Mead",
        options={
            "maxiter": args.maxiter,
            "xatol": 1e-3,
            "fatol": 1e-2,
            "adaptive": True,
            "initial_simplex": simplex,
        },
    )
    fitted = with_values(base, result.x)
    print(f"done: loss {result.fun:.3f} after {evaluations} evaluations")
    for (s, k, _), v in zip(FREE, result.x, strict=True):
        print(f"  {s}.{k} = {_get(fitted, s, k):.6g}  (raw {v:.4f})")
    if args.write:
        write_values(fitted, DEFAULT_FILE)
        print(f"wrote {DEFAULT_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
