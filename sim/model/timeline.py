"""Piecewise-constant timelines of a virtual patient's state, and the grade steps of an episode.

A :data:`Timeline` is a time-ordered list of ``(time_h, values)``: from ``time_h`` on, the
channel says ``values`` (``None``: the channel says nothing, its contribution is withdrawn).
``values`` may carry raw signs (``crs_signs``, ``icans_signs``) that the patient state grades
with the ASTCT consensus, and ``why``: the plain-language cause logged with each change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

H_PER_DAY = 24.0
DAYS_PER_MONTH = 30.4375
Timeline = list[tuple[float, dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class Steps:
    """The raw grade course of one episode: grade ``g`` from ``times[i]``; 0 from ``end_h``.

    Grades rise one step per ``rise_h`` to the peak grade, stay there (the plateau), then
    fall one step per ``rise_h``.
    """

    grades: tuple[int, ...]
    times: tuple[float, ...]
    end_h: float
    plateau_start_h: float

    def grade_at(self, t: float) -> int:
        if t >= self.end_h:
            return 0
        current = 0
        for time_h, g in zip(self.times, self.grades, strict=True):
            if time_h <= t:
                current = g
            else:
                break
        return current

    def first_at_least(self, grade: int) -> float | None:
        """When the grade first reaches ``grade`` (None if it never does)."""
        return next((t for t, g in zip(self.times, self.grades, strict=True) if g >= grade), None)


def episode_steps(onset_h: float, grade: int, duration_h: float, rise_h: float) -> Steps:
    """Grades rising one step per ``rise_h`` to ``grade``, a plateau, then falling: the
    episode lasts at least ``duration_h``."""
    ramp = rise_h * (grade - 1)
    plateau = max(rise_h, duration_h - 2 * ramp)
    grades: list[int] = []
    times: list[float] = []
    t = onset_h
    for g in range(1, grade + 1):
        grades.append(g)
        times.append(t)
        t += rise_h if g < grade else plateau
    plateau_start = times[-1]
    for g in range(grade - 1, 0, -1):
        grades.append(g)
        times.append(t)
        t += rise_h
    return Steps(tuple(grades), tuple(times), t, plateau_start)


def value_at(timeline: Timeline, t: float) -> dict[str, Any] | None:
    """What ``timeline`` says at time ``t``."""
    current = None
    for time_h, values in timeline:
        if time_h <= t:
            current = values
        else:
            break
    return current
