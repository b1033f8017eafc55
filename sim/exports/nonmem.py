"""The realised CAR-T doses as a NONMEM-style dataset, for mrgsolve, rxode2 or NONMEM.

One dose record per CAR-T infusion actually given (planned fractions and repeat doses),
read from the event log's ``infusion`` events, nothing else:

- ``TIME`` is in hours from the patient's first CAR-T infusion (``TIME = 0``), so that
  it is never negative (rxode2 and NONMEM expect non-decreasing, non-negative times
  within a subject). Lymphodepletion happens before time 0 and is not a dose into the
  CAR-T compartment: it is the ``LD`` covariate.
- ``AMT`` is the number of CAR-T cells infused (total, not per kg); ``DOSEKG`` gives
  cells/kg. ``CMT = 1``; ``EVID = 1``; ``MDV = 1``; ``DV = 0``. No ``RATE`` (bolus; an
  infusion takes minutes against expansion over days) and no ``II``/``ADDL``: every dose
  is its own record.
- No observation records: cartsim does not simulate a measured concentration. mrgsolve
  adds output times from its time grid; in rxode2 add sampling times (``et()``).
- Every column is numeric (mrgsolve drops non-numeric columns); names are upper case
  (mrgsolve wants NONMEM-like names all upper or all lower case).
- Records are sorted by ``ID``, then ``TIME``, then ``EVID``. A patient who received no
  CAR-T dose has no record.

``docs/exports.md`` documents every column with its sources.
"""

from __future__ import annotations

from typing import Any

from sim.clinical.body_size import body_surface_area_m2
from sim.engine.run import RunResult
from sim.exports.tables import Column

NONMEM_COLUMNS: tuple[Column, ...] = (
    Column("ID", "int", "subject: 1 for one run; cohort patient index + 1"),
    Column("TIME", "float", "hours since the subject's first CAR-T infusion"),
    Column("EVID", "int", "event type: 1 = dose"),
    Column("AMT", "float", "CAR-T cells infused (total cells, not per kg)"),
    Column("CMT", "int", "dosing compartment: 1"),
    Column("MDV", "int", "missing DV: 1 on every dose record"),
    Column("DV", "float", "dependent variable: 0 (no observations)"),
    Column("DOSENO", "int", "CAR-T dose number for the subject (1, 2, ...)"),
    Column("REPEAT", "int", "0 = planned fraction, 1 = repeat dose (e.g. CAR-DLI)"),
    Column("FRAC", "int", "fraction number in the protocol (repeat dose number if REPEAT=1)"),
    Column("LEVEL", "float", "dose-ladder multiplier applied (1 = full dose)"),
    Column("DOSEKG", "float", "cells per kg of this dose"),
    Column("PLANAMT", "float", "cells planned for this fraction before any reduction"),
    Column("WT", "float", "body weight, kg"),
    Column("HT", "float", "height, cm"),
    Column("AGE", "float", "age, years"),
    Column("BSA", "float", "body surface area, m2 (the protocol's LD formula, else Mosteller)"),
    Column("BLAST", "float", "marrow blasts before lymphodepletion, %"),
    Column("EMD", "int", "extramedullary disease (1 = yes)"),
    Column("CNS", "int", "CNS disease (1 = yes)"),
    Column("ALLO", "int", "prior allogeneic transplant (1 = yes)"),
    Column("LD", "int", "lymphodepletion given before the first infusion (1 = yes)"),
)


def _bsa(result: RunResult) -> float:
    ld = result.protocol.lymphodepletion
    formula = ld.bsa_formula if ld is not None else "mosteller"
    p = result.patient
    return round(body_surface_area_m2(p.weight_kg, p.height_cm, formula), 4)


def nonmem_rows(result: RunResult, subject_id: int) -> list[dict[str, Any]]:
    """The subject's dose records, sorted by TIME then EVID (empty if no CAR-T dose)."""
    infusions = [e for e in result.events if e.kind == "infusion"]
    if not infusions:
        return []
    t0 = infusions[0].time_h
    ld = any(e.kind == "ld_dose" and e.time_h < t0 for e in result.events)
    fraction_number = {fr.id: i for i, fr in enumerate(result.protocol.fractions, start=1)}
    p = result.patient
    covariates = {
        "WT": p.weight_kg,
        "HT": p.height_cm,
        "AGE": p.age_y,
        "BSA": _bsa(result),
        "BLAST": p.marrow_blasts_pct,
        "EMD": int(p.extramedullary_disease),
        "CNS": int(p.cns_disease),
        "ALLO": int(p.prior_allo_hct),
        "LD": int(ld),
    }
    rows = []
    for n, event in enumerate(infusions, start=1):
        label = str(event.data["fraction"])
        repeat = event.data["phase"] == "repeat"
        rows.append(
            {
                "ID": subject_id,
                "TIME": round(event.time_h - t0, 6),
                "EVID": 1,
                "AMT": event.data["cells"],
                "CMT": 1,
                "MDV": 1,
                "DV": 0.0,
                "DOSENO": n,
                "REPEAT": int(repeat),
                "FRAC": int(label[1:]) if repeat else fraction_number[label],
                "LEVEL": event.data["dose_level"],
                "DOSEKG": event.data["cells_per_kg"],
                "PLANAMT": event.data["planned_cells"],
                **covariates,
            }
        )
    rows.sort(key=lambda r: (r["TIME"], r["EVID"]))
    return rows
