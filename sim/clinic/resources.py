"""The unit's shared resources and its one event log.

Each resource is a SimPy ``Resource`` (apheresis slots, manufacturing slots, LD chairs)
or ``PriorityResource`` (ward beds, ICU beds: an urgent request - a febrile patient, a
patient leaving the ICU or coming back from a transfer - goes before a planned
admission; equal priorities are served first come, first served). A central facility
with no slot limit has no resource at all.

Every request that is not granted at once is logged when it joins and when it leaves
the queue (``queue_join`` / ``queue_leave``), so that waits, queue lengths and Little's
law are all derived from the log. :meth:`Unit.census` samples each resource's queue
and use every hour, independently of the log (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import simpy

from sim.clinic.spec import Clinic

URGENT = 0
PLANNED = 1
QUEUES = ("apheresis", "manufacturing", "ld_chair", "bed", "icu")


@dataclass(frozen=True, slots=True)
class ClinicEvent:
    """One row of the clinic's log: at ``time_h`` (hours since the start of the
    simulated period), patient ``patient`` (index in the replication)."""

    time_h: float
    patient: int
    kind: str
    data: Mapping[str, Any]


class Unit:
    """One arm of one replication: the environment, the resources and the log."""

    def __init__(self, env: simpy.Environment, clinic: Clinic) -> None:
        self.env = env
        self.apheresis = simpy.Resource(env, clinic.apheresis.slots)
        self.manufacturing: dict[str, simpy.Resource | None] = {
            name: (simpy.Resource(env, how.slots) if how.slots is not None else None)
            for name, how in clinic.manufacturing.items()
        }
        self.ld_chairs = simpy.Resource(env, clinic.ld_chairs)
        self.beds = simpy.PriorityResource(env, clinic.beds)
        self.icu = simpy.PriorityResource(env, clinic.icu_beds)
        self.log: list[ClinicEvent] = []
        self.samples: list[dict[str, int]] = []
        self.courses: dict[int, Any] = {}  # patient -> its Course (kept for checks)

    def record(self, patient: int, kind: str, **data: Any) -> None:
        self.log.append(ClinicEvent(float(self.env.now), patient, kind, MappingProxyType(data)))

    def request(
        self, patient: int, queue: str, resource: simpy.Resource, priority: int | None = None
    ) -> simpy.resources.resource.Request:
        """Ask for one unit of ``resource``; a request not granted at once is logged as a
        queue join, and its grant as the matching leave."""
        if priority is None:
            req = resource.request()
        else:
            assert isinstance(resource, simpy.PriorityResource)
            req = resource.request(priority=priority)
        if not req.triggered:
            self.record(patient, "queue_join", queue=queue)
            req.callbacks.append(lambda _: self.record(patient, "queue_leave", queue=queue))
        return req

    def cancel(self, patient: int, queue: str, resource: simpy.Resource, req: simpy.Event) -> None:
        """Give up a request (granted or not)."""
        assert isinstance(req, simpy.resources.resource.Request)
        if not req.triggered:
            req.cancel()
            self.record(patient, "queue_leave", queue=queue, gave_up=True)
        else:
            resource.release(req)

    def census(self, until_h: float) -> Generator[Any, Any, None]:
        """Sample queue lengths and resources in use at every whole hour (a process)."""
        resources: dict[str, simpy.Resource] = {
            "apheresis": self.apheresis,
            "ld_chair": self.ld_chairs,
            "bed": self.beds,
            "icu": self.icu,
        }
        while self.env.now < until_h:
            row = {f"{k}_queue": len(r.queue) for k, r in resources.items()}
            row.update({f"{k}_used": r.count for k, r in resources.items()})
            row["manufacturing_queue"] = sum(
                len(r.queue) for r in self.manufacturing.values() if r is not None
            )
            self.samples.append(row)
            yield self.env.timeout(1.0)
