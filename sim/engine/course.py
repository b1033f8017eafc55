"""One patient's course through one protocol: the shared context of a run.

A :class:`Course` owns the SimPy environment, the patient state, the raw event log and
the signals processes wait on (an infusion given, the state changed). Processes
(protocol, follow-up, toxicity sources) are generators that receive the course.

Several courses can share one environment (a clinic: many patients, shared beds). A
course then runs on its own clock: ``origin_h`` is the environment time of the course's
hour 0, so every time in the course and its log is the same as in a run of its own.
Hours in the environment are ``origin_h`` larger and coarser (a float near hour 10,000
has fewer digits after the point); a course woken by one of its own timers therefore
reads back the exact course time the timer was set for, not the environment time minus
``origin_h``. With ``origin_h = 0`` (a run of its own) nothing of this applies.

A course with a ``site`` (the clinic's ward, :class:`Site`) asks it before each CAR-T
dose whether the patient can be infused now; ``on_record`` (if set) sees each event as
it is logged. Both are None in a run of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import simpy
from simpy.events import Event as SimEvent

from sim.engine.clock import At, until
from sim.engine.state import QUIET, Contribution, PatientState
from sim.errors import RunawayError
from sim.records import Event, make_event
from sim.spec.protocol import Protocol as ProtocolSpec
from sim.spec.scenario import Patient

MAX_CHECKS_PER_DOSE = 10_000
NO_CRS_YET_H = 1e6
"""``hours_since_crs_resolved`` of a patient who has had no CRS (its variable's top)."""


class Site(Protocol):
    """Where the patient is treated, when it can keep a dose waiting (a clinic's ward)."""

    def ready(self, label: str) -> tuple[SimEvent, str] | None:
        """None if dose ``label`` can be given now, else an event that fires when it can
        and the reason it cannot be given now."""
        ...


class Course:
    def __init__(
        self,
        env: simpy.Environment,
        protocol: ProtocolSpec,
        patient: Patient,
        origin_h: float = 0.0,
    ) -> None:
        self.env = env
        self.origin_h = origin_h
        self._clock = (float(env.now), float(env.now) - origin_h)  # (env time, course time)
        self.site: Site | None = None
        self.on_record: Callable[[Event], None] | None = None
        self.protocol: ProtocolSpec = protocol
        self.patient = patient
        self.state = PatientState(patient)
        self.log: list[Event] = []
        self.shift_days = 0  # planned-calendar day of the (actual) anchor day, minus anchor
        self.first_infusion_h: float | None = None
        self.first_infusion: SimEvent = env.event()
        self.doses: list[tuple[str, float]] = []  # (fraction or repeat id, time_h)
        self._dose_waiters: list[tuple[Callable[[str, int], bool], SimEvent]] = []
        self._change_waiters: list[SimEvent] = []
        self.checks = 0
        self.models_response = False  # set by a source that models disease response
        self.last_dose_cells_per_kg = 0.0
        self.ld_given = False  # set when a lymphodepleting dose is given
        self.died: SimEvent = env.event()
        self.horizon_day = protocol.follow_up.horizon_day
        self.ended = False  # the run's 'end' is logged: nothing more is
        self.crs_resolved_h: float | None = None  # when CRS last went back to grade 0

    # time -------------------------------------------------------------------------
    @property
    def now(self) -> float:
        if self.origin_h == 0.0:
            return float(self.env.now)
        env_h, course_h = self._clock
        return course_h if self.env.now == env_h else float(self.env.now) - self.origin_h

    def day_start_h(self, study_day: float) -> float:
        """Sim time of 00:00 on ``study_day`` of the (current) calendar."""
        return (study_day + self.shift_days) * 24.0

    def study_day(self, time_h: float | None = None) -> int:
        t = self.now if time_h is None else time_h
        return math.floor(t / 24.0 + 1e-9) - self.shift_days

    def until(self, time_h: float, phase: int) -> At:
        if self.origin_h == 0.0:
            return until(self.env, time_h, phase)
        course_h = max(time_h, self.now)  # a time already past fires now
        timer = until(self.env, time_h + self.origin_h, phase)
        timer.callbacks.append(lambda _: self._tick(course_h))  # runs before any waiter
        return timer

    def _tick(self, course_h: float) -> None:
        """One of this course's timers fired: the course time is the one it was set for."""
        self._clock = (float(self.env.now), course_h)

    # log ----------------------------------------------------------------------------
    def record(self, kind: str, **data: Any) -> None:
        if self.ended:
            return  # what is left at the run's last instant is not part of the run
        event = make_event(self.now, kind, data)
        self.log.append(event)
        self.ended = kind == "end"
        if self.on_record is not None:
            self.on_record(event)

    # state --------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        """What a gate condition reads: every state variable, with ``day`` and
        ``hours_since_crs_resolved`` up to date."""
        self.state.set_bookkeeping("day", self.study_day())
        since = NO_CRS_YET_H
        if self.state["crs_grade"]:
            since = 0.0
        elif self.crs_resolved_h is not None:
            since = self.now - self.crs_resolved_h
        self.state.set_bookkeeping("hours_since_crs_resolved", since)
        return self.state.values

    def contribute(self, key: str, contribution: Contribution | None, cause: str) -> None:
        changes = self.state.contribute(key, contribution)
        for ch in changes:
            if ch.variable == "crs_grade" and ch.new == 0:
                self.crs_resolved_h = self.now
            if ch.variable not in QUIET:
                self.record(
                    "state_change", variable=ch.variable, old=ch.old, new=ch.new, cause=cause
                )
        if changes:
            waiters, self._change_waiters = self._change_waiters, []
            for ev in waiters:
                ev.succeed()

    def state_changed(self) -> SimEvent:
        ev = self.env.event()
        self._change_waiters.append(ev)
        return ev

    # doses --------------------------------------------------------------------------
    def dose_given(self, label: str) -> None:
        """Register a CAR-T dose (after its ``infusion`` event was recorded)."""
        if self.first_infusion_h is None:
            self.first_infusion_h = self.now
            self.shift_days = math.floor(self.now / 24.0 + 1e-9) - self.protocol.calendar.anchor_day
            self.first_infusion.succeed(self.now)
        self.doses.append((label, self.now))
        self.state.dose_given()
        n = len(self.doses)
        keep = []
        for match, ev in self._dose_waiters:
            if match(label, n):
                ev.succeed(self.now)
            else:
                keep.append((match, ev))
        self._dose_waiters = keep

    def die(self, cause: str) -> None:
        """The patient died: the run ends now."""
        if not self.died.triggered:
            self.died.succeed(cause)

    def after_dose(self, match: Callable[[str, int], bool]) -> SimEvent:
        """An event that fires when a dose matching ``match(label, n)`` is given."""
        ev = self.env.event()
        self._dose_waiters.append((match, ev))
        return ev

    def count_check(self, label: str) -> None:
        self.checks += 1
        if self.checks > MAX_CHECKS_PER_DOSE * max(1, len(self.protocol.fractions)):
            raise RunawayError(
                f"{label}: more than {self.checks - 1} gate checks; a delay rule re-checks "
                "without end (is recheck_h tiny or max_wait_h huge?)"
            )
