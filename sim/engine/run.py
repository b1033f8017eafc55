"""Run one patient through one protocol: build -> start processes -> run -> result.

The run ends at the end of follow-up, or when the protocol ends before any CAR-T
infusion. A guard stops a run that processes more than ``max_events`` SimPy events.

:func:`start_course` starts a course in an environment that may hold others (a clinic
of many patients, :mod:`sim.clinic`): the course's hour 0 is then at environment time
``origin_h``, and its log reads as in a run of its own (:class:`sim.engine.course.Course`).
:func:`run_course` is the run of its own: a fresh environment with the course alone.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any
from typing import Protocol as TypingProtocol

import simpy

from sim.engine.course import Course
from sim.engine.follow_up import follow_up
from sim.engine.protocol_course import protocol_course
from sim.errors import RunawayError
from sim.records import Event, shifted
from sim.spec.protocol import Protocol
from sim.spec.scenario import Patient

MAX_EVENTS = 1_000_000


class ToxicitySource(TypingProtocol):
    """Anything that changes the patient over time (a script, a stochastic model)."""

    def start(self, course: Course) -> None: ...


@dataclass(frozen=True)
class RunResult:
    protocol: Protocol
    protocol_origin: str
    protocol_hash: str
    patient: Patient
    seed: int
    scenario: str | None
    events: tuple[Event, ...]
    sim_events: int


def _main(c: Course) -> Generator[Any, Any, None]:
    proto = c.env.process(protocol_course(c))
    yield c.first_infusion | proto | c.died
    if c.died.triggered:
        c.record("end", reason="death")
        return
    if c.first_infusion_h is None:
        c.record("end", reason=f"the protocol {proto.value} before any CAR-T infusion")
        return
    follow = c.env.process(follow_up(c))
    yield follow | c.died
    if c.died.triggered:
        c.record("end", reason="death")


def start_time_h(protocol: Protocol) -> float:
    days = [protocol.calendar.anchor_day]
    if protocol.lymphodepletion is not None:
        days += [d for drug in protocol.lymphodepletion.drugs for d in drug.days]
    days += [p.day for p in protocol.procedures]
    return (min(days) - 1) * 24.0


def start_course(
    env: simpy.Environment,
    protocol: Protocol,
    patient: Patient,
    *,
    toxicity: ToxicitySource | None = None,
    origin_h: float = 0.0,
    horizon_day: int | None = None,
) -> tuple[Course, simpy.Process]:
    """Start ``patient``'s course through ``protocol`` now, in ``env``; the course clock
    reads ``env.now - origin_h``. Returns the course and its main process (which ends
    with the course)."""
    course = Course(env, protocol, patient, origin_h)
    if horizon_day is not None:
        course.horizon_day = max(horizon_day, protocol.follow_up.horizon_day)
    if toxicity is not None:
        toxicity.start(course)
    return course, env.process(_main(course))


def run_course(
    protocol: Protocol,
    patient: Patient,
    *,
    toxicity: ToxicitySource | None = None,
    seed: int = 0,
    origin: str = "",
    protocol_hash: str = "",
    scenario: str | None = None,
    max_events: int = MAX_EVENTS,
    horizon_day: int | None = None,
    start_h: float | None = None,
) -> RunResult:
    """Run ``patient`` through ``protocol``; ``start_h`` (sim hours) overrides the start of
    the clock, 00:00 of the day before the first planned item (a replay starts where the
    run it replays started, so that scripted episodes before it land at the same time)."""
    start = start_time_h(protocol) if start_h is None else start_h
    env = simpy.Environment(initial_time=start)
    course, main = start_course(env, protocol, patient, toxicity=toxicity, horizon_day=horizon_day)
    count = 0
    while not main.triggered:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            break
        count += 1
        if count > max_events:
            raise RunawayError(
                f"protocol '{protocol.id}': more than {max_events} simulation events; "
                "the run was stopped (a loop without end?)"
            )
    if not main.triggered:  # a bug, not bad input: some process waits for what cannot come
        raise RuntimeError(f"protocol '{protocol.id}': the run ran out of events before its end")
    if not main.ok:
        error = main.value
        assert isinstance(error, BaseException)
        raise error
    events = shifted(course.log, course.shift_days * 24.0)
    return RunResult(protocol, origin, protocol_hash, patient, seed, scenario, events, count)
