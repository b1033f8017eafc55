"""Time and the order of things that happen at the same moment.

Simulation time is in hours. Hour 0 is 00:00 on the protocol's planned day 0; reports
renumber days so that day 0 (or ``calendar.anchor_day``) is the day of the first CAR-T
infusion actually given.

Same-time rule (documented and tested): at any instant, **assess, then decide, then
dose, then observe**.

1. ASSESS: state changes (toxicity episodes, disease events), visits and assessments
   due at that instant are applied first;
2. DECIDE: gate checks then see that state; a dose decided is given in the same step;
3. OBSERVE: anything reacting to a dose (an episode that starts "0 h after F2", the
   virtual-patient model) runs after the dose, even at the same instant.

This is done with SimPy's event priorities: ASSESS events are scheduled with a lower
priority number than DECIDE events, and reactions to a dose are scheduled after it.
"""

from __future__ import annotations

import simpy
from simpy.events import Event, EventPriority

END = 0
"""The end of follow-up comes before anything else due at that instant (00:00 of the day
after the horizon): the run ends there, and nothing at or after it is part of the run."""
ASSESS = 1
DECIDE = 2


class At(Event):
    """An event that fires after ``delay_h`` hours in the given same-time phase."""

    def __init__(self, env: simpy.Environment, delay_h: float, phase: int) -> None:
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, EventPriority(phase), max(0.0, delay_h))


def until(env: simpy.Environment, time_h: float, phase: int) -> At:
    """Fire at absolute time ``time_h`` (or now, if that has passed) in ``phase``."""
    return At(env, time_h - env.now, phase)
