"""A course in a shared environment reads its own clock exactly (sim.engine.course)."""

from __future__ import annotations

import simpy

from sim.engine.clock import DECIDE
from sim.engine.course import Course
from tests.factories import PATIENT, protocol


def test_a_course_far_from_hour_zero_wakes_at_the_exact_course_time() -> None:
    origin_h = 17_531.0  # two years into a clinic: environment hours are coarser there
    env = simpy.Environment(initial_time=origin_h)
    course = Course(env, protocol(), PATIENT, origin_h)
    wanted = [0.1, 37.123456789012345, 37.123456789012346, 100.0 / 3.0 + 40]
    seen: list[float] = []

    def waiter() -> simpy.events.ProcessGenerator:
        for t in wanted:
            yield course.until(t, DECIDE)
            seen.append(course.now)

    env.process(waiter())
    env.run()
    assert seen == sorted(wanted)
    assert (origin_h + 0.1) - origin_h != 0.1  # what reading env.now - origin would give


def test_a_course_alone_reads_the_environment_clock() -> None:
    env = simpy.Environment(initial_time=-24.0)
    course = Course(env, protocol(), PATIENT)
    env.run(until=5.5)
    assert course.now == 5.5
