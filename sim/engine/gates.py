"""Gate evaluation: which rules fire, and which action wins.

All rules of a gate are evaluated against the same state. Of the rules that fire, the
most severe action wins (stop > skip > delay > reduce > give, see
:data:`sim.spec.protocol.SEVERITY`); among equally severe rules the first listed gives
the reason. When no rule fires the dose is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.spec.protocol import SEVERITY, Action, GateRule


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    rule: GateRule | None
    fired: tuple[str, ...]
    seen: dict[str, Any]

    @property
    def reason(self) -> str:
        if self.rule is None:
            return "no rule fired: all gate criteria met"
        return rule_reason(self.rule)


def rule_reason(rule: GateRule) -> str:
    return rule.reason or f"{rule.when} (rule {rule.name})"


def evaluate(rules: Sequence[GateRule], state: Mapping[str, Any]) -> Verdict:
    fired = [r for r in rules if r.when(state)]
    seen = {name: state[name] for r in rules for name in r.when.names}
    if not fired:
        return Verdict("give", None, (), seen)
    best = max(fired, key=lambda r: SEVERITY[r.action])  # max keeps the first of equals
    return Verdict(best.action, best, tuple(r.name for r in fired), seen)
