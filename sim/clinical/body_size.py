"""Body surface area (BSA) and BSA-based drug doses (research and teaching use only).

Used for lymphodepleting chemotherapy doses given in mg/m2 (for example fludarabine 30 mg/m2).
Any BSA cap or adjusted-body-weight rule depends on the treating centre and belongs in the
protocol configuration, not here.

Sources:

- Mosteller RD. Simplified calculation of body-surface area. N Engl J Med 1987;317(17):1098.
- Du Bois D, Du Bois EF. A formula to estimate the approximate surface area if height and weight
  be known. Arch Intern Med 1916;17:863-871.
"""

from __future__ import annotations

import math
from typing import Final, Literal

BsaFormula = Literal["mosteller", "dubois"]
BSA_FORMULAS: Final[tuple[BsaFormula, ...]] = ("mosteller", "dubois")


def _require_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def body_surface_area_m2(
    weight_kg: float, height_cm: float, formula: BsaFormula = "mosteller"
) -> float:
    """Return the body surface area in m2.

    - ``"mosteller"`` (Mosteller, N Engl J Med 1987;317:1098):
      ``sqrt(height_cm * weight_kg / 3600)``. Example: 170 cm, 70 kg -> 1.82 m2.
    - ``"dubois"`` (Du Bois & Du Bois, Arch Intern Med 1916;17:863):
      ``0.007184 * height_cm**0.725 * weight_kg**0.425``.

    Raises ``ValueError`` if weight or height is not a positive finite number, or if the formula
    is unknown.
    """
    _require_positive("weight_kg", weight_kg)
    _require_positive("height_cm", height_cm)
    if formula == "mosteller":
        return math.sqrt(height_cm * weight_kg / 3600.0)
    if formula == "dubois":
        return 0.007184 * math.pow(height_cm, 0.725) * math.pow(weight_kg, 0.425)
    raise ValueError(f"unknown BSA formula {formula!r}; allowed: {BSA_FORMULAS}")


def drug_dose_mg(mg_per_m2: float, bsa_m2: float) -> float:
    """Return the dose in mg for a dose prescribed in mg/m2: ``mg_per_m2 * bsa_m2``.

    Raises ``ValueError`` if either value is not a positive finite number. No BSA cap is applied.
    """
    _require_positive("mg_per_m2", mg_per_m2)
    _require_positive("bsa_m2", bsa_m2)
    return mg_per_m2 * bsa_m2
