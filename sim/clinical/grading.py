"""ASTCT consensus grading of CRS and ICANS (research and teaching use only, not clinical advice).

Source: Lee DW, Santomasso BD, Locke FL, et al. ASTCT Consensus Grading for Cytokine Release
Syndrome and Neurologic Toxicity Associated with Immune Effector Cells. Biol Blood Marrow
Transplant 2019;25(4):625-638, doi:10.1016/j.bbmt.2018.12.758: the "ASTCT CRS consensus
grading" table and the "ASTCT ICANS consensus grading for adults" table, with their notes.

Scope and limits:

- Every sign passed in must already be judged attributable to the immune-effector cell therapy.
  ASTCT grades fever, hypotension, hypoxia and neurological signs only when they are not
  explained by another cause (for example infection, sedating drugs, intracranial haemorrhage).
- Grade 5 (death from CRS or ICANS) cannot be derived from signs and is never returned.
- Organ toxicities are graded with CTCAE and do not change the CRS grade. Tremor and myoclonus
  do not change the ICANS grade.
- The ICE score (Immune effector Cell-associated Encephalopathy, 10 points) is for adults and
  children aged 12 years or more. Younger children (and older patients with developmental
  delay) are assessed with the Cornell Assessment of Pediatric Delirium (CAPD, 0-32 points):
  the ASTCT paediatric ICANS table grades CAPD 1-8 as grade 1 or 2 (the level of
  consciousness tells them apart: awakens spontaneously 1, to voice 2), CAPD >= 9 as grade 3,
  and "unable to perform CAPD" as grade 4 (it comes from the consciousness domain, as ICE 0 in
  an unarousable patient does). Lee et al. 2019, paediatric ICANS table; summarised in
  MDedge, "Group proposes new grading systems for CRS, neurotoxicity" (2018). Secondary
  sources differ on whether a child of exactly 12 uses ICE or CAPD; cartsim uses CAPD under 12.
"""

from __future__ import annotations

import math
from typing import Final, Literal

Hypotension = Literal["none", "fluids", "one_vasopressor", "multiple_vasopressors"]
"""SBP < 90 mmHg in adults. ``fluids``: not requiring vasopressors; ``one_vasopressor``: one
vasopressor with or without vasopressin; ``multiple_vasopressors``: several, excluding
vasopressin."""

Oxygen = Literal["room_air", "low_flow", "high_flow", "positive_pressure"]
"""``low_flow``: nasal cannula <= 6 L/min or blow-by; ``high_flow``: nasal cannula > 6 L/min,
facemask, non-rebreather or Venturi mask; ``positive_pressure``: CPAP, BiPAP, intubation and
mechanical ventilation."""

Consciousness = Literal[
    "alert", "awakens_spontaneously", "awakens_to_voice", "awakens_to_touch", "unarousable"
]
"""``unarousable`` also covers: needs vigorous or repetitive tactile stimuli to arouse, stupor,
coma."""

Seizure = Literal["none", "resolves_rapidly", "prolonged"]
"""``resolves_rapidly``: any clinical seizure, focal or generalised, that resolves rapidly, or
non-convulsive seizures on EEG that resolve with intervention. ``prolonged``: life-threatening
prolonged seizure (> 5 min), or repetitive clinical or electrical seizures without return to
baseline in between."""

CerebralOedema = Literal["none", "focal", "diffuse"]
"""``focal``: focal/local oedema on neuroimaging. ``diffuse``: diffuse cerebral oedema on
neuroimaging, or decerebrate/decorticate posturing, cranial nerve VI palsy, papilloedema or
Cushing's triad."""

HYPOTENSION_LEVELS: Final[tuple[Hypotension, ...]] = (
    "none",
    "fluids",
    "one_vasopressor",
    "multiple_vasopressors",
)
OXYGEN_LEVELS: Final[tuple[Oxygen, ...]] = (
    "room_air",
    "low_flow",
    "high_flow",
    "positive_pressure",
)
CONSCIOUSNESS_LEVELS: Final[tuple[Consciousness, ...]] = (
    "alert",
    "awakens_spontaneously",
    "awakens_to_voice",
    "awakens_to_touch",
    "unarousable",
)
SEIZURE_LEVELS: Final[tuple[Seizure, ...]] = ("none", "resolves_rapidly", "prolonged")
CEREBRAL_OEDEMA_LEVELS: Final[tuple[CerebralOedema, ...]] = ("none", "focal", "diffuse")

FEVER_THRESHOLD_C: Final[float] = 38.0
"""ASTCT fever: temperature >= 38.0 °C not attributable to any other cause."""

# Grade tier of each level, and the plain-English wording used in the reasons.
_HYPOTENSION: Final[dict[str, tuple[int, str]]] = {
    "none": (0, "no hypotension"),
    "fluids": (2, "hypotension not needing vasopressors"),
    "one_vasopressor": (3, "hypotension needing one vasopressor (with or without vasopressin)"),
    "multiple_vasopressors": (4, "hypotension needing several vasopressors (not vasopressin)"),
}
_OXYGEN: Final[dict[str, tuple[int, str]]] = {
    "room_air": (0, "no oxygen need"),
    "low_flow": (2, "hypoxia needing low-flow oxygen (nasal cannula <= 6 L/min or blow-by)"),
    "high_flow": (3, "hypoxia needing high-flow oxygen (> 6 L/min, facemask or Venturi)"),
    "positive_pressure": (4, "hypoxia needing positive pressure (CPAP, BiPAP or ventilation)"),
}
_CONSCIOUSNESS: Final[dict[str, tuple[int, str]]] = {
    "alert": (0, "alert"),
    "awakens_spontaneously": (1, "depressed consciousness, awakens spontaneously"),
    "awakens_to_voice": (2, "depressed consciousness, awakens to voice"),
    "awakens_to_touch": (3, "depressed consciousness, awakens only to touch"),
    "unarousable": (4, "unarousable (or needs vigorous stimuli), stupor or coma"),
}
_SEIZURE: Final[dict[str, tuple[int, str]]] = {
    "none": (0, "no seizure"),
    "resolves_rapidly": (3, "seizure that resolved rapidly"),
    "prolonged": (4, "prolonged (> 5 min) or repetitive seizures"),
}
_OEDEMA: Final[dict[str, tuple[int, str]]] = {
    "none": (0, "no cerebral oedema"),
    "focal": (3, "focal cerebral oedema on imaging"),
    "diffuse": (4, "diffuse cerebral oedema or signs of raised intracranial pressure"),
}


def _lookup(table: dict[str, tuple[int, str]], value: str, name: str) -> tuple[int, str]:
    if value not in table:
        raise ValueError(f"unknown {name} level {value!r}; allowed: {tuple(table)}")
    return table[value]


def crs_grade(
    temperature_c: float | None,
    hypotension: Hypotension = "none",
    oxygen: Oxygen = "room_air",
    fever_masked: bool = False,
) -> int:
    """Return the ASTCT CRS grade, 0-4 (Lee et al. 2019, CRS consensus grading).

    Fever (``temperature_c`` >= 38.0 °C) is required for CRS; without it (and not masked) the
    grade is 0 whatever the hypotension or hypoxia. Fever alone is grade 1. Otherwise the grade is
    the worse of the hypotension and hypoxia tiers: for example fever + one vasopressor +
    low-flow nasal cannula is grade 3.

    ``fever_masked`` means antipyretic or anti-cytokine therapy (for example tocilizumab or
    steroids) has been given, so fever is no longer required: the grade then follows hypotension
    and hypoxia only (0 if there is neither, unless a fever is still present).
    ``temperature_c=None`` means no temperature recorded, treated as no fever.
    """
    return crs_grade_reason(temperature_c, hypotension, oxygen, fever_masked)[0]


def crs_grade_reason(
    temperature_c: float | None,
    hypotension: Hypotension = "none",
    oxygen: Oxygen = "room_air",
    fever_masked: bool = False,
) -> tuple[int, str]:
    """Return ``(grade, reason)``; same rules as :func:`crs_grade`, reason in plain English."""
    if temperature_c is not None and not math.isfinite(temperature_c):
        raise ValueError(f"temperature_c must be a finite number or None, got {temperature_c!r}")
    bp_tier, bp_text = _lookup(_HYPOTENSION, hypotension, "hypotension")
    o2_tier, o2_text = _lookup(_OXYGEN, oxygen, "oxygen")
    worst = max(bp_tier, o2_tier)
    signs_text = " and ".join(
        text for tier, text in ((bp_tier, bp_text), (o2_tier, o2_text)) if tier > 0
    )
    if bp_tier > 0 and o2_tier > 0 and bp_tier != o2_tier:
        signs_text += "; the worse sign sets the grade"

    if temperature_c is not None and temperature_c >= FEVER_THRESHOLD_C:
        lead = f"fever {temperature_c:.1f} °C"
        if worst == 0:
            return 1, f"grade 1: {lead} without hypotension or hypoxia"
        return worst, f"grade {worst}: {lead} with {signs_text}"
    if fever_masked:
        if worst == 0:
            return 0, "grade 0: fever masked by therapy and no hypotension or hypoxia"
        lead = "fever masked by antipyretic or anti-cytokine therapy, so graded on"
        return worst, f"grade {worst}: {lead} {signs_text}"
    reason = "grade 0: no fever (38.0 °C or more is required for CRS)"
    if worst > 0:
        reason += "; hypotension or hypoxia without fever is not graded as CRS"
    return 0, reason


def ice_domain_grade(ice_score: int) -> int:
    """Return the ICANS grade of the ICE-score domain alone (Lee et al. 2019, ICANS grading).

    ICE 10 -> 0; 7-9 -> 1; 3-6 -> 2; 0-2 -> 3. ICE 0 in an awake patient (for example global
    aphasia) is grade 3; ICE 0 because the patient is unarousable is grade 4, and that grade comes
    from the consciousness domain (see :func:`icans_grade`). Raises ``ValueError`` outside 0-10.
    """
    if isinstance(ice_score, bool) or not isinstance(ice_score, int):
        raise TypeError(f"ice_score must be an int, got {ice_score!r}")
    if not 0 <= ice_score <= 10:
        raise ValueError(f"ICE score must be 0-10, got {ice_score}")
    if ice_score == 10:
        return 0
    if ice_score >= 7:
        return 1
    if ice_score >= 3:
        return 2
    return 3


def capd_domain_grade(capd_score: int) -> int:
    """Return the ICANS grade of the CAPD domain alone (children under 12; ASTCT paediatric
    table): CAPD 0 -> 0; 1-8 -> 1 (grade 1 or 2, set by consciousness); >= 9 -> 3. Raises
    ``ValueError`` outside 0-32."""
    if isinstance(capd_score, bool) or not isinstance(capd_score, int):
        raise TypeError(f"capd_score must be an int, got {capd_score!r}")
    if not 0 <= capd_score <= 32:
        raise ValueError(f"CAPD score must be 0-32, got {capd_score}")
    if capd_score == 0:
        return 0
    return 1 if capd_score < 9 else 3


def icans_grade(
    ice_score: int | None = None,
    consciousness: Consciousness = "alert",
    seizure: Seizure = "none",
    motor_weakness: bool = False,
    cerebral_oedema: CerebralOedema = "none",
    capd_score: int | None = None,
) -> int:
    """Return the ASTCT ICANS grade (ICE-based, age >= 12), 0-4 (Lee et al. 2019).

    The grade is that of the most severe domain: ICE score (see :func:`ice_domain_grade`);
    depressed consciousness (awakens spontaneously 1, to voice 2, only to touch 3, unarousable 4);
    seizure (resolves rapidly 3, prolonged or repetitive 4); motor findings (deep focal motor
    weakness such as hemiparesis or paraparesis, ``motor_weakness=True``: 4); raised intracranial
    pressure / cerebral oedema (focal 3, diffuse 4). ``ice_score=None`` means not assessed (for
    example the patient is unarousable) and contributes 0 by itself. For children under 12 give
    ``capd_score`` instead of ``ice_score`` (see :func:`capd_domain_grade`).
    """
    return icans_grade_reason(
        ice_score, consciousness, seizure, motor_weakness, cerebral_oedema, capd_score
    )[0]


def icans_grade_reason(
    ice_score: int | None = None,
    consciousness: Consciousness = "alert",
    seizure: Seizure = "none",
    motor_weakness: bool = False,
    cerebral_oedema: CerebralOedema = "none",
    capd_score: int | None = None,
) -> tuple[int, str]:
    """Return ``(grade, reason)``; same rules as :func:`icans_grade`, reason in plain English."""
    domains: list[tuple[int, str]] = []
    if ice_score is not None:
        ice_tier = ice_domain_grade(ice_score)
        domains.append((ice_tier, f"ICE score {ice_score}/10"))
    if capd_score is not None:
        domains.append((capd_domain_grade(capd_score), f"CAPD score {capd_score}"))
    domains.append(_lookup(_CONSCIOUSNESS, consciousness, "consciousness"))
    domains.append(_lookup(_SEIZURE, seizure, "seizure"))
    domains.append((4, "deep focal motor weakness") if motor_weakness else (0, ""))
    domains.append(_lookup(_OEDEMA, cerebral_oedema, "cerebral_oedema"))

    grade = max(tier for tier, _ in domains)
    if grade == 0:
        ice_text = "ICE score 10/10" if ice_score is not None else "ICE not assessed"
        if capd_score is not None:
            ice_text = "CAPD score 0"
        return 0, f"grade 0: {ice_text} and no other neurological signs"
    worst = [text for tier, text in domains if tier == grade]
    reason = f"grade {grade}: " + "; ".join(worst)
    if sum(1 for tier, _ in domains if tier > 0) > 1:
        reason += " (the most severe domain sets the grade)"
    return grade, reason
