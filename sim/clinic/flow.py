"""One patient's path through the unit, from referral to the end of the course.

Referral -> apheresis (a slot for ``duration_days``) -> manufacturing (a slot, if the
facility has a limit, for the drawn time; a failed attempt is made again from the
stored cells, up to ``max_attempts``, then the patient drops out) -> transport -> a place
for LD (a ward bed for an arm admitted from LD, else an LD chair) -> the protocol
course, which starts at the next midnight with the course's own clock
(:func:`sim.engine.run.start_course`), watched by the patient's :class:`Bedside`.

From referral until the course starts the patient may die or progress (and drop out):
whichever of death, progression and being ready comes first wins; a patient who dies or
drops out leaves every queue and slot at once. Once the course has started, what
happens to the patient is the course's own (the virtual patient's biology); the clinic
only decides where they are and may hold a dose (:mod:`sim.clinic.bedside`).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.clinic.arrivals import Referral, duration_days, time_of, waiting_hazards_per_day
from sim.clinic.bedside import Bedside
from sim.clinic.resources import PLANNED, Unit
from sim.clinic.spec import Clinic, Inpatient, ProtocolRules
from sim.engine.run import ToxicitySource, start_course, start_time_h
from sim.spec.protocol import Protocol
from sim.spec.scenario import Patient


@dataclass(frozen=True)
class Arm:
    protocol: Protocol
    rules: ProtocolRules


@dataclass(frozen=True)
class Ready:
    """Ready for LD at the next midnight, holding ``place`` (a bed or chair request)."""

    place: simpy.Event
    on_ward: bool


def patient_path(
    unit: Unit,
    clinic: Clinic,
    arm: Arm,
    ref: Referral,
    patient: Patient,
    biology: ToxicitySource,
) -> Generator[Any, Any, None]:
    env = unit.env
    i = ref.index
    yield env.timeout(max(0.0, ref.time_h - env.now))
    unit.record(i, "referred", population=ref.population)
    bridged = ref.bridging_draw < clinic.waiting.bridging_share
    if bridged:
        unit.record(i, "bridging")
    death_h, progression_h = (
        time_of(draw, hazard)
        for draw, hazard in zip(
            (ref.death_exp, ref.progression_exp),
            waiting_hazards_per_day(clinic.waiting, patient.marrow_blasts_pct, bridged),
            strict=True,
        )
    )
    prep = env.process(_prepare(unit, clinic, arm, ref))
    events: list[simpy.Event] = [prep]
    death = env.timeout(death_h) if math.isfinite(death_h) else None
    progression = env.timeout(progression_h) if math.isfinite(progression_h) else None
    events += [e for e in (death, progression) if e is not None]
    yield env.any_of(events)
    if prep.is_alive:  # death or progression came first
        prep.interrupt()
        if death is not None and death.processed:
            unit.record(i, "died_waiting")
        else:
            unit.record(i, "dropped_out", reason="progression while waiting")
        return
    ready = prep.value
    if not isinstance(ready, Ready):
        unit.record(i, "dropped_out", reason=str(ready))
        return
    yield from _course(unit, clinic, arm, i, patient, biology, ready)


def _prepare(unit: Unit, clinic: Clinic, arm: Arm, ref: Referral) -> Generator[Any, Any, Any]:
    """Apheresis, manufacturing, transport and a place for LD; a :class:`Ready`, or the
    reason the patient drops out."""
    env = unit.env
    i = ref.index
    held: list[tuple[str, simpy.Resource, simpy.Event]] = []
    try:
        req = unit.request(i, "apheresis", unit.apheresis)
        held.append(("apheresis", unit.apheresis, req))
        yield req
        unit.record(i, "apheresis")
        yield env.timeout(clinic.apheresis.duration_days * 24.0)
        unit.cancel(i, "apheresis", unit.apheresis, held.pop()[2])
        route = clinic.manufacturing[arm.rules.manufacturing]
        slots = unit.manufacturing[arm.rules.manufacturing]
        for attempt in range(route.max_attempts):
            if slots is not None:
                req = unit.request(i, "manufacturing", slots)
                held.append(("manufacturing", slots, req))
                yield req
            unit.record(i, "manufacturing_start", attempt=attempt + 1)
            days = duration_days(route.duration, ref.manufacturing_quantiles[attempt])
            yield env.timeout(days * 24.0)
            if slots is not None:
                unit.cancel(i, "manufacturing", slots, held.pop()[2])
            ok = ref.failure_draws[attempt] >= route.failure_rate
            unit.record(i, "manufacturing_end", attempt=attempt + 1, ok=ok)
            if ok:
                break
        else:
            return f"manufacturing failed {route.max_attempts} times"
        if route.transport_days > 0:
            yield env.timeout(route.transport_days * 24.0)
        unit.record(i, "released")
        on_ward = isinstance(arm.rules.monitoring, Inpatient) and (
            arm.rules.monitoring.admit_from == "ld"
        )
        if on_ward:
            place = unit.request(i, "bed", unit.beds, PLANNED)
            held.append(("bed", unit.beds, place))
        else:
            place = unit.request(i, "ld_chair", unit.ld_chairs)
            held.append(("ld_chair", unit.ld_chairs, place))
        yield place
        if on_ward:  # admitted now: the bed is taken from the moment it is granted
            unit.record(i, "bed_in", reason="admitted for lymphodepletion")
        midnight = math.ceil(env.now / 24.0 - 1e-9) * 24.0
        yield env.timeout(max(0.0, midnight - env.now))
        return Ready(place, on_ward)
    except simpy.Interrupt:
        for queue, resource, request in held:
            if queue == "bed" and request.triggered:
                unit.record(i, "bed_out", reason="left before LD")
            unit.cancel(i, queue, resource, request)
        return "left"


def _course(
    unit: Unit,
    clinic: Clinic,
    arm: Arm,
    i: int,
    patient: Patient,
    biology: ToxicitySource,
    ready: Ready,
) -> Generator[Any, Any, None]:
    env = unit.env
    protocol = arm.protocol
    origin_h = env.now - start_time_h(protocol)
    course, main = start_course(env, protocol, patient, toxicity=biology, origin_h=origin_h)
    bedside = Bedside(unit, i, clinic, arm.rules, len(protocol.fractions))
    bedside.attach(course, main)
    unit.courses[i] = course
    unit.record(i, "course_start", origin_h=origin_h)
    if ready.on_ward:
        bedside.admit_for_ld()
        env.process(bedside.run(ready.place))
    else:
        env.process(bedside.run(None))
        env.process(_leave_chair(unit, i, protocol, origin_h, ready.place))
    yield main
    end = course.log[-1] if course.log else None
    reason = end.data.get("reason") if end is not None and end.kind == "end" else "ended"
    unit.record(i, "course_end", reason=reason, infused=course.first_infusion_h is not None)


def _leave_chair(
    unit: Unit, i: int, protocol: Protocol, origin_h: float, chair: simpy.Event
) -> Generator[Any, Any, None]:
    """The LD chair is held until the end of the last planned LD day."""
    ld = protocol.lymphodepletion
    if ld is not None:
        last_day = max(d for drug in ld.drugs for d in drug.days)
        yield unit.env.timeout(max(0.0, origin_h + (last_day + 1) * 24.0 - unit.env.now))
    unit.cancel(i, "ld_chair", unit.ld_chairs, chair)
