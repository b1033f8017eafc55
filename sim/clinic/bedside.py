"""Where a patient is during the course (home, ward, ICU, transferred out), and why.

A :class:`Bedside` follows one patient's course through the events it logs (it is the
course's ``on_record``) and moves the patient between home, a ward bed and an ICU bed:

* **Ward.** A patient needs a ward bed while the arm's inpatient window is open (from LD
  or from the first infusion to ``days_after_last_fraction`` days after the last fraction
  given or the protocol's stop), while the clinic's ``admission.admit_when`` holds, and
  for ``discharge_after_clear_days`` after it last held. A planned admission waits for a
  bed in the queue; an urgent one (admission condition, leaving the ICU, back from a
  transfer) goes first. While a febrile patient waits for a bed they stay where they are
  (home or the emergency room): that is the wait the queue logs.
* **ICU.** While ``icu.admit_when`` holds the patient needs an ICU bed, and gives up their
  ward bed when they get one. With no ICU bed free: ``transfer_out`` sends them to
  another hospital until the episode is over (they then need a ward bed again, urgently);
  ``wait`` keeps them on the ward (or brings them in) until an ICU bed frees or the
  episode ends. Leaving the ICU needs a ward bed if they still need one: until one frees
  they stay in the ICU (a longer ICU stay).
* **Doses.** As the course's site (:class:`sim.engine.course.Site`) it holds a CAR-T dose
  while the patient is in the ICU or away, and, in an inpatient arm, until they have a
  ward bed (a planned admission if they are at home). The course logs a ``hold`` with
  rule ``site`` and a ``resume``; the gate is checked again when the patient is back.
* **End.** When the course ends (end of follow-up, death) the patient leaves every bed.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from simpy.events import Event as SimEvent

from sim.clinic.resources import PLANNED, URGENT, Unit
from sim.clinic.spec import Clinic, Inpatient, ProtocolRules
from sim.engine.course import Course
from sim.records import Event

HOME, WARD, ICU, AWAY = "home", "ward", "icu", "away"


class Bedside:
    def __init__(
        self, unit: Unit, patient: int, clinic: Clinic, rules: ProtocolRules, n_fractions: int
    ) -> None:
        self.unit = unit
        self.env = unit.env
        self.patient = patient
        self.clinic = clinic
        self.inpatient = rules.monitoring if isinstance(rules.monitoring, Inpatient) else None
        self.n_fractions = n_fractions
        self.course: Course | None = None
        self.where = HOME
        self.bed: simpy.Event | None = None  # a ward-bed request, granted or pending
        self.icu: simpy.Event | None = None
        self.window_open = False
        self.fractions_done_h: float | None = None  # env time the last fraction resolved
        self.last_fraction_h: float | None = None
        self.resolved = 0
        self.infused = False
        self.clear_since: float | None = None
        self.ended = False
        self._wake: SimEvent = self.env.event()
        self._moved: list[SimEvent] = []
        self._timers: set[float] = set()

    # the course's hooks ---------------------------------------------------------------
    def attach(self, course: Course, main: simpy.Process) -> None:
        self.course = course
        course.site = self
        course.on_record = self.on_record
        main.callbacks.append(lambda _: self._end())

    def on_record(self, event: Event) -> None:
        kind = event.kind
        if kind == "infusion" and not self.infused:
            self.infused = True  # the first CAR-T dose (F1, or a later one if F1 was skipped)
            self.unit.record(self.patient, "first_infusion", fraction=event.data["fraction"])
        if kind == "infusion" and event.data.get("phase") == "fraction":
            self.resolved += 1
            self.last_fraction_h = float(self.env.now)
        elif kind == "skip" and event.data.get("fraction") is not None:
            self.resolved += 1
        elif kind == "stop":
            self.resolved = self.n_fractions
        elif kind == "hold" and event.data.get("rule") == "site":
            self.unit.record(
                self.patient, "fraction_held", fraction=event.data["fraction"],
                reason=event.data["reason"],
            )  # fmt: skip
        if self.fractions_done_h is None and self.resolved >= self.n_fractions:
            self.fractions_done_h = float(self.env.now)
        if kind in ("state_change", "infusion", "skip", "stop", "end"):
            self._poke()

    def ready(self, label: str) -> tuple[SimEvent, str] | None:
        if self.where in (ICU, AWAY):
            where = "in the ICU" if self.where == ICU else "transferred out to another ICU"
            return self.env.process(self._until_ready()), f"the patient is {where}"
        if self.inpatient is None or self.where == WARD:
            return None
        self.window_open = True  # admitted for the dose (and, with 'ld', re-admitted)
        self._step()
        if self.where == WARD:
            return None
        return self.env.process(self._until_ready()), "no ward bed free"

    def _until_ready(self) -> Generator[Any, Any, None]:
        while not (self.where == WARD or (self.inpatient is None and self.where == HOME)):
            moved = self.env.event()
            self._moved.append(moved)
            yield moved

    # the loop -------------------------------------------------------------------------
    def admit_for_ld(self) -> None:
        """A planned admission from LD: the patient holds the bed granted before LD."""
        self.window_open = True

    def run(self, bed: simpy.Event | None) -> Generator[Any, Any, None]:
        """Follow the patient until the course ends; ``bed``: a ward bed already held."""
        if bed is not None:  # admitted (and logged) when the bed was granted
            self.bed = bed
            self.where = WARD
        while True:
            self._step()
            if self.ended:
                return
            self._wake = self.env.event()
            yield self._wake

    def _poke(self) -> None:
        if not self._wake.triggered:
            self._wake.succeed()

    def _timer(self, at_h: float) -> None:
        if at_h in self._timers or at_h <= self.env.now:
            return
        self._timers.add(at_h)
        self.env.timeout(at_h - self.env.now).callbacks.append(lambda _: self._poke())

    def _values(self) -> dict[str, Any]:
        assert self.course is not None
        return self.course.state.values

    def _window(self) -> bool:
        if self.inpatient is None or not self.window_open:
            return False
        if self.fractions_done_h is None:
            return True
        if self.last_fraction_h is None:  # stopped before any fraction: nothing to watch
            end = self.fractions_done_h
        else:
            end = self.last_fraction_h + self.inpatient.days_after_last_fraction * 24.0
        self._timer(end)
        return self.env.now < end

    def _step(self) -> None:
        if self.ended or self.course is None:
            return
        values = self._values()
        now = float(self.env.now)
        want_icu = bool(self.clinic.icu.admit_when(values))
        sick = want_icu or bool(self.clinic.admission.admit_when(values))
        if sick:
            self.clear_since = None
        elif self.clear_since is None and self.where != HOME:
            self.clear_since = now
        recovering = False
        if self.clear_since is not None:
            until = self.clear_since + self.clinic.admission.discharge_after_clear_days * 24.0
            self._timer(until)
            recovering = now < until
        want_ward = self._window() or sick or recovering
        for _ in range(4):  # a few moves can follow one another at one instant
            if not self._move_once(want_icu, want_ward, sick):
                break

    def _move_once(self, want_icu: bool, want_ward: bool, sick: bool) -> bool:
        unit = self.unit
        if want_icu and self.where in (HOME, WARD):
            if self.icu is None:
                full = unit.icu.count >= unit.icu.capacity
                if full and self.clinic.icu.when_full == "transfer_out":
                    self._leave_ward()
                    self._move(AWAY, "no ICU bed free: transferred out")
                    return True
                self.icu = unit.request(self.patient, "icu", unit.icu, URGENT)
                self.icu.callbacks.append(lambda _: self._poke())
            if self.icu.triggered:
                self._leave_ward()
                self._move(ICU, "to the ICU")
                return True
            return self._to_ward(URGENT)  # wait for the ICU bed on the ward
        if not want_icu and self.icu is not None and self.where != ICU:
            unit.cancel(self.patient, "icu", unit.icu, self.icu)  # the episode ended first
            self.icu = None
        if not want_icu and self.where in (ICU, AWAY):
            if want_ward:
                if not self._ask_ward(URGENT):
                    return False  # stays in the ICU (or away) until a ward bed frees
                self._leave_icu()
                self._move(WARD, "back on the ward")
                return True
            self._leave_icu()
            self._move(HOME, "home")
            return True
        if self.where == HOME and want_ward:
            return self._to_ward(URGENT if sick else PLANNED)
        if self.where == WARD and not want_ward:
            self._leave_ward()
            self._move(HOME, "discharged home")
            return True
        if self.where == HOME and not want_ward and self.bed is not None:
            unit.cancel(self.patient, "bed", unit.beds, self.bed)  # no longer needed
            self.bed = None
        return False

    def _ask_ward(self, priority: int) -> bool:
        if self.bed is None:
            self.bed = self.unit.request(self.patient, "bed", self.unit.beds, priority)
            self.bed.callbacks.append(lambda _: self._poke())
        return self.bed.triggered

    def _to_ward(self, priority: int) -> bool:
        if self.where == WARD or not self._ask_ward(priority):
            return False
        self._move(WARD, "admitted")
        return True

    def _leave_ward(self) -> None:
        if self.bed is not None:
            self.unit.cancel(self.patient, "bed", self.unit.beds, self.bed)
            self.bed = None

    def _leave_icu(self) -> None:
        if self.icu is not None:
            self.unit.cancel(self.patient, "icu", self.unit.icu, self.icu)
            self.icu = None

    def _move(self, where: str, reason: str) -> None:
        old = self.where
        self.where = where
        if old == WARD:
            self.unit.record(self.patient, "bed_out", reason=reason)
        if old == ICU:
            self.unit.record(self.patient, "icu_out", reason=reason)
        if old == AWAY:
            self.unit.record(self.patient, "transfer_back", reason=reason)
        if where == WARD:
            self.unit.record(self.patient, "bed_in", reason=reason)
        if where == ICU:
            self.unit.record(self.patient, "icu_in", reason=reason)
        if where == AWAY:
            self.unit.record(self.patient, "transfer_out", reason=reason)
        moved, self._moved = self._moved, []
        for ev in moved:
            ev.succeed()

    def _end(self) -> None:
        if self.ended:
            return
        self._leave_ward()
        self._leave_icu()
        if self.where != HOME:
            self._move(HOME, "course ended")
        self.ended = True
        self._poke()
