"""The virtual-patient model as a toxicity source: SimPy process around the pure model.

After each CAR-T dose the model re-plans the patient's timelines (CRS, ICANS, IEC-HS,
GVHD, cytopenia, infection, disease) from the doses actually given; the process then
applies each change at its time (ASSESS phase), so gates see grades rise and fall, and
a held fraction changes what happens next. Kinetics summaries, the expansion peak and
death are logged as events.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator
from typing import Any

from simpy.events import Event as SimEvent

from sim.engine.clock import ASSESS
from sim.engine.course import Course
from sim.engine.state import Contribution
from sim.model.latent import Latent
from sim.model.parameters import ModelParameters
from sim.model.patient_course import PatientModel, Plan
from sim.model.timeline import value_at

EMITTED = ("expansion_peak", "death")
_SIGNS = ("crs_signs", "icans_signs", "why")


def _contribution(values: dict[str, Any]) -> Contribution:
    """A channel's values as a contribution: raw signs apart, for the ASTCT grading."""
    return Contribution(
        {k: v for k, v in values.items() if k not in _SIGNS},
        crs_signs=values.get("crs_signs"),
        icans_signs=values.get("icans_signs"),
    )


class VirtualPatient:
    """A toxicity source driven by :class:`sim.model.patient_course.PatientModel`."""

    def __init__(self, params: ModelParameters, latent: Latent) -> None:
        self.params = params
        self.latent = latent

    def start(self, c: Course) -> None:
        c.models_response = True
        c.env.process(self._run(c))

    def _run(self, c: Course) -> Generator[Any, Any, None]:
        model = PatientModel(
            self.params,
            c.patient,
            self.latent,
            product=c.protocol.product,
            management=c.protocol.management,
        )
        applied: dict[str, dict[str, Any] | None] = {}
        emitted: set[tuple[str, float]] = set()
        dose_event: SimEvent = c.after_dose(lambda label, n: True)
        yield dose_event
        plan = Plan()
        outcomes: list[tuple[float, str, dict[str, Any]]] = []  # plan.outcomes, time-ordered
        changes: list[tuple[float, str]] = []  # (time, channel) of the plan, time-ordered
        synced_to = 0  # changes[:synced_to] are applied
        while True:
            now = c.now
            if dose_event.triggered:
                model.ld_given = c.ld_given
                model.add_dose(now, c.last_dose_cells_per_kg)
                plan = model.plan()
                outcomes = sorted(plan.outcomes, key=lambda x: x[0])
                c.record("kinetics", **{k: round(v, 3) for k, v in plan.kinetics.items()})
                dose_event = c.after_dose(lambda label, n: True)
                changes = sorted((t, ch) for ch, tl in plan.channels.items() for t, _ in tl)
                synced_to = bisect.bisect_right(changes, (now, "\U0010ffff"))
                self._sync(c, now, plan, applied, sorted(set(plan.channels) | set(applied)))
            else:
                # only channels with a change since the last wake can differ from applied
                due = bisect.bisect_right(changes, (now, "\U0010ffff"))
                if due > synced_to:
                    due_channels = sorted({ch for _, ch in changes[synced_to:due]})
                    self._sync(c, now, plan, applied, due_channels)
                    synced_to = due
            if self._emit(c, now, outcomes, emitted):
                return
            upcoming = [changes[synced_to][0]] if synced_to < len(changes) else []
            upcoming += [t for t, kind, _ in outcomes if t > now and (kind, t) not in emitted]
            if not upcoming:
                yield dose_event
                continue
            yield c.until(min(upcoming), ASSESS) | dose_event

    @staticmethod
    def _sync(
        c: Course,
        now: float,
        plan: Plan,
        applied: dict[str, dict[str, Any] | None],
        channels: list[str],
    ) -> None:
        for channel in channels:
            want = value_at(plan.channels.get(channel, []), now)
            if applied.get(channel) != want:
                applied[channel] = want
                name = channel.replace("_", "-")
                why = f"{name} ends" if want is None else str(want.get("why", name))
                c.contribute(
                    f"model:{channel}",
                    _contribution(want) if want is not None else None,
                    cause=f"virtual patient: {why}",
                )

    @staticmethod
    def _emit(
        c: Course,
        now: float,
        outcomes: list[tuple[float, str, dict[str, Any]]],
        emitted: set[tuple[str, float]],
    ) -> bool:
        """Log the plan's outcomes (``outcomes``: time-ordered) that are due by ``now``."""
        for t, kind, data in outcomes:
            if t > now:
                break
            if (kind, t) not in emitted and kind in EMITTED:
                emitted.add((kind, t))
                if t < now - 1e-9 and kind == "expansion_peak":
                    continue  # superseded by a re-plan
                c.record(kind, **data)
                if kind == "death":
                    c.die(data["cause"])
                    return True
        return False
