"""Body surface area formulas and BSA-based dosing."""

from __future__ import annotations

import math

import pytest

from sim.clinical.body_size import body_surface_area_m2, drug_dose_mg


def test_mosteller_reference_person() -> None:
    # sqrt(170 * 70 / 3600) = sqrt(3.30556) = 1.8181 -> 1.82 m2 (domain notes, section 4).
    bsa = body_surface_area_m2(70, 170)
    assert round(bsa, 2) == 1.82
    assert bsa == pytest.approx(1.81812, abs=1e-5)
    assert body_surface_area_m2(70, 170, "mosteller") == bsa


def test_dubois_reference_person_by_hand() -> None:
    # 170 ** 0.725 = exp(0.725 * ln 170) = exp(0.725 * 5.135798) = exp(3.723454) = 41.4072
    # 70 ** 0.425  = exp(0.425 * ln 70)  = exp(0.425 * 4.248495) = exp(1.805610) = 6.08368
    # 0.007184 * 41.4072 * 6.08368 = 1.80970 m2
    bsa = body_surface_area_m2(70, 170, "dubois")
    assert bsa == pytest.approx(1.8097, abs=1e-4)
    assert round(bsa, 2) == 1.81


def test_mosteller_scales_with_square_root() -> None:
    # Quadrupling height x weight doubles the Mosteller BSA; 3600 cm.kg gives exactly 1 m2.
    assert body_surface_area_m2(36, 100) == pytest.approx(1.0)
    assert body_surface_area_m2(144, 100) == pytest.approx(2.0)


@pytest.mark.parametrize("formula", ["mosteller", "dubois"])
@pytest.mark.parametrize(
    ("weight", "height"),
    [(0, 170), (70, 0), (-70, 170), (70, -170), (math.nan, 170), (70, math.inf)],
)
def test_bsa_rejects_non_positive_inputs(weight: float, height: float, formula: str) -> None:
    with pytest.raises(ValueError):
        body_surface_area_m2(weight, height, formula)  # type: ignore[arg-type]


def test_bsa_rejects_unknown_formula() -> None:
    with pytest.raises(ValueError):
        body_surface_area_m2(70, 170, "haycock")  # type: ignore[arg-type]


def test_drug_dose_mg() -> None:
    # Fludarabine 30 mg/m2 at 1.82 m2 = 54.6 mg.
    assert drug_dose_mg(30, 1.82) == pytest.approx(54.6)
    assert drug_dose_mg(300, body_surface_area_m2(70, 170)) == pytest.approx(545.4356, abs=1e-3)


@pytest.mark.parametrize(("mg_per_m2", "bsa"), [(0, 1.8), (30, 0), (-30, 1.8), (30, -1.8)])
def test_drug_dose_rejects_non_positive(mg_per_m2: float, bsa: float) -> None:
    with pytest.raises(ValueError):
        drug_dose_mg(mg_per_m2, bsa)
