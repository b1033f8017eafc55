"""Tier boundaries of the ASTCT CRS and ICANS grading (Lee et al. BBMT 2019;25:625-638)."""

from __future__ import annotations

from typing import get_args

import pytest

from sim.clinical.grading import (
    CEREBRAL_OEDEMA_LEVELS,
    CONSCIOUSNESS_LEVELS,
    FEVER_THRESHOLD_C,
    HYPOTENSION_LEVELS,
    OXYGEN_LEVELS,
    SEIZURE_LEVELS,
    CerebralOedema,
    Consciousness,
    Hypotension,
    Oxygen,
    Seizure,
    crs_grade,
    crs_grade_reason,
    icans_grade,
    icans_grade_reason,
    ice_domain_grade,
)


def test_level_tuples_match_literals() -> None:
    assert get_args(Hypotension) == HYPOTENSION_LEVELS
    assert get_args(Oxygen) == OXYGEN_LEVELS
    assert get_args(Consciousness) == CONSCIOUSNESS_LEVELS
    assert get_args(Seizure) == SEIZURE_LEVELS
    assert get_args(CerebralOedema) == CEREBRAL_OEDEMA_LEVELS
    assert FEVER_THRESHOLD_C == 38.0


# --- CRS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hypotension", "expected"),
    [("none", 1), ("fluids", 2), ("one_vasopressor", 3), ("multiple_vasopressors", 4)],
)
def test_crs_hypotension_rows(hypotension: Hypotension, expected: int) -> None:
    assert crs_grade(38.5, hypotension=hypotension) == expected


@pytest.mark.parametrize(
    ("oxygen", "expected"),
    [("room_air", 1), ("low_flow", 2), ("high_flow", 3), ("positive_pressure", 4)],
)
def test_crs_hypoxia_rows(oxygen: Oxygen, expected: int) -> None:
    assert crs_grade(38.5, oxygen=oxygen) == expected


def test_crs_worse_of_hypotension_and_hypoxia() -> None:
    # Worked example in the ASTCT notes: fever + one vasopressor + low-flow nasal cannula = 3.
    assert crs_grade(39.5, "one_vasopressor", "low_flow") == 3
    assert crs_grade(39.5, "fluids", "positive_pressure") == 4
    assert crs_grade(39.5, "multiple_vasopressors", "high_flow") == 4
    assert crs_grade(39.5, "fluids", "low_flow") == 2


@pytest.mark.parametrize(
    ("temperature", "expected"), [(37.9, 0), (37.99, 0), (38.0, 1), (38.1, 1), (None, 0)]
)
def test_crs_fever_threshold(temperature: float | None, expected: int) -> None:
    assert crs_grade(temperature) == expected


@pytest.mark.parametrize("hypotension", HYPOTENSION_LEVELS)
@pytest.mark.parametrize("oxygen", OXYGEN_LEVELS)
def test_crs_no_fever_is_grade_0(hypotension: Hypotension, oxygen: Oxygen) -> None:
    assert crs_grade(37.9, hypotension, oxygen) == 0
    assert crs_grade(None, hypotension, oxygen) == 0


@pytest.mark.parametrize(
    ("hypotension", "oxygen", "expected"),
    [
        ("none", "room_air", 0),
        ("fluids", "room_air", 2),
        ("none", "low_flow", 2),
        ("one_vasopressor", "room_air", 3),
        ("none", "high_flow", 3),
        ("multiple_vasopressors", "room_air", 4),
        ("none", "positive_pressure", 4),
        ("one_vasopressor", "low_flow", 3),
    ],
)
def test_crs_masked_fever_follows_hypotension_and_hypoxia(
    hypotension: Hypotension, oxygen: Oxygen, expected: int
) -> None:
    assert crs_grade(36.8, hypotension, oxygen, fever_masked=True) == expected
    assert crs_grade(None, hypotension, oxygen, fever_masked=True) == expected


def test_crs_masked_but_still_febrile_is_at_least_grade_1() -> None:
    assert crs_grade(38.2, fever_masked=True) == 1
    assert crs_grade(38.2, "fluids", fever_masked=True) == 2


def test_crs_reason_texts() -> None:
    assert crs_grade_reason(38.6, "fluids") == (
        2,
        "grade 2: fever 38.6 °C with hypotension not needing vasopressors",
    )
    assert crs_grade_reason(37.9) == (0, "grade 0: no fever (38.0 °C or more is required for CRS)")
    grade, reason = crs_grade_reason(39.5, "one_vasopressor", "low_flow")
    assert grade == 3
    assert reason.startswith("grade 3: fever 39.5 °C")
    assert "worse sign sets the grade" in reason
    grade, reason = crs_grade_reason(37.0, "fluids", fever_masked=True)
    assert grade == 2
    assert "masked" in reason
    assert crs_grade_reason(38.0)[1] == "grade 1: fever 38.0 °C without hypotension or hypoxia"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature_c": 38.5, "hypotension": "shock"},
        {"temperature_c": 38.5, "oxygen": "nasal"},
        {"temperature_c": float("nan")},
        {"temperature_c": float("inf")},
    ],
)
def test_crs_rejects_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        crs_grade(**kwargs)  # type: ignore[arg-type]


# --- ICANS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ice", "expected"),
    [(10, 0), (9, 1), (8, 1), (7, 1), (6, 2), (5, 2), (4, 2), (3, 2), (2, 3), (1, 3), (0, 3)],
)
def test_ice_domain_boundaries(ice: int, expected: int) -> None:
    assert ice_domain_grade(ice) == expected
    assert icans_grade(ice) == expected


@pytest.mark.parametrize("ice", [-1, 11, 100])
def test_ice_out_of_range_raises(ice: int) -> None:
    with pytest.raises(ValueError):
        ice_domain_grade(ice)
    with pytest.raises(ValueError):
        icans_grade(ice)


def test_ice_zero_awake_is_3_but_unarousable_is_4() -> None:
    assert icans_grade(0, consciousness="alert") == 3
    assert icans_grade(0, consciousness="unarousable") == 4
    assert icans_grade(None, consciousness="unarousable") == 4


@pytest.mark.parametrize(
    ("consciousness", "expected"),
    [
        ("alert", 0),
        ("awakens_spontaneously", 1),
        ("awakens_to_voice", 2),
        ("awakens_to_touch", 3),
        ("unarousable", 4),
    ],
)
def test_icans_consciousness_domain(consciousness: Consciousness, expected: int) -> None:
    assert icans_grade(consciousness=consciousness) == expected
    assert icans_grade(10, consciousness=consciousness) == expected


@pytest.mark.parametrize(
    ("seizure", "expected"), [("none", 0), ("resolves_rapidly", 3), ("prolonged", 4)]
)
def test_icans_seizure_domain(seizure: Seizure, expected: int) -> None:
    assert icans_grade(10, seizure=seizure) == expected


def test_icans_motor_domain() -> None:
    assert icans_grade(10, motor_weakness=False) == 0
    assert icans_grade(10, motor_weakness=True) == 4


@pytest.mark.parametrize(("oedema", "expected"), [("none", 0), ("focal", 3), ("diffuse", 4)])
def test_icans_oedema_domain(oedema: CerebralOedema, expected: int) -> None:
    assert icans_grade(10, cerebral_oedema=oedema) == expected


def test_icans_not_assessed_ice_contributes_nothing() -> None:
    assert icans_grade() == 0
    assert icans_grade(None) == 0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # ASTCT note: ICE 3 with a generalised seizure is grade 3.
        ({"ice_score": 3, "seizure": "resolves_rapidly"}, 3),
        ({"ice_score": 8, "consciousness": "awakens_to_voice"}, 2),
        ({"ice_score": 5, "consciousness": "awakens_spontaneously"}, 2),
        ({"ice_score": 9, "cerebral_oedema": "focal"}, 3),
        ({"ice_score": 9, "seizure": "resolves_rapidly", "cerebral_oedema": "diffuse"}, 4),
        ({"ice_score": 2, "consciousness": "awakens_to_voice", "motor_weakness": True}, 4),
        ({"ice_score": 7, "consciousness": "awakens_to_touch", "seizure": "none"}, 3),
    ],
)
def test_icans_is_most_severe_domain(kwargs: dict[str, object], expected: int) -> None:
    assert icans_grade(**kwargs) == expected  # type: ignore[arg-type]


def test_icans_reason_texts() -> None:
    assert icans_grade_reason(10) == (0, "grade 0: ICE score 10/10 and no other neurological signs")
    assert icans_grade_reason(2) == (3, "grade 3: ICE score 2/10")
    grade, reason = icans_grade_reason(3, seizure="resolves_rapidly")
    assert grade == 3
    assert "seizure" in reason
    assert "most severe domain" in reason
    grade, reason = icans_grade_reason(None, consciousness="unarousable")
    assert grade == 4
    assert "unarousable" in reason


@pytest.mark.parametrize(
    "kwargs",
    [{"consciousness": "drowsy"}, {"seizure": "status"}, {"cerebral_oedema": "mild"}],
)
def test_icans_rejects_unknown_levels(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        icans_grade(**kwargs)  # type: ignore[arg-type]


def test_capd_domain_follows_the_astct_paediatric_table() -> None:
    from sim.clinical.grading import capd_domain_grade

    assert [capd_domain_grade(s) for s in (0, 1, 8, 9, 32)] == [0, 1, 1, 3, 3]
    with pytest.raises(ValueError):
        capd_domain_grade(33)
    # CAPD 1-8 is grade 1 or 2: consciousness tells them apart
    assert icans_grade(capd_score=6) == 1
    assert icans_grade(capd_score=6, consciousness="awakens_to_voice") == 2
    assert icans_grade(capd_score=12) == 3
    assert icans_grade(consciousness="unarousable") == 4
