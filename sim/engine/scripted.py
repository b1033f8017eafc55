"""Scripted toxicity: scenario episodes as SimPy processes (deterministic, for teaching).

An episode waits for its start (a planned-calendar day, or hours/days after a given
dose), then applies its steps one after another, and withdraws its contribution when
the last timed step ends. See :mod:`sim.spec.scenario` for the file format.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from sim.engine.clock import ASSESS
from sim.engine.course import Course
from sim.engine.state import Contribution
from sim.spec.scenario import Episode, Start

DISEASE = frozenset({"in_remission", "mrd_positive", "relapse", "marrow_blasts_pct"})


def _matcher(start: Start) -> Callable[[str, int], bool]:
    if start.after == "first_infusion":
        return lambda label, n: n == 1
    if start.after is not None:
        target = start.after
        return lambda label, n: label == target
    nth = start.after_dose
    return lambda label, n: n == nth


class ScriptedToxicity:
    """A toxicity source that plays back scripted episodes."""

    def __init__(self, episodes: Sequence[Episode]) -> None:
        self.episodes = tuple(episodes)

    def start(self, c: Course) -> None:
        if any(set(step.set or {}) & DISEASE for ep in self.episodes for step in ep.steps):
            c.models_response = True
        for i, episode in enumerate(self.episodes):
            c.env.process(self._episode(c, episode, f"script:{i}"))

    @staticmethod
    def _episode(c: Course, ep: Episode, key: str) -> Generator[Any, Any, None]:
        s = ep.start
        if s.day is not None:
            yield c.until(s.day * 24.0 + s.hour, ASSESS)
        else:
            yield c.after_dose(_matcher(s))
            yield c.until(c.now + s.days * 24.0 + s.hours, ASSESS)
        for step in ep.steps:
            contribution = Contribution(dict(step.set or {}), step.crs_signs, step.icans_signs)
            c.contribute(key, contribution, cause=ep.name)
            if step.hours is None:
                return
            yield c.until(c.now + step.hours, ASSESS)
        c.contribute(key, None, cause=f"{ep.name} (ended)")
