"""Parallel and distributed cohorts give the output of the serial run, byte for byte.

Patients run in fixed chunks (``sim.cohort.CHUNK``) merged in patient order, so the
worker count and the backend (local processes, a Dask cluster) cannot change results.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app
from sim.cohort import CHUNK, ChunkResult, CohortSetup, compare, run_chunk
from sim.spec.load import load_protocol
from sim.tally import ArmTally, PairTally

runner = CliRunner()
ARMS = ["cart19-be-02", "msk-19-28z"]
N = 2 * CHUNK + 37  # three chunks, the last one short


def _cli_json(*extra: str) -> str:
    args = ["compare", *ARMS, "--patients", str(N), "--seed", "11", "--json", "--no-timing"]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_two_workers_give_byte_identical_json() -> None:
    serial = _cli_json("--workers", "1")
    parallel = _cli_json("--workers", "2")
    assert serial == parallel
    data = json.loads(serial)
    assert data["run"]["patients"] == N and "wall_s" not in data["run"]
    assert all(arm["n"] == N for arm in data["arms"])


def test_timing_is_reported_unless_asked_not_to() -> None:
    result = runner.invoke(app, ["cohort", "cart19-be-02", "--patients", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["run"]["wall_s"] >= 0


def test_merge_of_chunks_equals_one_chunk() -> None:
    loaded = [load_protocol(a) for a in ARMS]
    setup = CohortSetup(seed=4)
    whole = run_chunk(loaded, setup, 0, 90)
    merged = ChunkResult(0, 0, [ArmTally(), ArmTally()], [PairTally()], 0)
    for a, b in ((0, 7), (7, 50), (50, 90)):
        merged.merge(run_chunk(loaded, setup, a, b))
    assert merged.sim_events == whole.sim_events
    for mine, ref in zip(merged.arms, whole.arms, strict=True):
        assert mine.metrics() == ref.metrics()
        assert mine.paths == ref.paths
    assert merged.pairs[0].tables == whole.pairs[0].tables
    assert merged.pairs[0].metrics()["cells_per_kg_delivered_mean"].value == pytest.approx(
        whole.pairs[0].metrics()["cells_per_kg_delivered_mean"].value, rel=1e-12
    )


def test_bad_worker_count_is_a_message() -> None:
    result = runner.invoke(app, ["cohort", "cart19-be-02", "--workers", "0"])
    assert result.exit_code == 2
    assert "--workers" in result.output


def test_dask_local_cluster_gives_the_local_result() -> None:
    distributed = pytest.importorskip("distributed")
    loaded = [load_protocol(a) for a in ARMS]
    setup = CohortSetup(seed=11)
    local = compare(loaded, setup, N).to_json(timing=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = compare(loaded, setup, N, scheduler=cluster.scheduler_address).to_json(
            timing=False
        )
    assert remote == local


def test_unreachable_scheduler_is_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    monkeypatch.setattr("sim.workers.CONNECT_TIMEOUT_S", 1)
    result = runner.invoke(
        app,
        ["cohort", "cart19-be-02", "--patients", "5", "--scheduler", "tcp://127.0.0.1:9"],
    )
    assert result.exit_code == 2, result.output
    assert "--scheduler" in result.output


@pytest.mark.parametrize("fault", ["workers", "scheduler"])
def test_a_lost_cluster_ends_the_run_with_one_line_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Every worker, or the scheduler, goes away mid-run: one error line, exit 1, within
    the documented bound (here shortened), no temporary file (issue 18, Dask faults)."""
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr("sim.workers.POLL_S", 0.2)
    monkeypatch.setattr("sim.workers.NO_WORKERS_S", 1.0)
    out = tmp_path / "events.parquet"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:

        def break_it() -> None:
            for _ in range(1200):  # until the run has written rows, at most 2 minutes
                temps = list(tmp_path.glob(".events.parquet.*.tmp"))
                if temps and temps[0].stat().st_size > 0:
                    break
                time.sleep(0.1)
            if fault == "workers":
                cluster.scale(0)
            else:
                cluster.close()

        breaker = threading.Thread(target=break_it)
        breaker.start()
        result = runner.invoke(
            app,
            ["cohort", "cart19-be-02", "--patients", "20000", "-q",
             "--scheduler", cluster.scheduler_address, "--events", str(out)],
        )  # fmt: skip
        breaker.join()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --scheduler "), result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("address", ["nonsense", "tcp://", "tcp://host:99999", "http://x:1"])
def test_a_malformed_scheduler_address_fails_at_once(address: str) -> None:
    result = runner.invoke(
        app, ["cohort", "cart19-be-02", "--patients", "2", "--scheduler", address]
    )
    assert result.exit_code == 2, result.output
    assert "expected tcp://HOST:PORT" in result.output


def test_a_peer_that_never_answers_is_a_message_not_a_hang(tmp_path: Path) -> None:
    """Something accepts the connection but is no scheduler: distributed used to wait
    for minutes and print an "Exception ignored ... TimeoutError" traceback at exit. Now
    one error line, exit 2, within the connect timeout (20 s) plus 5 s."""
    pytest.importorskip("distributed")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sim", "cohort", "cart19-be-02", "--patients", "2", "-q",
             "--scheduler", f"tcp://127.0.0.1:{port}"],
            cwd=tmp_path, capture_output=True, text=True, timeout=150,
        )  # fmt: skip
    finally:
        listener.close()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.startswith(f"error: --scheduler: cannot reach tcp://127.0.0.1:{port}: ")
    assert list(tmp_path.iterdir()) == []
