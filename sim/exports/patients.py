"""The per-patient table of a cohort: one row per (protocol, patient).

A row is the patient's covariates and the outcomes derived from their event log by
:func:`sim.outcomes.patient_outcomes`. ``docs/exports.md`` documents every column.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, overload

from sim.exports.tables import Column
from sim.spec.scenario import Patient

COVARIATE_COLUMNS: tuple[Column, ...] = (
    Column("weight_kg", "float", "body weight, kg"),
    Column("height_cm", "float", "height, cm"),
    Column("age_y", "float", "age, years"),
    Column("marrow_blasts_pct", "float", "bone-marrow blasts before lymphodepletion, %"),
    Column("extramedullary_disease", "bool", "extramedullary disease"),
    Column("cns_disease", "bool", "CNS disease"),
    Column("prior_allo_hct", "bool", "prior allogeneic transplant"),
    Column("transplant_candidate", "bool", "candidate for a consolidating transplant"),
)

OUTCOME_COLUMNS: tuple[Column, ...] = (
    Column("infused", "bool", "received at least one CAR-T dose"),
    Column("fractions_planned", "int", "fractions in the dose plan"),
    Column("fractions_given", "int", "planned fractions given (full or reduced)"),
    Column("repeat_doses_given", "int", "repeat (e.g. CAR-DLI) doses given"),
    Column("given_cells_per_kg", "float", "cells/kg given in the planned fractions"),
    Column("dose_delivered_share", "float", "cells given / cells planned (fractions)"),
    Column("full_dose_delivered", "bool", "every planned cell given"),
    Column("holds", "int", "hold episodes (one per fraction or repeat dose held)"),
    Column("held_h", "float", "hours held, summed over the fractions"),
    Column("stopped", "bool", "the protocol was stopped by a rule"),
    Column("last_fraction_after_first_h", "float", "hours from the first to the last fraction"),
    Column("crs_max_grade", "int", "worst CRS grade (ASTCT)"),
    Column("icans_max_grade", "int", "worst ICANS grade (ASTCT)"),
    Column("iec_hs_max_grade", "int", "worst IEC-HS grade"),
    Column("gvhd_max_grade", "int", "worst GVHD grade"),
    Column("crs_onset_day", "float", "days from the first infusion to CRS onset"),
    Column("crs_duration_days", "float", "duration of the first CRS episode, days"),
    Column("tocilizumab_given", "bool", "tocilizumab given at least once"),
    Column("steroids_given", "bool", "corticosteroids given for CRS or ICANS"),
    Column("response", "str", "response at the assessment"),
    Column("cr", "bool", "complete remission at the assessment"),
    Column("cr_mrd_negative", "bool", "MRD-negative complete remission"),
    Column("efs_days", "float", "event-free survival time from the first infusion, days"),
    Column("efs_event", "bool", "EFS event (relapse, death, no remission); false = censored"),
    Column("os_days", "float", "overall survival time from the first infusion, days"),
    Column("os_event", "bool", "death; false = censored"),
    Column("overall_response", "bool", "complete remission at any response assessment"),
    Column("cr_at", "str", "JSON object: response assessment day -> in complete remission"),
    Column(
        "rfs_days", "float", "relapse-free survival from the main assessment, days (responders)"
    ),
    Column("rfs_event", "bool", "RFS event (relapse or death); empty if not a responder"),
    Column("nrm_day", "float", "day of a death with no relapse before it (non-relapse)"),
    Column("relapse_day", "float", "days from the first infusion to relapse"),
    Column("alive_end_day", "float", "end of follow-up of a patient alive at the end, days"),
    Column("icans_onset_day", "float", "days from the first infusion to ICANS onset"),
    Column("gvhd_grade1_day", "float", "days from the first infusion to GVHD grade >= I"),
    Column("gvhd_grade2_day", "float", "days from the first infusion to GVHD grade >= II"),
    Column("gvhd_grade3_day", "float", "days from the first infusion to GVHD grade >= III"),
    Column("peak_copies", "float", "expansion peak, copies/ug"),
    Column("peak_day", "float", "days from the first infusion to the expansion peak"),
    Column("auc_0_28", "float", "expansion AUC over days 0-28, copies/ug x day"),
    Column("persistence_days", "float", "days from the first infusion until below the LLOQ"),
    Column("fold_expansion", "float", "peak over the copies seeded by the doses"),
)

PATIENT_COLUMNS: tuple[Column, ...] = (
    Column("protocol", "str", "protocol id"),
    Column("patient", "int", "virtual patient index (same person in every arm)"),
    *COVARIATE_COLUMNS,
    *OUTCOME_COLUMNS,
)

_COVARIATES = tuple(c.name for c in COVARIATE_COLUMNS)
_OUTCOMES = frozenset(c.name for c in OUTCOME_COLUMNS)
# keys that sim.cohort.run_patient adds to an outcome row; they repeat the patient's
_REPEATED = frozenset({"patient", *_COVARIATES})


@overload
def patient_row(row: Mapping[str, Any], /) -> dict[str, Any]: ...


@overload
def patient_row(
    protocol_id: str, index: int | None, patient: Patient, outcome_row: Mapping[str, Any], /
) -> dict[str, Any]: ...


def patient_row(
    first: str | Mapping[str, Any],
    index: int | None = None,
    patient: Patient | None = None,
    outcome_row: Mapping[str, Any] | None = None,
    /,
) -> dict[str, Any]:
    """The table row of one patient, checked against :data:`PATIENT_COLUMNS`.

    Either ``patient_row(protocol_id, index, patient, outcome_row)``: covariates from the
    :class:`Patient`, outcomes from a :func:`sim.outcomes.patient_outcomes` row (or a
    :func:`sim.cohort.run_patient` row); or ``patient_row(row)`` with one flat row holding
    ``protocol``, ``patient``, the covariates and the outcomes (as kept by
    :func:`sim.cohort.run_chunk`). A field the table does not know, or a missing outcome,
    is an error (a bug: add the column here and in ``docs/exports.md``).
    """
    if isinstance(first, str):
        if patient is None or outcome_row is None:
            raise TypeError("patient_row(protocol_id, index, patient, outcome_row)")
        covariates = patient.model_dump()
        unknown_covariates = sorted(set(covariates) - set(_COVARIATES))
        if unknown_covariates:
            raise ValueError(f"patient covariates without a column: {unknown_covariates}")
        if "patient" in outcome_row and outcome_row["patient"] != index:
            raise ValueError(f"outcome row of patient {outcome_row['patient']}, not {index}")
        protocol_id, outcomes = first, outcome_row
    else:
        flat = first
        protocol_id, index = flat["protocol"], flat["patient"]
        covariates = {k: flat[k] for k in _COVARIATES}
        outcomes = {k: v for k, v in flat.items() if k not in ("protocol", "patient")}
    unknown = sorted(set(outcomes) - _OUTCOMES - _REPEATED)
    if unknown:
        raise ValueError(
            f"outcome fields without a column in the patient table: {unknown} "
            "(add them to sim/exports/patients.py and docs/exports.md)"
        )
    absent = sorted(_OUTCOMES - set(outcomes))
    if absent:
        raise ValueError(f"outcome row without {absent}")
    row: dict[str, Any] = {"protocol": protocol_id, "patient": index}
    row.update((name, covariates[name]) for name in _COVARIATES)
    row.update((c.name, outcomes[c.name]) for c in OUTCOME_COLUMNS)
    row["cr_at"] = json.dumps({str(k): v for k, v in sorted(outcomes["cr_at"].items())})
    return row
