"""Calibration plumbing: the targets file, pass rules, and the fit script's bookkeeping."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from sim.calibration import Target, check_value, load_targets
from sim.model.parameters import DEFAULT_FILE
from sim.spec.load import load_protocol

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "calibration" / "targets.yaml"


def _target(**changes: object) -> Target:
    data: dict[str, object] = {
        "id": "t",
        "protocol": "cart19-be-02",
        "population": "adult-rr-ball",
        "endpoint": "cr_rate",
        "value": 0.5,
        "ci_low": 0.4,
        "ci_high": 0.6,
        "unit": "fraction",
        "source": "s",
        "status": "V",
    }
    data.update(changes)
    return Target.model_validate(data)


def test_every_target_names_a_loadable_protocol_and_a_pass_rule() -> None:
    targets, path = load_targets()
    for t in targets.targets:
        load_protocol(t.protocol, base=path.parent)
        low, high, _ = t.bounds()
        assert low is not None or high is not None, t.id


@pytest.mark.skipif(not SHARED.exists(), reason="the shared reference is beside the repo only")
def test_targets_copy_the_shared_figures_exactly() -> None:
    shared = {t["id"]: t for t in yaml.safe_load(SHARED.read_text())}
    ours, _ = load_targets()
    for t in (t for t in ours.targets if not t.added_here):
        ref = shared[t.id]
        assert (t.endpoint, t.value, t.ci_low, t.ci_high) == (
            ref["endpoint"],
            ref["value"],
            ref["ci_low"],
            ref["ci_high"],
        ), t.id


def test_pass_rules() -> None:
    assert check_value(_target(), 0.45) and not check_value(_target(), 0.61)
    one_sided = _target(endpoint="os_median_months", ci_high=None, value=20, ci_low=8.7)
    assert check_value(one_sided, 30.0) and not check_value(one_sided, 8.0)
    assert check_value(one_sided, None)  # median not reached within follow-up: beyond 8.7
    two_sided = _target(endpoint="os_median_months", value=12, ci_low=8, ci_high=20)
    assert not check_value(two_sided, None)
    tol = _target(ci_low=None, ci_high=None, tolerance={"factor": 1.5}, value=100)
    assert check_value(tol, 149) and not check_value(tol, 151) and not check_value(tol, 66)
    with pytest.raises(ValueError, match="tolerance"):
        _target(ci_low=None, ci_high=None)


def test_fit_script_frees_exactly_the_parameters_marked_fitted() -> None:
    spec = importlib.util.spec_from_file_location("fit_model", ROOT / "scripts" / "fit_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fit_model"] = module
    spec.loader.exec_module(module)
    marked = set()
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing blocks
    for line in DEFAULT_FILE.read_text().splitlines():
        if not (m := re.match(r"^( *)([a-z_0-9-]+):(.*)$", line)):
            continue
        indent, key, rest = len(m.group(1)), m.group(2), m.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        if "# FITTED" in rest and stack:
            marked.add((".".join(k for _, k in stack), key))
        if not rest.strip() or rest.strip().startswith("#"):
            stack.append((indent, key))
    assert marked == {(s, k) for s, k, _ in module.FREE}
    assert set(module.START) == marked
