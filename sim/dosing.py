"""Dose arithmetic: the one place that converts between units.

* CAR-T cells: ``cells = cells_per_kg x weight_kg``; weight bands pick a per-kg or flat
  dose (e.g. the tisagenlecleucel label: <= 50 kg per kg, > 50 kg flat); ``max_cells``
  caps a dose (e.g. cilta-cel: at most 1e8 per infusion); a ``share`` is a part of the
  planned total (Penn: 10/30/60 %).
* Chemotherapy: ``mg = mg_per_m2 x BSA`` with BSA by Mosteller (default) or DuBois,
  optionally capped (a centre's choice).

Sources: domain reference section 4; Kymriah label (weight bands); Carvykti label (cap).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.clinical.body_size import body_surface_area_m2, drug_dose_mg
from sim.spec.protocol import DoseAmount, Lymphodepletion, Protocol
from sim.spec.scenario import Patient


@dataclass(frozen=True, slots=True)
class Dose:
    cells: float
    cells_per_kg: float
    basis: str  # how it was computed, for traces


def resolve_dose(amount: DoseAmount, weight_kg: float, planned_total: float | None) -> Dose:
    """Cells in one dose for a patient of ``weight_kg``."""
    if amount.cells_per_kg is not None:
        cells = amount.cells_per_kg * weight_kg
        basis = f"{amount.cells_per_kg:.3g} cells/kg x {weight_kg:g} kg"
    elif amount.cells is not None:
        cells = amount.cells
        basis = "flat dose"
    elif amount.share is not None:
        if planned_total is None:
            raise ValueError("a share dose needs a planned total")  # prevented by checks
        cells = amount.share * planned_total
        basis = f"{amount.share:.0%} of the planned total"
    else:
        assert amount.bands is not None
        band = next(
            (b for b in amount.bands if b.up_to_kg is None or weight_kg <= b.up_to_kg), None
        )
        if band is None:
            # heavier than every band: use the last one (validation allows an open last band)
            band = amount.bands[-1]
        if band.cells_per_kg is not None:
            cells = band.cells_per_kg * weight_kg
            basis = (
                f"{band.cells_per_kg:.3g} cells/kg (band up to {band.up_to_kg:g} kg)"
                if band.up_to_kg is not None
                else f"{band.cells_per_kg:.3g} cells/kg"
            )
        else:
            assert band.cells is not None
            cells = band.cells
            limit = f"up to {band.up_to_kg:g} kg" if band.up_to_kg is not None else "heavier"
            basis = f"flat dose (weight band {limit})"
    if amount.max_cells is not None and cells > amount.max_cells:
        cells = amount.max_cells
        basis += f", capped at {amount.max_cells:.3g} cells"
    return Dose(cells, cells / weight_kg, basis)


@dataclass(frozen=True, slots=True)
class FractionPlan:
    fraction: str
    cells: float
    cells_per_kg: float
    basis: str


@dataclass(frozen=True, slots=True)
class DosePlanChoice:
    label: str | None
    reason: str | None
    planned_total: Dose | None
    fractions: tuple[FractionPlan, ...]


def plan_doses(protocol: Protocol, patient: Patient) -> DosePlanChoice:
    """Choose the dose plan (by pre-LD patient values) and size every fraction."""
    baseline = patient.model_dump()
    chosen = None
    for plan in protocol.dose_selection:
        if plan.when is None or plan.when(baseline):
            chosen = plan
            break
    total_amount = protocol.planned_total
    overrides: dict[str, DoseAmount] = {}
    label = reason = None
    if chosen is not None:
        total_amount = chosen.planned_total or total_amount
        overrides = dict(chosen.fractions)
        label = chosen.label
        reason = f"{chosen.when}" if chosen.when is not None else "no other plan applied"
    weight = patient.weight_kg
    total = resolve_dose(total_amount, weight, None) if total_amount is not None else None
    fractions = []
    for fr in protocol.fractions:
        dose = resolve_dose(overrides.get(fr.id, fr.dose), weight, total.cells if total else None)
        fractions.append(FractionPlan(fr.id, dose.cells, dose.cells_per_kg, dose.basis))
    return DosePlanChoice(label, reason, total, tuple(fractions))


@dataclass(frozen=True, slots=True)
class DrugDose:
    drug: str
    mg_per_m2: float
    bsa_m2: float
    mg: float


def ld_doses(ld: Lymphodepletion, patient: Patient) -> tuple[float, list[DrugDose]]:
    """BSA and the mg of each lymphodepleting drug for one day it is given."""
    bsa = body_surface_area_m2(patient.weight_kg, patient.height_cm, ld.bsa_formula)
    if ld.bsa_cap_m2 is not None:
        bsa = min(bsa, ld.bsa_cap_m2)
    return bsa, [
        DrugDose(d.name, d.mg_per_m2, bsa, drug_dose_mg(d.mg_per_m2, bsa)) for d in ld.drugs
    ]
