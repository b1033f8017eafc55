"""docs/exports.md says what the program writes: its column tables are the files' headers."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sim.cli import app

DOC = (Path(__file__).resolve().parents[1] / "docs" / "exports.md").read_text(encoding="utf-8")


def documented_columns(section: str) -> list[str]:
    """The column names of the table under the heading ``## {section}``, in order."""
    body = DOC.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \| (?:str|int|float|bool) \|", body, flags=re.M)


def written(tmp_path: Path, *args: str) -> Path:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return tmp_path / next(a for a in args if a.startswith(str(tmp_path)))


def csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_run_events_writes_the_documented_event_table(tmp_path: Path, suffix: str) -> None:
    out = written(tmp_path, "run", "fractionated-crs-hold", "--events", f"{tmp_path}/e{suffix}")
    if suffix == ".csv":
        header = csv_header(out)
    else:
        header = list(json.loads(out.read_text(encoding="utf-8").splitlines()[0]))
    assert len(header) > 4
    assert header == documented_columns("The event table")


def test_the_docs_say_run_events_csv_is_the_event_table() -> None:
    (row,) = [line for line in DOC.splitlines() if line.startswith("| `cartsim run TARGET")]
    assert "[event table]" in row and "`.csv`" in row
    assert "compact layout" not in DOC.lower()


@pytest.mark.parametrize(
    ("file_format", "section"),
    [
        ("events", "The event table"),
        ("patients", "The patient table"),
        ("nonmem", "The NONMEM-style dataset"),
    ],
)
def test_export_writes_the_documented_columns(
    tmp_path: Path, file_format: str, section: str
) -> None:
    out = written(
        tmp_path, "export", "cart19-be-02", "--format", file_format, "-o", f"{tmp_path}/x.csv"
    )
    assert csv_header(out) == documented_columns(section)
