"""The patient-state variables that gate conditions and scenario scripts may name.

This registry is the single list of names: the condition parser rejects any other
name, scenario scripts may set only the ``scriptable`` ones, dose selection may read
only the ``baseline`` ones, and the engine's patient state provides every one of them
(a unit test checks that). Grades follow the ASTCT consensus (Lee et al. 2019) for
CRS and ICANS, Hines et al. 2023 for IEC-HS, and the overall acute GVHD grade 0-IV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["grade", "bool", "number"]


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    kind: Kind
    description: str
    low: float = 0.0
    high: float = 1.0
    default: float | bool = 0
    scriptable: bool = False
    baseline: bool = False


def _grade(name: str, high: int, description: str) -> Variable:
    return Variable(name, "grade", description, 0, high, 0, scriptable=True)


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        _grade("crs_grade", 5, "ASTCT cytokine release syndrome grade (0 none, 5 death)"),
        _grade("icans_grade", 5, "ASTCT ICANS grade (0 none, 5 death)"),
        _grade("iec_hs_grade", 5, "IEC-HS grade (Hines 2023; 0 none)"),
        _grade("gvhd_grade", 4, "overall acute GVHD grade (0 none, I-IV as 1-4)"),
        Variable("temperature_c", "number", "body temperature, degrees C", 30, 45, 37.0, True),
        Variable("fever", "bool", "temperature of 38.0 C or more (derived)", default=False),
        Variable(
            "hypotension",
            "number",
            "CRS hypotension (derived from the signs): 0 none, 1 needing fluids only, "
            "2 one vasopressor, 3 several vasopressors (ASTCT)",
            0,
            3,
            0,
        ),
        Variable(
            "oxygen",
            "number",
            "CRS hypoxia (derived from the signs): 0 room air, 1 low-flow oxygen (<= 6 L/min), "
            "2 high-flow oxygen, 3 positive pressure (ASTCT)",
            0,
            3,
            0,
        ),
        Variable(
            "fever_masked",
            "bool",
            "fever removed by tocilizumab or steroids, so CRS is graded on hypotension and "
            "hypoxia only (derived)",
            default=False,
        ),
        Variable("ice_score", "number", "ICE encephalopathy score (10 = normal)", 0, 10, 10, True),
        Variable(
            "capd_score",
            "number",
            "Cornell Assessment of Pediatric Delirium, children under 12 (0 = normal; 9 or "
            "more = delirium, ICANS grade 3)",
            0,
            32,
            0,
            True,
        ),
        Variable(
            "consciousness",
            "number",
            "ICANS depressed consciousness (derived from the signs): 0 alert, 1 awakens "
            "spontaneously, 2 to voice, 3 only to touch, 4 unarousable",
            0,
            4,
            0,
        ),
        Variable(
            "seizure",
            "number",
            "ICANS seizure (derived from the signs): 0 none, 1 resolved rapidly, 2 prolonged",
            0,
            2,
            0,
        ),
        Variable(
            "motor_weakness",
            "bool",
            "ICANS deep focal motor weakness (derived from the signs)",
            default=False,
        ),
        Variable(
            "cerebral_oedema",
            "number",
            "ICANS raised intracranial pressure (derived from the signs): 0 none, 1 focal "
            "oedema on imaging, 2 diffuse oedema or signs of raised pressure",
            0,
            2,
            0,
        ),
        Variable(
            "tocilizumab_doses",
            "number",
            "tocilizumab doses given so far",
            0,
            100,
            0,
            scriptable=True,
        ),
        Variable(
            "tocilizumab_since_last_dose",
            "number",
            "tocilizumab doses given since the last CAR-T dose (derived)",
            0,
            100,
            0,
        ),
        Variable(
            "steroids_active",
            "bool",
            "corticosteroids being given for CRS or ICANS",
            default=False,
            scriptable=True,
        ),
        Variable(
            "anakinra_active",
            "bool",
            "anakinra being given (IEC-HS, or CRS/ICANS not responding)",
            default=False,
            scriptable=True,
        ),
        Variable(
            "hours_since_crs_resolved",
            "number",
            "hours since CRS last resolved (derived): 0 while CRS is present, 1,000,000 if the "
            "patient has had no CRS",
            0,
            1e6,
            1e6,
        ),
        Variable(
            "active_infection",
            "bool",
            "active (uncontrolled) infection",
            default=False,
            scriptable=True,
        ),
        Variable(
            "severe_cytopenia",
            "bool",
            "grade 3 or higher cytopenia",
            default=False,
            scriptable=True,
        ),
        Variable("relapse", "bool", "relapse detected", default=False, scriptable=True),
        Variable(
            "mrd_positive",
            "bool",
            "measurable residual disease detected",
            default=False,
            scriptable=True,
        ),
        Variable("in_remission", "bool", "in complete remission", default=False, scriptable=True),
        Variable(
            "marrow_blasts_pct",
            "number",
            "bone-marrow blasts, % (current)",
            0,
            100,
            0,
            scriptable=True,
            baseline=True,
        ),
        Variable(
            "crs_max_since_last_dose",
            "grade",
            "worst CRS grade since the last CAR-T dose (derived)",
            0,
            5,
            0,
        ),
        Variable(
            "icans_max_since_last_dose",
            "grade",
            "worst ICANS grade since the last CAR-T dose (derived)",
            0,
            5,
            0,
        ),
        Variable("doses_given", "number", "CAR-T doses given so far (derived)", 0, 1e6, 0),
        Variable("day", "number", "current study day (derived)", -1e6, 1e6, 0),
        Variable("weight_kg", "number", "body weight, kg", 0.5, 400, 70, baseline=True),
        Variable("height_cm", "number", "height, cm", 20, 260, 170, baseline=True),
        Variable("age_y", "number", "age, years", 0, 120, 40, baseline=True),
        Variable(
            "extramedullary_disease",
            "bool",
            "extramedullary disease at baseline",
            default=False,
            baseline=True,
        ),
        Variable("cns_disease", "bool", "CNS disease at baseline", default=False, baseline=True),
        Variable(
            "prior_allo_hct", "bool", "prior allogeneic transplant", default=False, baseline=True
        ),
        Variable(
            "transplant_candidate",
            "bool",
            "eligible and planned for a consolidating transplant",
            default=False,
            baseline=True,
        ),
    )
}

# tuples in registry order: iteration order must not depend on PYTHONHASHSEED
SCRIPTABLE: tuple[str, ...] = tuple(n for n, v in VARIABLES.items() if v.scriptable)
BASELINE: tuple[str, ...] = tuple(n for n, v in VARIABLES.items() if v.baseline)


def describe_range(var: Variable) -> str:
    if var.kind == "bool":
        return "true or false"
    if var.kind == "grade":
        return f"a grade from {var.low:g} to {var.high:g}"
    return f"a number from {var.low:g} to {var.high:g}"


def uses(var: Variable) -> str:
    """Where a file may name the variable: every one in gate conditions."""
    where = ["conditions"]
    if var.baseline:
        where.append("dose selection")
    if var.scriptable:
        where.append("scenario scripts")
    return ", ".join(where)


def variable_record(var: Variable) -> dict[str, object]:
    """The variable as plain data (``cartsim schema --kind variables --json``)."""
    return {
        "kind": var.kind,
        "low": var.low,
        "high": var.high,
        "default": var.default,
        "meaning": var.description,
        "conditions": True,
        "dose_selection": var.baseline,
        "scenario_scripts": var.scriptable,
    }


def variable_lines() -> list[str]:
    """Every variable, one line each: name, range, meaning, and where it may be used."""
    lines = [
        "Patient variables that conditions (gates, repeat dosing, procedures) may name;",
        "dose selection reads only values measured before LD, scenario scripts set only some:",
    ]
    width = max(len(name) for name in VARIABLES)
    for name, var in VARIABLES.items():
        lines.append(f"  {name:<{width}}  {var.description}")
        lines.append(f"  {'':<{width}}  {describe_range(var)}; used in {uses(var)}")
    return lines
