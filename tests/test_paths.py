"""Decision paths: the per-fraction outcome of each patient, the cohort tree and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort import CohortSetup, run_patient_result
from sim.metrics import patient_metrics
from sim.paths import (
    ENDS_PATH,
    OUTCOMES,
    FractionPath,
    PathTree,
    fraction_path,
    path_counts,
    path_tree,
    tree_json,
    tree_lines,
)
from sim.records import Event, make_event
from sim.spec.load import builtin_dir, load_protocol
from sim.stats import wilson
from sim.targets import run_target

runner = CliRunner()

# What the committed expected traces show (scenarios/expected/*.json, see `cartsim run`).
SCENARIO_PATHS: dict[str, FractionPath] = {
    "fractionated-no-toxicity": ("on_time", "on_time", "on_time", "on_time"),
    "fractionated-crs-hold": ("on_time", "on_time", "delayed", "on_time"),
    "fractionated-crs-stop": ("on_time", "on_time", "stopped"),
    "single-dose-cns": ("on_time",),
    # the GVHD stop hits repeat dose R2, not a planned fraction
    "car-dli-gvhd": ("on_time",),
    # F1 held for infection (and LD repeated), then F2-F4 at their first check
    "ld-window-expired": ("delayed", "on_time", "on_time", "on_time"),
}


def committed_events(scenario: str) -> list[Event]:
    path = builtin_dir("scenario") / "expected" / f"{scenario}.json"
    rows = json.loads(path.read_text(encoding="utf-8"))["events"]
    return [
        make_event(
            r["time_h"],
            r["kind"],
            {k: v for k, v in r.items() if k not in ("time_h", "day", "kind")},
        )
        for r in rows
    ]


@pytest.mark.parametrize("scenario", sorted(SCENARIO_PATHS))
def test_path_of_each_committed_trace(scenario: str) -> None:
    assert fraction_path(committed_events(scenario)) == SCENARIO_PATHS[scenario]


@pytest.mark.parametrize("scenario", sorted(SCENARIO_PATHS))
def test_path_of_each_scenario_run(scenario: str) -> None:
    assert fraction_path(run_target(scenario).events) == SCENARIO_PATHS[scenario]


# --- synthetic logs for the words no built-in scenario produces -----------------------------


def log(*rows: tuple[float, str, dict[str, Any]]) -> list[Event]:
    plan = [make_event(-100.0, "planned", {"fraction": f}) for f in ("F1", "F2", "F3")]
    return plan + [make_event(t, kind, data) for t, kind, data in rows]


def given(
    t: float, fraction: str, level: float = 1.0, phase: str = "fraction"
) -> tuple[float, str, dict[str, Any]]:
    return (t, "infusion", {"fraction": fraction, "phase": phase, "dose_level": level})


def gate(t: float, fraction: str, action: str) -> tuple[float, str, dict[str, Any]]:
    return (t, "gate", {"fraction": fraction, "action": action})


def test_reduced_and_delayed_reduced() -> None:
    events = log(
        given(0, "F1"),
        gate(24, "F2", "reduce"),
        given(24, "F2", 0.5),
        gate(48, "F3", "delay"),
        given(60, "F3", 0.5),
    )
    assert fraction_path(events) == ("on_time", "reduced", "delayed_reduced")


def test_skip_then_go_on() -> None:
    events = log(given(0, "F1"), (24, "skip", {"fraction": "F2"}), given(48, "F3"))
    assert fraction_path(events) == ("on_time", "skipped", "on_time")


def test_death_while_held_ends_the_path() -> None:
    events = log(given(0, "F1"), gate(24, "F2", "delay"), (30, "death", {"cause": "CRS"}))
    assert fraction_path(events) == ("on_time", "died")


def test_run_ending_while_held_is_unresolved() -> None:
    events = log(given(0, "F1"), gate(24, "F2", "delay"), (900, "end", {"reason": "horizon"}))
    assert fraction_path(events) == ("on_time", "unresolved")


def test_stop_before_any_infusion() -> None:
    events = log((-20, "stop", {"fraction": "F1"}), (-20, "not_given", {"fraction": "F1"}))
    assert fraction_path(events) == ("stopped",)


def test_repeat_doses_are_not_in_the_path() -> None:
    events = log(
        given(0, "F1"), given(24, "F2"), given(48, "F3"), given(2000, "R1", phase="repeat")
    )
    events.append(make_event(3000, "stop", {"fraction": "R2"}))
    assert fraction_path(events) == ("on_time",) * 3


def test_path_is_a_small_hashable_tuple() -> None:
    path = fraction_path(committed_events("fractionated-crs-hold"))
    assert isinstance(path, tuple) and all(isinstance(w, str) for w in path)
    assert Counter([path, path])[path] == 2


# --- cohorts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def be02() -> tuple[Any, CohortSetup, list[list[Event]]]:
    loaded = load_protocol("cart19-be-02")
    setup = CohortSetup(seed=11)
    logs = [list(run_patient_result(loaded, setup, i).events) for i in range(150)]
    return loaded, setup, logs


def test_cohort_paths_agree_with_the_metrics(
    be02: tuple[Any, CohortSetup, list[list[Event]]],
) -> None:
    loaded, _, logs = be02
    planned = len(loaded.protocol.fractions)
    words = set(OUTCOMES)
    for events in logs:
        path = fraction_path(events)
        m = patient_metrics(events)
        assert set(path) <= words
        assert all(w not in ENDS_PATH for w in path[:-1])  # path-ending words come last
        assert len(path) == planned or path[-1] in ENDS_PATH
        given = sum(w in ("on_time", "delayed", "reduced", "delayed_reduced") for w in path)
        assert given == m["fractions_given"]
        assert (path[-1] == "stopped") == m["stopped"]
        delayed = sum(w.startswith("delayed") for w in path)
        # a hold that ends in a skip or stop counts as a hold but not as a delayed dose
        assert delayed <= m["holds"]
        if not {"skipped", "stopped", "died", "unresolved"} & set(path):
            assert delayed == m["holds"]


def test_path_counts_is_the_loop_over_patients(
    be02: tuple[Any, CohortSetup, list[list[Event]]],
) -> None:
    loaded, setup, logs = be02
    counts = path_counts(loaded, setup, len(logs))
    assert counts == Counter(fraction_path(ev) for ev in logs)
    assert path_counts(loaded, setup, len(logs)) == counts  # same seed, same counts


def check_tree(tree: PathTree, counts: Counter[FractionPath]) -> None:
    n = tree.n
    assert sum(node.count for node in tree.roots) == sum(counts.values()) == n
    ended_total = 0
    for _, node in tree.nodes():
        children = sum(c.count for c in node.children)
        ended = node.count - children
        assert ended == counts.get(node.path, 0)  # only complete paths end at a node
        ended_total += ended
        est = wilson(node.count, n)
        assert node.share == pytest.approx(est.value)
        if node.outcome in ENDS_PATH:
            assert not node.children
    assert ended_total == n
    # at each depth, the branches plus the paths already ended account for everyone
    depth_counts: Counter[int] = Counter()
    for depth, node in tree.nodes():
        depth_counts[depth] += node.count
    for depth in depth_counts:
        ended_before = sum(c for p, c in counts.items() if len(p) <= depth)
        assert depth_counts[depth] + ended_before == n


def test_tree_shares_add_up(be02: tuple[Any, CohortSetup, list[list[Event]]]) -> None:
    loaded, _, logs = be02
    counts = Counter(fraction_path(ev) for ev in logs)
    tree = path_tree(counts, len(logs), [f.id for f in loaded.protocol.fractions])
    check_tree(tree, counts)


def test_small_tree_exactly() -> None:
    counts = Counter({("on_time", "on_time"): 3, ("on_time", "stopped"): 1, ("stopped",): 1})
    tree = path_tree(counts, 5, ["F1", "F2"])
    assert [(n.fraction, n.outcome, n.count) for n in tree.roots] == [
        ("F1", "on_time", 4),
        ("F1", "stopped", 1),
    ]
    first = tree.roots[0]
    assert [(c.outcome, c.count) for c in first.children] == [("on_time", 3), ("stopped", 1)]
    assert first.children[0].share == pytest.approx(0.6)
    assert first.children[0].share_of_parent == pytest.approx(0.75)
    check_tree(tree, counts)
    lines = tree_lines(tree)
    assert lines[0].split()[0] == "branch"
    assert lines[1].startswith("F1 given on time")
    assert lines[2].startswith("├── F2 given on time")
    assert lines[3].startswith("└── F2 protocol stopped")
    assert lines[4].startswith("F1 protocol stopped")
    # numbers are right-aligned: every row's share column ends at the same place
    ends = {line.index(" %") for line in lines[1:]}
    assert len(ends) == 1


def test_tree_order_follows_the_vocabulary_not_the_size() -> None:
    counts = Counter({("stopped",): 9, ("delayed",): 5, ("on_time",): 1})
    tree = path_tree(counts, 15, ["F1"])
    assert [n.outcome for n in tree.roots] == ["on_time", "delayed", "stopped"]


def test_tree_rejects_more_paths_than_patients() -> None:
    with pytest.raises(ValueError, match="at least"):
        path_tree(Counter({("on_time",): 3}), 2, ["F1"])


def test_tree_json_carries_cis_and_flat_paths() -> None:
    counts = Counter({("on_time", "on_time"): 3, ("on_time", "stopped"): 1, ("stopped",): 1})
    data = tree_json(path_tree(counts, 5, ["F1", "F2"]), protocol="p", seed=3, population="x")
    assert (data["protocol"], data["seed"], data["n"]) == ("p", 3, 5)
    root = data["tree"][0]
    est = wilson(4, 5)
    assert (root["share"], root["ci_low"], root["ci_high"]) == pytest.approx(
        (0.8, est.ci_low, est.ci_high)
    )
    assert sorted((tuple(p["path"]), p["count"]) for p in data["paths"]) == sorted(counts.items())
    assert sum(p["share"] for p in data["paths"]) == pytest.approx(1.0)


# --- command line ---------------------------------------------------------------------------


def shares_by_level(nodes: Sequence[dict[str, Any]]) -> None:
    """Children plus the patients whose path ends here make up each node."""
    for node in nodes:
        children = node["children"]
        inside = sum(c["count"] for c in children)
        assert inside <= node["count"]
        assert node["ci_low"] <= node["share"] <= node["ci_high"]
        shares_by_level(children)


def test_cli_json() -> None:
    result = runner.invoke(
        app, ["paths", "cart19-be-02", "--patients", "60", "--seed", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["protocol"], data["seed"], data["n"]) == ("cart19-be-02", 4, 60)
    assert data["fractions"] == ["F1", "F2", "F3", "F4"]
    assert sum(node["count"] for node in data["tree"]) == 60
    assert sum(p["count"] for p in data["paths"]) == 60
    shares_by_level(data["tree"])
    again = runner.invoke(
        app, ["paths", "cart19-be-02", "--patients", "60", "--seed", "4", "--json"]
    )
    assert again.stdout == result.stdout


def test_cli_text_tree() -> None:
    result = runner.invoke(app, ["paths", "penn-split", "--patients", "40"])
    assert result.exit_code == 0, result.output
    assert "penn-split: decision paths of 40 virtual patients" in result.stdout
    assert "F1 given on time" in result.stdout
    assert "\x1b[" not in result.stdout  # plain text when not on a terminal


def test_cli_scenario_is_not_a_cohort() -> None:
    result = runner.invoke(app, ["paths", "fractionated-crs-hold", "--patients", "5"])
    assert result.exit_code == 2
    assert "is a scenario" in result.output
    assert "Traceback" not in result.output


def test_cli_unknown_protocol() -> None:
    result = runner.invoke(app, ["paths", "no-such-protocol", "--patients", "5"])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
