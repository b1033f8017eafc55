"""Every file input is bounded and stays where it should (issue 18, item 4).

* ``--params FILE`` is read like a protocol file: a regular file (not a device, FIFO or
  folder) of at most 2,000,000 bytes (``--params /dev/zero`` used to be read until the
  kernel killed cartsim at 24 GB);
* a calibration targets file names its protocols by built-in id or by a path inside its
  own folder: absolute paths, ``..`` and links pointing out are refused, and the check is
  made on the opened file (a link swapped in between cannot lead out);
* a problem quotes at most one line of input, truncated, control characters escaped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.errors import InputError, quoted
from sim.spec import load as spec_load
from sim.spec.load import MAX_FILE_BYTES, builtin_dir, load_protocol, read_input

runner = CliRunner()
PROTOCOL = (builtin_dir("protocol") / "cart19-be-02.yaml").read_text(encoding="utf-8")
SECRET = "root:SECRET-HASH:19000:0:99999:7:::\nsecond line of the secret\n"


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def errors(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def assert_input_error(result: Result) -> list[str]:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return errors(result)


# --- --params -------------------------------------------------------------------------


def test_params_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    result = invoke("cohort", "cart19-be-02", "--patients", "2", "--params", str(fifo))
    lines = assert_input_error(result)
    assert lines == [f"error: {fifo}: is not a regular file (a device, pipe or socket?)"]


def test_params_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "params.yaml"
    with big.open("wb") as fh:  # sparse: takes no room, reads as 100 MB of zeros
        fh.truncate(100_000_000)
    result = invoke("calibrate", "--patients", "2", "--params", str(big))
    lines = assert_input_error(result)
    assert lines == [f"error: {big}: file is 100000000 bytes; the limit is {MAX_FILE_BYTES}"]


def test_params_folder_is_refused(tmp_path: Path) -> None:
    result = invoke("paths", "cart19-be-02", "--patients", "2", "--params", str(tmp_path))
    assert assert_input_error(result) == [f"error: {tmp_path}: is a folder, not a file"]


# --- calibration targets -------------------------------------------------------------


def _targets(folder: Path, protocol: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  - id: t1\n"
        f"    protocol: {protocol}\n"
        "    population: adult-rr-ball\n"
        "    endpoint: cr_mrd_neg_d28_rate\n"
        "    value: 0.8\n"
        "    tolerance: {abs: 0.5}\n"
        "    unit: proportion\n"
        "    source: test\n"
        "    status: V\n"
    )
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "outside" / "shadow.yaml"
    path.parent.mkdir()
    path.write_text(SECRET)
    return path


@pytest.mark.parametrize("how", ["absolute", "dot-dot", "link"])
def test_a_targets_file_cannot_name_a_file_outside_its_folder(
    tmp_path: Path, secret: Path, how: str
) -> None:
    folder = tmp_path / "study"
    if how == "absolute":
        reference = str(secret)
    elif how == "dot-dot":
        reference = "../outside/shadow.yaml"
    else:
        folder.mkdir()
        (folder / "link.yaml").symlink_to(secret)
        reference = "link.yaml"
    targets = _targets(folder, reference)
    result = invoke("calibrate", "--targets", str(targets), "--patients", "2", "-q")
    lines = assert_input_error(result)
    assert len(lines) == 1 and "target t1: protocol:" in lines[0], lines
    assert "SECRET" not in result.output and "second line" not in result.output


def test_a_targets_file_may_name_a_protocol_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    targets = _targets(folder, "mine.yaml")
    (folder / "mine.yaml").write_text(PROTOCOL)
    result = invoke("calibrate", "--targets", str(targets), "--patients", "2", "-q")
    assert result.exit_code == 0, result.output


def test_containment_is_checked_on_the_opened_file(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A link swapped in after the path check and before the open: the file actually
    opened is outside, and is refused (the old check looked at the path only)."""
    folder = tmp_path / "study"
    folder.mkdir()
    inside = folder / "mine.yaml"
    inside.write_text(PROTOCOL)
    real_open = os.open

    def swap_then_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if Path(os.fsdecode(path)) == inside and not inside.is_symlink():  # type: ignore[arg-type]
            inside.unlink()
            inside.symlink_to(secret)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(spec_load.os, "open", swap_then_open)
    with pytest.raises(InputError) as exc:
        load_protocol("mine.yaml", base=folder)
    (problem,) = exc.value.problems
    assert problem.message == f"leads outside the folder {folder}"


def test_read_input_reads_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("a: 1\n")
    assert read_input(path, "a.yaml", inside=tmp_path) == b"a: 1\n"


# --- what an error quotes ------------------------------------------------------------


def test_quoted_input_is_one_short_line_with_controls_escaped() -> None:
    text = "first\x1b[31m line\nsecond line\n" + "x" * 500
    shown = quoted(text)
    assert "\n" not in shown and "\x1b" not in shown and "\\x1b" in shown
    assert len(shown) <= 80 + 5 and shown.endswith("...'")


def test_a_wrong_type_quotes_a_bounded_single_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    many = "\n".join(f"  line {i} of a long text" for i in range(200))
    calendar = "calendar:\n  anchor_day: 0\n  infusion_hour: 10\n"
    assert calendar in PROTOCOL
    path.write_text(PROTOCOL.replace(calendar, f"calendar: |\n{many}\n"))
    result = invoke("check", str(path))
    lines = assert_input_error(result)
    assert len(lines) == 1, lines
    assert "line 0" in lines[0] and "line 5 " not in lines[0] and len(lines[0]) < 300
    assert len(result.output.splitlines()) == 1


def test_an_error_escapes_control_characters_in_what_it_shows(tmp_path: Path) -> None:
    name = str(tmp_path / "bad\x1b[2Jname.yaml")
    result = invoke("run", name)
    lines = assert_input_error(result)
    assert "\x1b" not in result.output
    assert lines == [f"error: {tmp_path}/bad\\x1b[2Jname.yaml: no such file"]
