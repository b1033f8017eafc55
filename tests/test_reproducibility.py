"""Same inputs give byte-identical JSON, whatever the process's hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run_json(hash_seed: str, target: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    out = subprocess.run(
        [sys.executable, "-c", "from sim.cli import app; app()", "run", target, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


@pytest.mark.parametrize("target", ["fractionated-crs-hold", "car-dli-gvhd"])
def test_json_is_identical_across_hash_seeds(target: str) -> None:
    outputs = {_run_json(seed, target) for seed in ("0", "1", "12345")}
    assert len(outputs) == 1
    assert '"kind": "infusion"' in outputs.pop()


def _cohort_json(hash_seed: str, workers: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    args = ["compare", "cart19-be-02", "penn-split", "--patients", "260", "--seed", "5"]
    out = subprocess.run(
        [sys.executable, "-m", "sim", *args, "--json", "--no-timing", "--workers", workers],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_cohort_json_is_identical_across_runs_hash_seeds_and_workers() -> None:
    outputs = {
        _cohort_json("0", "1"),
        _cohort_json("0", "1"),
        _cohort_json("777", "1"),
        _cohort_json("777", "2"),
    }
    assert len(outputs) == 1
    assert '"protocol": "penn-split"' in outputs.pop()
