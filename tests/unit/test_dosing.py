"""Dose arithmetic: per kg, flat, shares, weight bands, caps, dose plans, LD mg."""

from __future__ import annotations

import pytest

from sim.dosing import ld_doses, plan_doses, resolve_dose
from sim.spec.protocol import DoseAmount, Lymphodepletion
from sim.spec.scenario import Patient
from tests.factories import protocol

KYMRIAH = DoseAmount.model_validate(
    {"bands": [{"up_to_kg": 50, "cells_per_kg": 5.0e6}, {"cells": 2.5e8}]}
)


def test_per_kg_dose() -> None:
    d = resolve_dose(DoseAmount(cells_per_kg=1e5), 70, None)
    assert d.cells == pytest.approx(7e6) and d.cells_per_kg == pytest.approx(1e5)


@pytest.mark.parametrize(
    ("weight", "cells"), [(20, 1.0e8), (50, 2.5e8), (50.1, 2.5e8), (90, 2.5e8)]
)
def test_weight_bands_per_kg_then_flat(weight: float, cells: float) -> None:
    d = resolve_dose(KYMRIAH, weight, None)
    assert d.cells == pytest.approx(cells)
    assert d.cells_per_kg == pytest.approx(cells / weight)


def test_cap_limits_the_dose() -> None:
    d = resolve_dose(DoseAmount(cells_per_kg=1e6, max_cells=1e8), 120, None)
    assert d.cells == 1e8 and "capped" in d.basis


def test_share_of_the_planned_total() -> None:
    assert resolve_dose(DoseAmount(share=0.3), 70, 5e8).cells == pytest.approx(1.5e8)


def test_dose_plan_chosen_by_blasts_before_ld() -> None:
    p = protocol(
        fractions=[{"id": "F1", "day": 0, "dose": {"share": 1.0}}],
        dose_selection=[
            {
                "label": "morphologic",
                "when": "marrow_blasts_pct >= 5",
                "planned_total": {"cells_per_kg": 1e6},
            },
            {"label": "MRD", "planned_total": {"cells_per_kg": 3e6}},
        ],
    )
    high = plan_doses(p, Patient(weight_kg=60, height_cm=160, age_y=30, marrow_blasts_pct=40))
    low = plan_doses(p, Patient(weight_kg=60, height_cm=160, age_y=30, marrow_blasts_pct=1))
    assert high.label == "morphologic" and high.fractions[0].cells == pytest.approx(6e7)
    assert low.label == "MRD" and low.fractions[0].cells == pytest.approx(1.8e8)


def test_ld_mg_from_bsa() -> None:
    ld = Lymphodepletion.model_validate(
        {
            "regimen": "Flu/Cy",
            "drugs": [
                {"name": "fludarabine", "mg_per_m2": 30, "days": [-5]},
                {"name": "cyclophosphamide", "mg_per_m2": 300, "days": [-5]},
            ],
        }
    )
    bsa, doses = ld_doses(ld, Patient(weight_kg=70, height_cm=170, age_y=40))
    assert bsa == pytest.approx(1.8181, abs=1e-4)  # Mosteller, 170 cm 70 kg
    assert [d.mg for d in doses] == pytest.approx([30 * bsa, 300 * bsa])
    capped = ld.model_copy(update={"bsa_cap_m2": 1.5})
    assert ld_doses(capped, Patient(weight_kg=70, height_cm=170, age_y=40))[0] == 1.5
