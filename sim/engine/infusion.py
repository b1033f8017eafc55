"""Gate, hold and give one CAR-T dose: the loop shared by fractions and repeat doses.

At the dose's earliest time (in the DECIDE phase) the gate is evaluated. ``give``
infuses now; ``reduce`` steps one level down the dose ladder and infuses; ``delay``
holds and re-checks every ``recheck_h`` hours until the condition clears, giving up
(with the rule's ``on_timeout``: skip or stop) once the hold reaches ``max_wait_h`` or
the next re-check would fall after the dose's deadline; ``skip`` and ``stop`` end the
attempt. Every evaluation is logged as a ``gate`` event, passes included.

A course with a site (a clinic's ward, :class:`sim.engine.course.Site`) asks it before
each gate check of a dose whether the dose can be given now; if not (no bed free, the
patient in the ICU) the dose is held (``hold`` with rule ``site``, then ``resume``) and the
gate is checked again when the site is ready. A course run alone has no site.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from simpy.events import Event as SimEvent

from sim.engine.clock import DECIDE
from sim.engine.course import Course
from sim.engine.gates import evaluate
from sim.spec.protocol import GateRule

Outcome = Literal["given", "skipped", "stopped"]
LD_VALIDITY_RULE = "ld-validity"
"""The rule name of an expired lymphodepletion window (a guard's restart)."""
Process = Generator[SimEvent, Any, Any]
GuardResult = tuple[Literal["ok", "restart", "stop"], float | None]
Guard = Callable[[], Generator[SimEvent, Any, GuardResult]]


@dataclass(frozen=True)
class Attempt:
    label: str  # fraction id, or R1, R2 ... for repeat doses
    phase: Literal["fraction", "repeat"]
    rules: Sequence[GateRule]
    earliest_h: float
    deadline_h: float | None
    if_missed: Literal["skip", "stop"]
    levels: Sequence[tuple[float, float]]  # (cells, dose level) from current down to floor
    planned_cells: float
    carried_in_cells: float = 0.0


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    levels_down: int  # how many ladder steps were taken down in this attempt
    reason: str


def _fmt_h(hours: float) -> str:
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"


class Hold:
    """A hold's bookkeeping: how long each rule held the dose.

    The time from one gate check to the next is counted for the rule that held the dose
    at the first of the two, so that the parts add up to the whole hold."""

    def __init__(self, start_h: float) -> None:
        self.start_h = start_h
        self.by_rule: dict[str, float] = {}
        self._last: tuple[str, float] | None = None

    def check(self, now_h: float, rule: str | None) -> None:
        """A gate check at ``now_h``: ``rule`` holds from now on (None: the hold ends)."""
        if self._last is not None:
            held_rule, since = self._last
            self.by_rule[held_rule] = round(self.by_rule.get(held_rule, 0.0) + now_h - since, 6)
        self._last = (rule, now_h) if rule is not None else None

    def describe(self) -> str:
        """E.g. 'held 5 days for rule infection, 2 days for rule crs-or-icans'."""
        parts = [f"{_fmt_h(h)} for rule {name}" for name, h in self.by_rule.items() if h > 0]
        return "held " + ", ".join(parts) if parts else "not held yet"


@dataclass(frozen=True)
class Decision:
    """What a gate check (after any hold) decided: give, reduce, skip or stop."""

    action: str
    rule: GateRule | None
    reason: str
    fired: tuple[str, ...]
    seen: dict[str, Any]
    hold: Hold | None


def gate_until_decided(
    c: Course,
    label: str,
    rules: Sequence[GateRule],
    deadline_h: float | None = None,
    guard: Guard | None = None,
    site: bool = False,
) -> Generator[SimEvent, Any, Decision | None]:
    """Check ``rules`` now and hold while a ``delay`` rule fires, re-checking every
    ``recheck_h``; a hold gives up (``on_timeout``) once it reaches the holding rule's
    ``max_wait_h`` or no re-check fits before ``deadline_h``. Every delay is logged;
    the final decision is returned for the caller to log. None: ``guard`` stopped it.
    With ``site`` (a CAR-T dose), the course's site, if any, is asked first."""
    hold: Hold | None = None
    while True:
        c.count_check(label)
        if guard is not None:
            guarded_at = c.now
            status, restart_h = yield from guard()  # a repeat LD course runs inside it
            if status == "stop":
                return None
            if status == "restart" and restart_h is not None:
                if hold is not None:  # from the guard's check to the restart, LD holds it
                    hold.check(guarded_at, LD_VALIDITY_RULE)
                yield c.until(restart_h, DECIDE)
                continue
        if site and c.site is not None:
            wait = c.site.ready(label)
            if wait is not None:  # e.g. no bed free: held, then the gate is checked again
                yield from _held_for_site(c, label, *wait)
                continue
        verdict = evaluate(rules, c.view())
        action: str = verdict.action
        rule = verdict.rule
        reason = verdict.reason
        if action == "delay":
            assert rule is not None and rule.recheck_h and rule.max_wait_h and rule.on_timeout
            if hold is None:
                hold = Hold(c.now)
                c.record("hold", fraction=label, rule=rule.name, reason=reason)
            hold.check(c.now, rule.name)
            waited = c.now - hold.start_h
            next_h = c.now + rule.recheck_h
            if waited >= rule.max_wait_h:
                action = rule.on_timeout
                reason += (
                    f"; still held after {_fmt_h(waited)} (limit {_fmt_h(rule.max_wait_h)}): "
                    f"{hold.describe()}"
                )
            elif deadline_h is not None and next_h >= deadline_h:
                action = rule.on_timeout
                reason += (
                    f"; no re-check possible before the deadline (end of day "
                    f"{c.study_day(deadline_h) - 1}): {hold.describe()}"
                )
            else:
                c.record(
                    "gate",
                    fraction=label,
                    action="delay",
                    rule=rule.name,
                    reason=f"{reason}; re-check in {_fmt_h(rule.recheck_h)}",
                    fired=verdict.fired,
                    state=verdict.seen,
                )
                yield c.until(next_h, DECIDE)
                continue
        elif hold is not None:
            hold.check(c.now, None)
        return Decision(action, rule, reason, verdict.fired, verdict.seen, hold)


def attempt_dose(c: Course, a: Attempt, guard: Guard | None = None) -> Process:
    """Run one dose attempt; returns a :class:`Result` (as the generator's value)."""
    # the attempt starts at its earliest time, or now if that has passed (after a long hold
    # of the previous fraction, the minimum interval may have run out long ago)
    if a.deadline_h is not None and max(a.earliest_h, c.now) >= a.deadline_h:
        reason = (
            f"cannot start before its deadline (day {c.study_day(a.deadline_h) - 1} "
            "was the last day allowed)"
        )
        return _end(c, a, a.if_missed, "deadline", reason, (), {}, 0)
    yield c.until(a.earliest_h, DECIDE)
    decided = yield from gate_until_decided(c, a.label, a.rules, a.deadline_h, guard, site=True)
    if decided is None:
        # the guard logged why (an expired LD window, or a repeat LD course its gate stopped)
        stop = next((e for e in reversed(c.log) if e.kind == "stop"), None)
        return Result("stopped", 0, stop.data["reason"] if stop else "stopped before the dose")
    action, rule, reason = decided.action, decided.rule, decided.reason
    level = 0
    if action == "reduce":
        assert rule is not None
        if level + 1 < len(a.levels):
            level += 1
            reason += f"; dose reduced to level {a.levels[level][1]:g}"
        elif rule.at_floor == "give":
            action = "give"
            reason += "; already at the lowest dose level, given at that level"
        else:
            action = rule.at_floor or "stop"
            reason += "; already at the lowest dose level"
    if action in ("give", "reduce"):
        c.record(
            "gate",
            fraction=a.label,
            action=action,
            rule=rule.name if rule is not None else None,
            reason=reason,
            fired=decided.fired,
            state=decided.seen,
        )
        if decided.hold is not None:
            record_resume(c, a.label, decided.hold)
        cells, dose_level = a.levels[level]
        c.record(
            "infusion",
            fraction=a.label,
            phase=a.phase,
            cells=cells,
            cells_per_kg=cells / c.patient.weight_kg,
            planned_cells=a.planned_cells,
            carried_in_cells=a.carried_in_cells,
            dose_level=dose_level,
        )
        c.last_dose_cells_per_kg = cells / c.patient.weight_kg
        c.dose_given(a.label)
        return Result("given", level, reason)
    assert rule is not None
    return _end(c, a, action, rule.name, reason, decided.fired, decided.seen, level)


def record_resume(c: Course, label: str, hold: Hold) -> None:
    """The hold is over: its length, and how long each rule held the dose."""
    c.record("resume", fraction=label, held_h=round(c.now - hold.start_h, 6), held_by=hold.by_rule)


def _held_for_site(c: Course, label: str, wait: SimEvent, reason: str) -> Process:
    """The site cannot take the dose now (e.g. no bed free): hold until it can."""
    since = c.now
    c.record("hold", fraction=label, rule="site", reason=reason)
    yield wait
    held = round(c.now - since, 6)
    c.record("resume", fraction=label, held_h=held, held_by={"site": held})


def _end(
    c: Course,
    a: Attempt,
    action: str,
    rule: str,
    reason: str,
    fired: tuple[str, ...],
    seen: dict[str, Any],
    level: int,
) -> Result:
    c.record(
        "gate", fraction=a.label, action=action, rule=rule, reason=reason, fired=fired, state=seen
    )
    c.record(action, fraction=a.label, rule=rule, reason=reason)
    return Result("skipped" if action == "skip" else "stopped", level, reason)
