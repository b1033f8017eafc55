"""Outputs survive faults: a killed or interrupted cohort never leaves a truncated file.

Every output is written to a hidden temporary file beside its destination and renamed
into place only when complete. ``kill -9`` cannot run any clean-up, so its hidden
temporary file may stay behind, but the destination is either absent or the complete
old file; Ctrl-C removes the temporary files too.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.property.profiles import PROFILE, SCALES

LONG = ["cohort", "cart19-be-02", "--patients", "200000", "-q"]
SIGNAL_ROUNDS = max(1, round(SCALES[PROFILE]))
"""Rounds of each signal test: 1 per suite run, 10 in the thorough profile."""


def _default_sigint() -> None:
    # A shell that starts jobs in the background ignores SIGINT for them, and Python keeps
    # an ignored SIGINT ignored; restore the default so the child sees Ctrl-C as a user would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *LONG, *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """Wait for the child; on timeout kill it and close its pipes, then fail."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run did not stop within {timeout} s")


def _wait_for_temp(tmp_path: Path, proc: subprocess.Popen[str], name: str) -> None:
    """Wait until the run has written rows into the temporary file of ``name``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        temps = list(tmp_path.glob(f".{name}.*.tmp"))
        if temps and temps[0].stat().st_size > 0:
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()}")
        time.sleep(0.1)
    proc.kill()
    proc.communicate()
    pytest.fail("the run wrote nothing in 120 s")


def test_kill_9_mid_run_leaves_old_file_intact_and_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "patients.csv").write_text("the old, complete file\n")
    proc = _start(
        tmp_path,
        "--patients-out",
        "patients.csv",
        "--events",
        "events.csv",
        "--csv",
        "metrics.csv",
    )
    _wait_for_temp(tmp_path, proc, "events.csv")  # events arrive fastest: ~50 rows a patient
    proc.send_signal(signal.SIGKILL)
    _finish(proc, 30)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "patients.csv").read_text() == "the old, complete file\n"
    assert not (tmp_path / "events.csv").exists()
    assert not (tmp_path / "metrics.csv").exists()
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["patients.csv"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_removes_temporary_files(tmp_path: Path, workers: str) -> None:
    proc = _start(tmp_path, "--workers", workers, "--events", "events.parquet")
    _wait_for_temp(tmp_path, proc, "events.parquet")
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = _finish(proc, 60)
    assert time.monotonic() - started < 20
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")],
    ids=["SIGTERM", "SIGHUP"],
)
def test_sigterm_and_sighup_stop_like_ctrl_c(
    tmp_path: Path, workers: str, signum: int, code: int, name: str
) -> None:
    """What ``timeout``, a batch scheduler or a closed terminal send: workers stopped,
    temporary files removed, exit 128 + the signal's number, a one-line message; at a
    random moment of the run, ``SIGNAL_ROUNDS`` times."""
    psutil = pytest.importorskip("psutil")
    for _ in range(SIGNAL_ROUNDS):
        proc = _start(
            tmp_path, "--workers", workers, "--events", "events.parquet", "--csv", "m.csv"
        )
        _wait_for_temp(tmp_path, proc, "events.parquet")
        time.sleep(random.uniform(0.0, 1.0))  # a random moment of the run, not a timing check
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signum)
        out, err = _finish(proc, 60)
        assert proc.returncode == code, err
        assert f"terminated ({name})" in err and "Traceback" not in err
        assert out == ""
        assert list(tmp_path.iterdir()) == []
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], f"orphan processes: {alive}"
