"""Endpoints computed from the event log (issue 15, item 1), each checked on scripted
patients with a known answer: non-relapse mortality at day D, CRS/ICANS onset after
day D, relapse-free survival, acute GVHD grade I-IV / II-IV / III-IV by day D, overall
response and response at every assessment day a protocol lists."""

from __future__ import annotations

from typing import Any

import pytest

from sim.calibration import load_targets
from sim.errors import InputError
from sim.outcomes import patient_outcomes
from sim.records import Event, make_event
from sim.stats import wilson
from sim.tally import METRICS, ArmTally, day_endpoint, known_endpoint
from tests.factories import BASE, protocol, run

FOLLOW_UP = {"response_day": 28, "assessment_days": [100], "horizon_day": 500}


def remission(day: int, hours: float | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": "remission",
        "start": {"day": day},
        "set": {"in_remission": True, "mrd_positive": False},
    }
    return {**step, "hours": hours} if hours else step


def gvhd(day: int, grade: int) -> dict[str, Any]:
    return {"name": f"gvhd {grade}", "start": {"day": day}, "set": {"gvhd_grade": grade}}


def scripted_arm() -> ArmTally:
    p = protocol(fractions=[BASE["fractions"][0]], follow_up=FOLLOW_UP)
    crs = {"name": "crs", "set": {"crs_grade": 1}, "hours": 48}
    patients = [
        # 1: CRS from day 9, CR at day 28 and 100, GVHD II on day 50 and III on day 120
        [{**crs, "start": {"day": 9}}, remission(20), gvhd(50, 2), gvhd(120, 3)],
        # 2: CRS from day 2 and ICANS from day 8; no CR at day 28, CR from day 60
        [
            {**crs, "start": {"day": 2}},
            {"name": "icans", "start": {"day": 8}, "set": {"icans_grade": 1}, "hours": 24},
            remission(60),
        ],
        # 3: CR at day 28, GVHD I on day 30, relapse on day 200
        [
            remission(20, hours=180 * 24),
            gvhd(30, 1),
            {"name": "relapse", "start": {"day": 200}, "set": {"relapse": True}},
        ],
        # 4: nothing at all
        [],
    ]
    arm = ArmTally()
    for episodes in patients:
        arm.add(patient_outcomes(run(p, *episodes).events))
    return arm


ARM = scripted_arm()


@pytest.mark.parametrize(
    ("slug", "count", "n"),
    [
        ("crs_onset_after_d7_rate", 1, 4),  # patient 1 (day 9); patient 2 began on day 2
        ("crs_onset_after_d14_rate", 0, 4),
        ("icans_onset_after_d7_rate", 1, 4),  # patient 2, day 8
        ("agvhd_grade1plus_d100_rate", 2, 4),  # patients 1 (day 50) and 3 (day 30)
        ("agvhd_grade2plus_d100_rate", 1, 4),  # patient 1
        ("agvhd_grade3plus_d100_rate", 0, 4),  # patient 1's grade III comes on day 120
        ("agvhd_grade3plus_d150_rate", 1, 4),
        ("agvhd_grade2plus_d40_rate", 0, 4),
        ("response_d28_rate", 2, 4),  # patients 1 and 3
        ("response_d100_rate", 3, 4),  # patients 1, 2 (CR from day 60) and 3
        ("overall_response_rate", 3, 4),
        ("nrm_d100", 0, 4),  # nobody dies in a script
    ],
)
def test_rates_on_scripted_patients(slug: str, count: int, n: int) -> None:
    assert ARM.endpoint(slug) == wilson(count, n)


def test_relapse_free_survival_counts_responders_from_the_assessment() -> None:
    metrics = ARM.metrics()
    rfs = metrics["rfs_12m"]
    assert rfs.n == 2  # patients 1 and 3 were in CR at the day-28 assessment
    assert rfs.value == pytest.approx(0.5)  # patient 3 relapses 172 days after it
    assert metrics["efs_12m"].n == 4  # EFS counts everyone, from the first infusion


def test_a_day_beyond_the_follow_up_and_a_day_without_an_assessment_have_no_value() -> None:
    beyond = ARM.endpoint("nrm_d600")
    assert beyond.value is None and "beyond the follow-up" in beyond.method
    unassessed = ARM.endpoint("response_d60_rate")
    assert unassessed.value is None and unassessed.n == 0


def _log(*items: tuple[float, str, dict[str, Any]]) -> list[Event]:
    infusion = {
        "fraction": "F1",
        "phase": "fraction",
        "cells": 7e6,
        "cells_per_kg": 1e5,
        "planned_cells": 7e6,
        "carried_in_cells": 0.0,
        "dose_level": 1.0,
    }
    events = [make_event(10.0, "infusion", infusion)]
    events += [make_event(t, kind, data) for t, kind, data in items]
    return events


def test_non_relapse_mortality_counts_deaths_without_a_relapse_before_them() -> None:
    day = 24.0
    relapse = {"variable": "relapse", "old": False, "new": True, "cause": "script"}
    logs = [
        _log((50 * day, "death", {"cause": "infection"}), (50 * day, "end", {"reason": "death"})),
        _log(
            (30 * day, "state_change", relapse),
            (60 * day, "death", {"cause": "leukaemia"}),
            (60 * day, "end", {"reason": "death"}),
        ),
        _log((366 * day, "end", {"reason": "end of follow-up"})),
    ]
    arm = ArmTally()
    for events in logs:
        arm.add(patient_outcomes(events))
    assert arm.endpoint("nrm_d40") == wilson(0, 3)
    assert arm.endpoint("nrm_d100") == wilson(1, 3)  # the relapse death is not NRM
    assert arm.endpoint("nrm_d365") == wilson(1, 3)
    assert arm.endpoint("nrm_d367").value is None  # the survivor is followed to day 365.6


def test_every_cohort_reports_the_standard_days_and_any_day_can_be_a_target() -> None:
    for slug in ("nrm_d100", "agvhd_grade2plus_d100_rate", "crs_onset_after_d7_rate"):
        assert slug in METRICS
    assert day_endpoint("nrm_d180") == ("nrm", 180)
    assert known_endpoint("agvhd_grade3plus_d60_rate")
    assert known_endpoint("rfs_12m") and known_endpoint("overall_response_rate")
    assert not known_endpoint("nrm_dx") and not known_endpoint("agvhd_grade4plus_d100_rate")


def test_a_calibration_target_may_name_a_day_endpoint(tmp_path: Any) -> None:
    import yaml

    from sim.calibration import calibrate

    target = {
        "id": "nrm",
        "protocol": "cart19-be-02",
        "population": "adult-rr-ball",
        "endpoint": "nrm_d180",
        "value": 0.05,
        "tolerance": {"abs": 1.0},
        "unit": "fraction",
        "source": "test",
        "status": "V",
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"targets": [target]}), encoding="utf-8")
    targets, base = load_targets(path)
    (row,) = calibrate(targets, base, patients=10)
    assert row["endpoint"] == "nrm_d180" and row["simulated"]["n"] == 10
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"targets": [{**target, "endpoint": "nrm_d"}]}), "utf-8")
    with pytest.raises(InputError, match="unknown endpoint 'nrm_d'"):
        calibrate(*load_targets(bad), patients=10)


def test_assessment_days_are_checked() -> None:
    from sim.spec.checks import check_protocol
    from sim.spec.protocol import Protocol

    p = Protocol.model_validate({**BASE, "follow_up": {**FOLLOW_UP, "assessment_days": [28]}})
    assert any("already the response_day" in text for _, text in check_protocol(p))
