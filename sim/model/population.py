"""Named populations: sample a virtual patient's covariates.

Weight and height follow age (a simple growth curve for children, adult norms after
18; ASSUMED shapes). Blasts are MRD-level (< 5 %) for a share of patients, otherwise
morphologic. Draws come from the patient's ``covariates`` stream only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.model.parameters import ModelParameters, Population
from sim.spec.scenario import Patient


def _clip(x: float, low: float, high: float) -> float:
    return max(low, min(high, x))


def _size_for_age(age: float, rng: np.random.Generator) -> tuple[float, float]:
    """Height (cm) and weight (kg) for an age, with spread (ASSUMED curves)."""
    if age < 18:
        height = 75 + 6.0 * age if age >= 1 else 75.0
        height = min(height, 172.0)
        weight = 9.5 * math.exp(0.107 * age) if age < 13 else 30 + 5.5 * (age - 10)
    else:
        height, weight = 170.0, 74.0
    height *= math.exp(rng.normal(0, 0.05))
    weight *= math.exp(rng.normal(0, 0.18))
    return _clip(height, 60, 205), _clip(weight, 8, 180)


def sample_patient(
    pop: Population, rng: np.random.Generator, fixed: dict[str, Any] | None = None
) -> Patient:
    a = pop.age_y
    age = _clip(rng.normal(a.median, a.sd), a.low, a.high)
    height, weight = _size_for_age(age, rng)
    mrd_level = rng.random() < pop.mrd_level_share
    b = pop.blasts_morphologic
    if mrd_level:
        blasts = float(10 ** rng.uniform(-2, math.log10(4.9)))  # 0.01 % to 4.9 %
    else:
        blasts = _clip(b.median * math.exp(rng.normal(0, 0.6)), b.low, b.high)
    values: dict[str, Any] = {
        "age_y": round(age, 1),
        "height_cm": round(height, 1),
        "weight_kg": round(weight, 1),
        "marrow_blasts_pct": round(blasts, 3),
        "extramedullary_disease": bool(rng.random() < pop.extramedullary_share),
        "cns_disease": bool(rng.random() < pop.cns_share),
        "prior_allo_hct": bool(rng.random() < pop.prior_allo_hct_share),
        "transplant_candidate": bool(rng.random() < 0.5),
    }
    values.update(fixed or {})
    return Patient.model_validate(values)


def population(params: ModelParameters, name: str) -> Population:
    from sim.errors import InputError

    if name not in params.populations:
        raise InputError.single(
            "--population", f"unknown population '{name}'; known: " + ", ".join(params.populations)
        )
    return params.populations[name]
