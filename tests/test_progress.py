"""Progress of commands that simulate more than one patient: a bar on stderr on a terminal,
nothing when stderr is piped or with --quiet, and it reaches its total."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import sim.report.progress as progress_module
from sim.cli import app
from sim.report.progress import progress_bar

runner = CliRunner()
PLOT = ["plot", "cart19-be-02"]
REPORT = ["report", "cart19-be-02"]
EXPORT_EVENTS = ["export", "cart19-be-02", "--format", "events"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_draws_on_a_terminal_stderr_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for stderr, enabled, draws in (
        (Terminal(), True, True),
        (Terminal(), False, False),
        (io.StringIO(), True, False),
    ):
        monkeypatch.setattr(sys, "stderr", stderr)
        with progress_bar(3, "plot", enabled=enabled) as advance:
            for _ in range(3):
                advance(1)
        assert ("plot" in stderr.getvalue()) is draws


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every progress bar a command opens: its total, label, whether enabled, steps made."""
    opened: list[dict[str, Any]] = []

    @contextmanager
    def spy(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
        bar = {"total": total, "label": label, "enabled": enabled, "done": 0}
        opened.append(bar)

        def advance(k: int) -> None:
            bar["done"] += k

        yield advance

    monkeypatch.setattr(progress_module, "progress_bar", spy)
    return opened


@pytest.mark.parametrize(
    ("args", "label", "total"),
    [
        ([*PLOT, "penn-split", "--patients", "6", "-o", "c.png"], "plot", 12),
        ([*PLOT, "--patients", "5", "--figure", "doses", "-o", "c.svg"], "plot", 5),
        ([*REPORT, "penn-split", "--patients", "6", "-o", "r.html"], "report", 18),
        ([*EXPORT_EVENTS, "--patients", "7", "-o", "e.csv"], "export", 7),
    ],
)
@pytest.mark.parametrize("quiet", [False, True])
def test_commands_with_several_patients_show_progress_to_the_total(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bars: list[dict[str, Any]],
    args: list[str],
    label: str,
    total: int,
    quiet: bool,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args + (["--quiet"] if quiet else []))
    assert result.exit_code == 0, result.output
    assert bars == [{"total": total, "label": label, "enabled": not quiet, "done": total}]


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "cart19-be-02", "-o", "t.png"],
        ["report", "fractionated-crs-hold", "-o", "r.html"],
        ["export", "cart19-be-02", "--format", "nonmem", "-o", "d.csv"],
        ["export", "cart19-be-02", "--format", "nonmem", "--patient", "3", "-o", "d.csv"],
    ],
)
def test_one_patient_shows_no_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bars: list[dict[str, Any]], args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert all(not bar["enabled"] for bar in bars)


EXPORT = ["export", "cart19-be-02", "--format", "patients", "--patients", "30", "-o", "p.csv"]


def _stderr_on_a_terminal(tmp_path: Path, *extra: str) -> str:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sim", *EXPORT, *extra],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=dict(os.environ, TERM="xterm"),  # rich draws no bar on a 'dumb' terminal
            timeout=300,
            check=True,
        )
        os.close(follower)
        assert b"wrote 30 rows" in done.stdout
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(leader)


def test_the_installed_command_draws_on_a_terminal_and_not_when_piped(tmp_path: Path) -> None:
    assert "export" in _stderr_on_a_terminal(tmp_path)
    assert "export" not in _stderr_on_a_terminal(tmp_path, "--quiet")
    piped = subprocess.run(
        [sys.executable, "-m", "sim", *EXPORT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert piped.stderr == ""
