"""Decision paths: what happened to each planned fraction, and the tree of a cohort.

:func:`fraction_path` reads one patient's event log and gives, for each planned
fraction in protocol order, one outcome word:

=====================  ==========================================================
``on_time``            given at its first gate check, at the planned dose level
``delayed``            held (a ``delay`` gate decision: a hold rule or a repeated
                       lymphodepletion) at least once, then given at the planned level
``reduced``            given at its first gate check below the planned dose level
                       (a ``reduce`` rule for this fraction or an earlier one)
``delayed_reduced``    held at least once, then given below the planned dose level
``skipped``            skipped (a ``skip`` rule, a hold that timed out with
                       ``on_timeout: skip``, or a missed deadline with ``if_missed:
                       skip``); the protocol goes on with the next fraction
``stopped``            the protocol stopped at this fraction (a ``stop`` rule, a hold
                       that timed out with ``on_timeout: stop``, a missed deadline, or
                       an expired lymphodepletion window); the path ends here
``died``               the patient died before this fraction was given or resolved;
                       the path ends here
``unresolved``         the run ended (end of follow-up) while this fraction was still
                       waiting; the path ends here
=====================  ==========================================================

"On time" is judged by the fraction's own gate: a fraction given at its first check
can still be later than its nominal day when an earlier fraction was held, because
intervals count from the fraction actually given. Repeat doses (CAR-DLI ``R1``...)
are not planned fractions and are not part of the path.

A cohort's paths are counted (:func:`path_counts`) and turned into a
:class:`PathNode` tree with the share of all patients on each branch and its 95 %
Wilson interval (:func:`path_tree`), printed as aligned text (:func:`tree_lines`) or
as JSON (:func:`tree_json`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.records import Event
from sim.stats import wilson

if TYPE_CHECKING:
    from sim.cohort import CohortSetup
    from sim.spec.load import LoadedProtocol

OUTCOMES: dict[str, str] = {
    "on_time": "given on time",
    "delayed": "given after a delay",
    "reduced": "given at a reduced dose",
    "delayed_reduced": "given after a delay, at a reduced dose",
    "skipped": "skipped",
    "stopped": "protocol stopped",
    "died": "died before it was given",
    "unresolved": "still waiting when the run ended",
}
ENDS_PATH = frozenset({"stopped", "died", "unresolved"})
_ORDER = {word: i for i, word in enumerate(OUTCOMES)}

FractionPath = tuple[str, ...]


def fraction_path(events: Sequence[Event]) -> FractionPath:
    """The outcome of each planned fraction, in protocol order (see the module docstring).

    A pure function of the event log, one pass over it; the result is a short tuple of
    interned strings, cheap to hash and count.
    """
    planned: list[str] = []
    delayed: set[str] = set()
    resolved: dict[str, str] = {}
    stopped_at: str | None = None
    died = False
    for ev in events:
        kind = ev.kind
        if kind == "planned":
            planned.append(ev.data["fraction"])
        elif kind == "gate":
            if ev.data["action"] == "delay":
                delayed.add(ev.data["fraction"])
        elif kind == "infusion":
            if ev.data["phase"] == "fraction":
                label = ev.data["fraction"]
                late = label in delayed
                if ev.data["dose_level"] < 1.0:
                    resolved[label] = "delayed_reduced" if late else "reduced"
                else:
                    resolved[label] = "delayed" if late else "on_time"
        elif kind == "skip":
            resolved.setdefault(ev.data["fraction"], "skipped")
        elif kind == "stop":
            if stopped_at is None:
                stopped_at = ev.data["fraction"]
        elif kind == "death":
            died = True
    path: list[str] = []
    for label in planned:
        outcome = resolved.get(label)
        if outcome is not None:
            path.append(outcome)
            continue
        path.append("stopped" if stopped_at is not None else "died" if died else "unresolved")
        break
    return tuple(path)


def crs_onset_checks(events: Sequence[Event]) -> tuple[tuple[bool, bool], ...]:
    """For each planned fraction, in protocol order: was it ever checked by its gate, and
    had CRS begun (a CRS grade above 0 logged) before its first gate check?

    What a gate looking for early CRS can see: in a fractionated protocol, the share of
    patients with CRS before fraction k is the share the gate could act on.
    """
    planned: list[str] = []
    first_check: dict[str, float] = {}
    onset: float | None = None
    for ev in events:
        kind = ev.kind
        if kind == "planned":
            planned.append(ev.data["fraction"])
        elif kind == "gate":
            first_check.setdefault(ev.data["fraction"], ev.time_h)
        elif (
            onset is None
            and kind == "state_change"
            and ev.data["variable"] == "crs_grade"
            and ev.data["new"] > 0
        ):
            onset = ev.time_h
    out = []
    for label in planned:
        checked = first_check.get(label)
        if checked is None:
            out.append((False, False))
        else:
            out.append((True, onset is not None and onset < checked))
    return tuple(out)


def crs_before_lines(
    fractions: Sequence[str], crs_before: Mapping[int, Sequence[int]]
) -> list[str]:
    """One line per fraction: of the patients whose fraction was checked, how many had
    CRS before its first gate check (share with 95 % Wilson CI)."""
    lines = []
    for k, label in enumerate(fractions):
        checked, crs = crs_before.get(k, (0, 0))
        if not checked:
            lines.append(f"  {label}: never checked")
            continue
        est = wilson(crs, checked)
        lines.append(
            f"  {label}: {crs} of {checked} checked ({_pct(est.value)} %, 95 % CI "
            f"{_pct(est.ci_low)} to {_pct(est.ci_high)} %)"
        )
    return lines


def crs_before_json(
    fractions: Sequence[str], crs_before: Mapping[int, Sequence[int]]
) -> list[dict[str, Any]]:
    out = []
    for k, label in enumerate(fractions):
        checked, crs = crs_before.get(k, (0, 0))
        est = wilson(crs, checked).to_dict()
        out.append({"fraction": label, "checked": checked, "crs_before": crs, **_ci(est)})
    return out


def path_counts(
    loaded: LoadedProtocol,
    setup: CohortSetup,
    n: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Counter[FractionPath]:
    """How many of the cohort's ``n`` virtual patients followed each path (the cohort runner
    tallies every patient's path; chunks run on ``workers`` processes or on Dask)."""
    counts, _ = cohort_paths(
        loaded, setup, n, workers=workers, scheduler=scheduler, progress=progress
    )
    return counts


def cohort_paths(
    loaded: LoadedProtocol,
    setup: CohortSetup,
    n: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Counter[FractionPath], dict[int, list[int]]]:
    """The cohort's path counts, and for each fraction position how many patients were
    checked and how many had CRS begun before that first check (:func:`crs_onset_checks`):
    what ``cartsim paths`` and :func:`sim.decision_paths` show."""
    from sim.cohort import compare

    run = compare([loaded], setup, n, progress, workers=workers, scheduler=scheduler)
    arm = run.total.arms[0]
    return Counter(arm.paths), arm.crs_before


@dataclass(frozen=True)
class PathNode:
    """One branch: the patients whose fraction ``fraction`` had ``outcome`` after ``path``."""

    fraction: str
    outcome: str
    path: FractionPath
    count: int
    n: int  # patients in the cohort
    parent_count: int
    children: tuple[PathNode, ...]

    @property
    def share(self) -> float:
        return self.count / self.n

    @property
    def share_of_parent(self) -> float:
        return self.count / self.parent_count

    def to_json(self) -> dict[str, Any]:
        est = wilson(self.count, self.n).to_dict()
        return {
            "fraction": self.fraction,
            "outcome": self.outcome,
            "count": self.count,
            "share": est["value"],
            "ci_low": est["ci_low"],
            "ci_high": est["ci_high"],
            "share_of_parent": round(self.share_of_parent, 6),
            "ends_path": self.outcome in ENDS_PATH,
            "children": [c.to_json() for c in self.children],
        }


@dataclass(frozen=True)
class PathTree:
    """The cohort's paths as a tree: roots are the outcomes of the first fraction."""

    fractions: tuple[str, ...]
    n: int
    roots: tuple[PathNode, ...]

    def nodes(self) -> Iterable[tuple[int, PathNode]]:
        """Every node with its depth (0 for the first fraction), depth first."""
        stack = [(0, node) for node in reversed(self.roots)]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, c) for c in reversed(node.children))


def _label(fractions: Sequence[str], depth: int) -> str:
    return fractions[depth] if depth < len(fractions) else f"fraction {depth + 1}"


def _children(
    counts: Mapping[FractionPath, int],
    prefix: FractionPath,
    parent: int,
    fractions: Sequence[str],
    n: int,
) -> tuple[PathNode, ...]:
    depth = len(prefix)
    by_outcome: dict[str, int] = {}
    for path, count in counts.items():
        if len(path) > depth and path[:depth] == prefix and count > 0:
            by_outcome[path[depth]] = by_outcome.get(path[depth], 0) + count
    nodes = []
    for outcome in sorted(by_outcome, key=lambda w: (_ORDER.get(w, len(_ORDER)), w)):
        here = (*prefix, outcome)
        count = by_outcome[outcome]
        nodes.append(
            PathNode(
                fraction=_label(fractions, depth),
                outcome=outcome,
                path=here,
                count=count,
                n=n,
                parent_count=parent,
                children=_children(counts, here, count, fractions, n),
            )
        )
    return tuple(nodes)


def path_tree(counts: Mapping[FractionPath, int], n: int, fractions: Sequence[str]) -> PathTree:
    """The tree of ``counts`` (path -> patients) for a cohort of ``n`` patients.

    Branches are ordered by the outcome vocabulary (on time first), not by size, so the
    same cohort always draws the same tree.
    """
    total = sum(counts.values())
    if n <= 0 or total > n:
        raise ValueError(f"n must be positive and at least the {total} paths counted, got {n}")
    return PathTree(tuple(fractions), n, _children(counts, (), n, fractions, n))


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def tree_lines(tree: PathTree) -> list[str]:
    """The tree as aligned plain text: one line per branch, with n, share and 95 % CI."""
    rows: list[tuple[str, str, str, str, str]] = []
    guides: list[bool] = []  # per depth: does a later sibling follow?

    def walk(nodes: Sequence[PathNode], depth: int) -> None:
        for i, node in enumerate(nodes):
            last = i == len(nodes) - 1
            prefix = "".join("│   " if more else "    " for more in guides[1:depth])
            if depth:
                prefix += "└── " if last else "├── "
            est = wilson(node.count, node.n)
            rows.append(
                (
                    f"{prefix}{node.fraction} {OUTCOMES.get(node.outcome, node.outcome)}",
                    str(node.count),
                    f"{_pct(est.value)} %",
                    f"({_pct(est.ci_low)}-{_pct(est.ci_high)})",
                    f"{_pct(node.share_of_parent)} %",
                )
            )
            guides[depth:] = [not last]
            walk(node.children, depth + 1)

    walk(tree.roots, 0)
    head = ("branch", "patients", "share", "95 % CI", "of parent")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]

    def line(r: tuple[str, str, str, str, str]) -> str:
        return "  ".join(
            [r[0].ljust(widths[0])] + [r[i].rjust(widths[i]) for i in range(1, 5)]
        ).rstrip()

    return [line(head), *(line(r) for r in rows)]


def tree_json(
    tree: PathTree, *, protocol: str, seed: int, population: str, **extra: Any
) -> dict[str, Any]:
    """One JSON object: provenance, the vocabulary, the nested tree and the flat paths."""

    def leaves(nodes: Sequence[PathNode]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for node in nodes:
            ended = node.count - sum(c.count for c in node.children)
            if ended:
                est = wilson(ended, tree.n).to_dict()
                out.append({"path": list(node.path), "count": ended, **_ci(est)})
            out.extend(leaves(node.children))
        return out

    return {
        "protocol": protocol,
        "seed": seed,
        "population": population,
        "n": tree.n,
        **extra,
        "fractions": list(tree.fractions),
        "outcomes": OUTCOMES,
        "tree": [node.to_json() for node in tree.roots],
        "paths": leaves(tree.roots),
    }


def _ci(est: Mapping[str, Any]) -> dict[str, Any]:
    return {"share": est["value"], "ci_low": est["ci_low"], "ci_high": est["ci_high"]}
