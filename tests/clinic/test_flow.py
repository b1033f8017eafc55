"""The clinic's promises: conservation, Little's law, the same biology as a run alone,
and queue times computed by hand."""

from __future__ import annotations

from typing import Any

import pytest

from sim.clinic.arrivals import MAX_ATTEMPTS, Referral, referrals
from sim.clinic.flow import Arm
from sim.clinic.replication import ClinicSetup, person, run_arm, run_replication
from sim.clinic.resources import QUEUES
from sim.clinic.spec import Clinic
from sim.clinic.tally import patient_rows, queue_waits
from sim.engine.course import Course
from sim.engine.run import run_course
from sim.engine.virtual_patient import VirtualPatient
from sim.records import shifted
from sim.spec.load import LoadedProtocol
from sim.spec.protocol import Protocol
from tests.clinic.conftest import busy

TERMINAL = ("first_infusion", "died_waiting", "dropped_out")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_referral_is_treated_waiting_dropped_out_or_dead(
    centre: Clinic, arms: list[LoadedProtocol], seed: int
) -> None:
    clinic = busy(centre)
    setup = ClinicSetup.of(clinic, arms, seed, 240)
    refs = referrals(clinic.arrivals, seed, 0, 240)
    people = [person(setup, 0, r)[:2] for r in refs]
    for lp in arms:
        unit = run_arm(setup, Arm(lp.protocol, clinic.protocols[lp.protocol.id]), refs, people)
        ends: dict[int, list[str]] = {}
        for ev in unit.log:
            if ev.kind in TERMINAL or (ev.kind == "course_end" and not ev.data["infused"]):
                ends.setdefault(ev.patient, []).append(ev.kind)
        assert all(len(kinds) == 1 for kinds in ends.values()), ends  # one fate at most
        rows = patient_rows(unit.log, 240 * 24.0)
        counts = {o: sum(r["outcome"] == o for r in rows) for o in ("treated", "died_waiting")}
        assert counts["treated"] == sum(k == ["first_infusion"] for k in ends.values())
        assert counts["died_waiting"] == sum(k == ["died_waiting"] for k in ends.values())
        waiting = sum(r["outcome"] == "waiting" for r in rows)
        assert waiting == len(refs) - len(ends)
        total = sum(
            sum(r["outcome"] == o for r in rows)
            for o in ("treated", "waiting", "dropped_out", "died_waiting")
        )
        assert total == len(refs) == len({r["patient"] for r in rows})


def test_littles_law_holds_for_every_queue(centre: Clinic, arms: list[LoadedProtocol]) -> None:
    """Time-average queue length, sampled hourly from the SimPy resources themselves,
    equals arrival rate x mean wait from the log (both over the same period)."""
    clinic = busy(centre)
    days = 365
    setup = ClinicSetup.of(clinic, arms, 5, days)
    refs = referrals(clinic.arrivals, 5, 0, days)
    people = [person(setup, 0, r)[:2] for r in refs]
    end_h = days * 24.0
    seen_queues = set()
    for lp in arms:
        unit = run_arm(setup, Arm(lp.protocol, clinic.protocols[lp.protocol.id]), refs, people)
        waits = queue_waits(unit.log, end_h)
        for queue in QUEUES:
            sampled = sum(s[f"{queue}_queue"] for s in unit.samples) / len(unit.samples)
            lam_w = sum(b - a for _, a, b in waits[queue]) / end_h  # lambda * W
            if waits[queue]:
                seen_queues.add(queue)
            assert sampled == pytest.approx(lam_w, rel=0.05, abs=0.01), (lp.protocol.id, queue)
    assert {"apheresis", "manufacturing", "ld_chair", "bed"} <= seen_queues


def _events_alone(lp: LoadedProtocol, setup: ClinicSetup, ref: Referral) -> Any:
    patient, latent, cohort, _ = person(setup, 0, ref)
    return run_course(lp.protocol, patient, toxicity=VirtualPatient(cohort.parameters(), latent))


def test_with_ample_resources_every_course_is_the_patient_run_alone(
    centre: Clinic, arms: list[LoadedProtocol]
) -> None:
    clinic = centre.unlimited()
    days = 200
    setup = ClinicSetup.of(clinic, arms, 3, days)
    refs = referrals(clinic.arrivals, 3, 0, days)
    people = [person(setup, 0, r)[:2] for r in refs]
    compared = 0
    for lp in arms:
        unit = run_arm(setup, Arm(lp.protocol, clinic.protocols[lp.protocol.id]), refs, people)
        assert not any(ev.kind == "fraction_held" for ev in unit.log)
        for ref in refs:
            course: Course | None = unit.courses.get(ref.index)
            if course is None or course.first_infusion_h is None:
                continue  # not started, or cut by the end of the period before a dose
            alone = _events_alone(lp, setup, ref).events
            mine = shifted(course.log, course.shift_days * 24.0)
            if course.ended:
                assert mine == alone
            else:  # cut by the end of the period: what happened so far is the same
                assert mine == alone[: len(mine)]
            compared += 1
    assert compared >= 25


def _hand_clinic(centre: Clinic) -> Clinic:
    data = centre.model_dump(mode="json")
    data["apheresis"] = {"slots": 1, "duration_days": 1}
    data["manufacturing"] = {
        "one-slot": {
            "site": "in_house",
            "slots": 1,
            "duration": {"distribution": "fixed", "days": 10},
            "failure_rate": 0.0,
            "transport_days": 0,
        }
    }
    data["waiting"] = {"death_per_month": 0, "progression_per_month": 0}
    data["beds"] = 1
    data["admission"] = {"admit_when": "crs_grade >= 4"}  # never, without toxicity
    data["icu"] = {"admit_when": "crs_grade >= 4"}
    rules = {
        "manufacturing": "one-slot",
        "monitoring": {"setting": "inpatient", "admit_from": "ld", "days_after_last_fraction": 15},
    }
    data["protocols"] = {"one-dose": rules}
    return Clinic.model_validate(data)


ONE_DOSE = {
    "id": "one-dose",
    "title": "one dose, no LD",
    "summary": "one dose",
    "source": {"trial": "none", "citation": "none", "status": "assumed"},
    "product": {"name": "CAR-T", "kind": "autologous"},
    "calendar": {"anchor_day": 0, "infusion_hour": 10},
    "fractions": [{"id": "F1", "day": 0, "dose": {"cells_per_kg": 1e6}}],
    "follow_up": {"visit_days": [], "horizon_day": 28},
}


class NoToxicity:
    def start(self, course: Course) -> None:
        return None


def test_a_small_fixed_case_gives_the_queue_times_worked_out_by_hand(
    centre: Clinic, arms: list[LoadedProtocol]
) -> None:
    """Three patients referred at day 0; apheresis 1 day (1 slot), manufacturing 10 days
    (1 slot), one bed from the midnight after release to 15 days after the dose (10:00 the
    day after the course starts).

    apheresis:      P0 0-1, P1 1-2 (waited 1), P2 2-3 (waited 2)
    manufacturing:  P0 1-11, P1 11-21 (waited 9), P2 21-31 (waited 18)
    bed:            P0 11 -> dose 12.42 -> leaves 27.42 (16.42 bed-days);
                    P1 released 21, waits 6.42 days -> course at 28, dose 29.42, leaves 44.42;
                    P2 released 31, waits 13.42 days -> course at 45, dose 46.42, leaves 61.42
    """
    clinic = _hand_clinic(centre)
    protocol = Protocol.model_validate(ONE_DOSE)
    ones = (0.5,) * MAX_ATTEMPTS
    refs = [Referral(i, 0.0, "adult-rr-ball", ones, ones, 0.9, 1.0, 1.0) for i in range(3)]
    patient = person(ClinicSetup.of(clinic, arms, 0, 80), 0, refs[0])[0]
    setup = ClinicSetup.of(clinic, [], 0, 80)
    unit = run_arm(
        setup,
        Arm(protocol, clinic.protocols["one-dose"]),
        refs,
        [(patient, None)] * 3,  # type: ignore[list-item]
        clinic,
        biology=lambda _: NoToxicity(),
    )
    waits = queue_waits(unit.log, 80 * 24.0)
    days = {q: sorted(round((b - a) / 24.0, 4) for _, a, b in w) for q, w in waits.items()}
    assert days["apheresis"] == [1.0, 2.0]
    assert days["manufacturing"] == [9.0, 18.0]
    assert days["bed"] == [round(6 + 10 / 24, 4), round(13 + 10 / 24, 4)]
    rows = patient_rows(unit.log, 80 * 24.0)
    v2v = [r["vein_to_vein_days"] for r in rows]
    assert v2v == pytest.approx([12 + 10 / 24, 28 + 10 / 24, 44 + 10 / 24])
    assert [r["bed_days"] for r in rows] == pytest.approx([16 + 10 / 24, 17, 17])


def test_replications_do_not_depend_on_each_other(
    centre: Clinic, arms: list[LoadedProtocol]
) -> None:
    setup = ClinicSetup.of(busy(centre), arms, 9, 90)
    alone = run_replication(setup, 1, keep_rows=True)
    again = run_replication(setup, 1, keep_rows=True)
    other = run_replication(setup, 0, keep_rows=True)
    assert alone.rows == again.rows
    assert alone.rows != other.rows


@pytest.mark.parametrize("when_full", ["transfer_out", "wait"])
def test_beds_in_use_never_exceed_the_unit_and_a_full_icu_does_what_the_file_says(
    centre: Clinic, arms: list[LoadedProtocol], when_full: str
) -> None:
    icu = {"admit_when": "crs_grade >= 2 or icans_grade >= 2", "when_full": when_full}
    clinic = busy(centre, icu=icu)
    days = 300
    setup = ClinicSetup.of(clinic, arms, 4, days)
    refs = referrals(clinic.arrivals, 4, 0, days)
    people = [person(setup, 0, r)[:2] for r in refs]
    transfers = icu_waits = 0
    for lp in arms:
        unit = run_arm(setup, Arm(lp.protocol, clinic.protocols[lp.protocol.id]), refs, people)
        ward = icu_used = 0
        for ev in unit.log:
            ward += {"bed_in": 1, "bed_out": -1}.get(ev.kind, 0)
            icu_used += {"icu_in": 1, "icu_out": -1}.get(ev.kind, 0)
            assert 0 <= ward <= clinic.beds and 0 <= icu_used <= clinic.icu_beds
        assert max(s["bed_used"] for s in unit.samples) <= clinic.beds
        transfers += sum(ev.kind == "transfer_out" for ev in unit.log)
        icu_waits += len(queue_waits(unit.log, days * 24.0)["icu"])
        back = sum(ev.kind == "transfer_back" for ev in unit.log)
        assert back <= sum(ev.kind == "transfer_out" for ev in unit.log)
    if when_full == "transfer_out":
        assert transfers > 0 and icu_waits == 0
    else:
        assert transfers == 0 and icu_waits > 0


def test_a_patient_whose_first_fraction_is_skipped_is_treated_at_the_second(
    centre: Clinic, arms: list[LoadedProtocol]
) -> None:
    clinic = _hand_clinic(centre)
    skip_first = {
        **ONE_DOSE,
        "fractions": [
            {
                "id": "F1",
                "day": 0,
                "dose": {"cells_per_kg": 1e5},
                "gate": [{"name": "skip-f1", "when": "doses_given == 0", "action": "skip"}],
            },
            {"id": "F2", "min_interval_h": 24, "dose": {"cells_per_kg": 1e6}},
        ],
    }
    protocol = Protocol.model_validate(skip_first)
    ones = (0.5,) * MAX_ATTEMPTS
    ref = Referral(0, 0.0, "adult-rr-ball", ones, ones, 0.9, 1.0, 1.0)
    patient = person(ClinicSetup.of(clinic, arms, 0, 60), 0, ref)[0]
    unit = run_arm(
        ClinicSetup.of(clinic, [], 0, 60),
        Arm(protocol, clinic.protocols["one-dose"]),
        [ref],
        [(patient, None)],  # type: ignore[list-item]
        clinic,
        biology=lambda _: NoToxicity(),
    )
    (row,) = patient_rows(unit.log, 60 * 24.0)
    assert row["outcome"] == "treated"
    # apheresis day 0, released day 11, course from day 11: F1 skipped day 12, F2 day 13 10:00
    assert row["vein_to_vein_days"] == pytest.approx(13 + 10 / 24)


def test_every_arm_sees_the_same_referrals_and_patients(
    centre: Clinic, arms: list[LoadedProtocol]
) -> None:
    setup = ClinicSetup.of(centre, arms, 11, 120)
    result = run_replication(setup, 2, keep_rows=True)
    first, second = (
        [(r["patient"], r["population"], r["referred_day"]) for r in rows] for rows in result.rows
    )
    assert first == second and len(first) > 5
    assert [r["bridging"] for r in result.rows[0]] == [r["bridging"] for r in result.rows[1]]
    # the central route is slower for the very same patients (same quantiles, longer median)
    v2v = [
        {r["patient"]: r["vein_to_vein_days"] for r in rows if r["outcome"] == "treated"}
        for rows in result.rows
    ]
    both = set(v2v[0]) & set(v2v[1])
    assert both and all(v2v[1][p] > v2v[0][p] for p in both)
