"""Outputs never destroy what is there (issue 18, item 1; issue 16, item 6).

Every writer of every command is tried against destinations it must refuse, before any
simulation (``run_course`` is replaced by a function that fails the test):

* a FIFO, a folder, a symbolic link (to a file, or dangling): ``PATH: not a regular
  file (...)`` / ``PATH: is a symbolic link``, exit 2, and the thing is still there as
  it was (a FIFO stays a FIFO: the rename over it used to replace it with a file);
* a folder that cannot be written: ``PATH: cannot write: REASON``, exit 2. The tests run
  as root, for whom ``chmod`` does not make a folder read-only; a path *under a regular
  file* (``blocker/out.csv``) gives ENOTDIR whoever runs it, and a folder where the
  probe's temporary file cannot be created is simulated by making ``os.open`` fail with
  EROFS there (what a read-only file system gives);
* an output that is one of the command's inputs, two outputs on one path, an output on
  another output's sidecar.

Then the writer itself: temporary names fit in 255 bytes (a 250-character output name
works, its sidecar shortened with a hash), the main file and its sidecar commit as a pair
(both new or both old), and two writers of one output do not mix their pairs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.errors import InputError
from sim.exports.atomic import AtomicFile
from sim.exports.destinations import NAME_MAX, check_outputs, sidecar_path
from sim.exports.provenance import read_sidecar, write_output
from sim.spec.load import builtin_dir

runner = CliRunner()
PROTOCOL = builtin_dir("protocol") / "cart19-be-02.yaml"

# every writer: (name, argv with OUT for the path, file extension)
WRITERS: list[tuple[str, list[str], str]] = [
    ("run --events", ["run", "cart19-be-02", "--events", "OUT"], ".csv"),
    ("cohort --csv", ["cohort", "cart19-be-02", "--patients", "2", "-q", "--csv", "OUT"], ".csv"),
    (
        "cohort --patients-out",
        ["cohort", "cart19-be-02", "--patients", "2", "-q", "--patients-out", "OUT"],
        ".csv",
    ),
    (
        "compare --events",
        ["compare", "cart19-be-02", "msk-19-28z", "--patients", "2", "-q", "--events", "OUT"],
        ".parquet",
    ),
    (
        "sweep --csv",
        [
            "sweep",
            "cart19-be-02",
            "--set",
            "fractions.0.dose.cells_per_kg=1e5,2e5",
            "--patients",
            "2",
            "-q",
            "--csv",
            "OUT",
        ],
        ".csv",
    ),
    ("plot -o", ["plot", "cart19-be-02", "-o", "OUT"], ".png"),
    ("plot -o (cohort)", ["plot", "cart19-be-02", "--patients", "2", "-o", "OUT"], ".svg"),
    ("report -o", ["report", "fractionated-crs-hold", "-o", "OUT"], ".html"),
    ("export -o", ["export", "cart19-be-02", "--format", "events", "-o", "OUT"], ".jsonl"),
]
IDS = [name for name, _, _ in WRITERS]


def _argv(argv: list[str], out: Path) -> list[str]:
    return [str(out) if a == "OUT" else a for a in argv]


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def errors(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def assert_refused(result: Result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert errors(result) == [f"error: {expected}"], result.output


@pytest.fixture
def no_simulation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any simulation fails the test: destinations must be refused before it."""

    def simulated(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a patient was simulated before the destination was checked")

    monkeypatch.setattr("sim.cohort.run_course", simulated)
    monkeypatch.setattr("sim.targets.run_course", simulated)


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- special files ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_fifo_is_refused_before_any_simulation_and_stays_a_fifo(
    tmp_path: Path, no_simulation: None, name: str, argv: list[str], ext: str
) -> None:
    fifo = tmp_path / f"pipe{ext}"
    os.mkfifo(fifo)
    result = invoke(*_argv(argv, fifo))
    assert_refused(result, f"{fifo}: not a regular file (a FIFO)")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert visible(tmp_path) == [fifo.name]


def test_cohort_csv_to_a_fifo_exits_2_and_the_fifo_stays(tmp_path: Path) -> None:
    """The issue's example, run for real (with simulation allowed)."""
    fifo = tmp_path / "full.csv"
    os.mkfifo(fifo)
    result = invoke("cohort", "cart19-be-02", "--patients", "10", "--csv", str(fifo))
    assert_refused(result, f"{fifo}: not a regular file (a FIFO)")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_folder_is_refused(
    tmp_path: Path, no_simulation: None, name: str, argv: list[str], ext: str
) -> None:
    folder = tmp_path / f"dir{ext}"
    folder.mkdir()
    assert_refused(invoke(*_argv(argv, folder)), f"{folder}: not a regular file (a folder)")
    assert folder.is_dir() and visible(folder) == []


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_symbolic_link_is_refused_and_left_as_it_was(
    tmp_path: Path, no_simulation: None, name: str, argv: list[str], ext: str, dangling: bool
) -> None:
    target = tmp_path / f"target{ext}"
    if not dangling:
        target.write_text("keep me\n")
    link = tmp_path / f"link{ext}"
    link.symlink_to(target.name)
    result = invoke(*_argv(argv, link))
    assert_refused(
        result,
        f"{link}: is a symbolic link; cartsim does not write through links (give its target)",
    )
    assert link.is_symlink() and os.readlink(link) == target.name
    assert dangling or target.read_text() == "keep me\n"


@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_sidecar_path_that_is_a_folder_is_refused_before_anything_is_written(
    tmp_path: Path, no_simulation: None, name: str, argv: list[str], ext: str
) -> None:
    out = tmp_path / f"out{ext}"
    side = sidecar_path(out)
    side.mkdir()
    assert_refused(invoke(*_argv(argv, out)), f"{side}: not a regular file (a folder)")
    assert visible(tmp_path) == [side.name]


# --- unwritable folders (issue 16, item 6) -----------------------------------------------


@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_path_under_a_regular_file_cannot_be_written(
    tmp_path: Path, no_simulation: None, name: str, argv: list[str], ext: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    out = blocker / f"out{ext}"
    assert_refused(invoke(*_argv(argv, out)), f"{out}: cannot write: Not a directory")
    assert visible(tmp_path) == ["blocker"]


@pytest.mark.parametrize(("name", "argv", "ext"), WRITERS, ids=IDS)
def test_a_read_only_folder_fails_with_its_reason_before_any_simulation(
    tmp_path: Path,
    no_simulation: None,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    argv: list[str],
    ext: str,
) -> None:
    """As on a read-only file system: creating any file in the folder gives EROFS."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == folder:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    out = folder / f"out{ext}"
    assert_refused(invoke(*_argv(argv, out)), f"{out}: cannot write: Read-only file system")
    assert visible(folder) == []


def test_a_missing_folder_is_named() -> None:
    with pytest.raises(InputError, match="no such folder: nowhere"):
        check_outputs({"--csv": Path("nowhere/out.csv")})


# --- inputs and outputs that collide -----------------------------------------------------


def test_an_output_may_not_be_an_input(tmp_path: Path, no_simulation: None) -> None:
    protocol = tmp_path / "p.csv"
    protocol.write_text(PROTOCOL.read_text(encoding="utf-8"))
    before = protocol.read_bytes()
    result = invoke("export", str(protocol), "--format", "events", "-o", str(protocol))
    assert result.exit_code == 2, result.output
    assert errors(result) == [
        f"error: {protocol}: --output would overwrite {protocol}, an input of this command"
    ]
    assert protocol.read_bytes() == before


def test_an_output_may_not_be_the_params_file(tmp_path: Path, no_simulation: None) -> None:
    params = tmp_path / "params.csv"
    params.write_text("not read\n")
    result = invoke(
        "cohort", "cart19-be-02", "--patients", "2", "--params", str(params), "--csv", str(params)
    )
    assert result.exit_code == 2, result.output
    assert "an input of this command" in errors(result)[0]
    assert params.read_text() == "not read\n"


def test_two_outputs_may_not_share_a_path(tmp_path: Path, no_simulation: None) -> None:
    out = tmp_path / "same.csv"
    result = invoke(
        "cohort", "cart19-be-02", "--patients", "2", "--csv", str(out),
        "--patients-out", str(out), "--events", str(out),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert errors(result) == [
        f"error: {out}: --csv and --patients-out name the same file; give each its own"
    ]
    assert visible(tmp_path) == []


def test_an_output_may_not_be_another_outputs_sidecar(tmp_path: Path, no_simulation: None) -> None:
    out = tmp_path / "m.csv"
    side = sidecar_path(out)
    result = invoke(
        "cohort", "cart19-be-02", "--patients", "2", "--csv", str(out), "--events", str(side)
    )
    assert result.exit_code == 2, result.output
    assert "name the same file" in errors(result)[0]


def test_the_same_file_by_two_spellings_is_one_file(tmp_path: Path, no_simulation: None) -> None:
    (tmp_path / "sub").mkdir()
    a = tmp_path / "x.csv"
    b = tmp_path / "sub" / ".." / "x.csv"
    with pytest.raises(InputError, match="name the same file"):
        check_outputs({"--csv": a, "--events": b})


# --- names near the limit ----------------------------------------------------------------


def test_a_250_character_output_name_works_with_a_shortened_sidecar(tmp_path: Path) -> None:
    out = tmp_path / ("m" * 246 + ".csv")
    result = invoke("cohort", "cart19-be-02", "--patients", "2", "-q", "--csv", str(out))
    assert result.exit_code == 0, result.output
    side = sidecar_path(out)
    assert len(side.name.encode()) <= NAME_MAX and side.name.endswith(".provenance.json")
    assert sorted(visible(tmp_path)) == sorted([out.name, side.name])
    assert read_sidecar(out)["output"]["file"] == out.name
    assert read_sidecar(out)["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_a_name_over_the_limit_is_refused_before_any_simulation(
    tmp_path: Path, no_simulation: None
) -> None:
    out = tmp_path / ("m" * 252 + ".csv")
    result = invoke("cohort", "cart19-be-02", "--patients", "2", "--csv", str(out))
    assert_refused(result, f"{out}: cannot write: File name too long")


# --- the pair: main file and sidecar -----------------------------------------------------


RECORD: dict[str, Any] = {"command": "test", "seed": 1}


def _pair(path: Path) -> tuple[bytes, dict[str, Any]]:
    return path.read_bytes(), json.loads(sidecar_path(path).read_text())


def test_a_failed_main_commit_puts_the_old_sidecar_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.csv"
    write_output(out, "old\n", RECORD, file_format="csv")
    before = _pair(out)
    real_replace = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst) == out:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(InputError, match="cannot write: Input/output error"):
        write_output(out, "new\n", RECORD, file_format="csv")
    assert _pair(out) == before
    assert visible(tmp_path) == sorted([out.name, sidecar_path(out).name])


def test_a_failed_first_commit_leaves_no_sidecar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.csv"
    real_replace = os.replace

    def failing(src: Any, dst: Any) -> None:
        if Path(dst) == out:
            raise OSError(errno.EIO, "Input/output error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(InputError):
        write_output(out, "new\n", RECORD, file_format="csv")
    assert visible(tmp_path) == []


def test_two_writers_of_one_output_do_not_mix_their_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer B runs its whole commit while writer A is between its two renames. With the
    folder lock B waits for A; without it A's main file lands over B's pair."""
    out = tmp_path / "m.csv"
    real_commit = AtomicFile.commit
    started: list[threading.Thread] = []

    def commit(self: AtomicFile) -> None:
        real_commit(self)
        if threading.current_thread().name == "A" and self.path == sidecar_path(out):
            b = threading.Thread(
                name="B", target=lambda: write_output(out, "B\n", RECORD, file_format="csv")
            )
            started.append(b)
            b.start()
            b.join(timeout=1.0)  # long enough for B to finish, if nothing holds it back

    monkeypatch.setattr(AtomicFile, "commit", commit)
    a = threading.Thread(
        name="A", target=lambda: write_output(out, "A\n", RECORD, file_format="csv")
    )
    a.start()
    a.join()
    started[0].join()
    data, side = _pair(out)
    assert side["output"]["sha256"] == hashlib.sha256(data).hexdigest(), data


def test_every_writer_gives_a_sidecar_that_matches_its_file(tmp_path: Path) -> None:
    """Plots, reports and sweep --csv included (they had none)."""
    for name, argv, ext in WRITERS:
        out = tmp_path / (name.replace(" ", "_").replace("(", "").replace(")", "") + ext)
        result = invoke(*_argv(argv, out))
        assert result.exit_code == 0, (name, result.output)
        side = read_sidecar(out)
        assert side["output"]["file"] == out.name, name
        assert side["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest(), name
        assert side["protocols"], name
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
