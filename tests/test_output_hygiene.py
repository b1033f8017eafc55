"""What reaches a terminal or a spreadsheet cannot act on it (issue 18, item 6).

* Text read from a file cannot hold control characters: YAML escapes (``"\\e[31m"``,
  ``"\\x1b"``, ``"\\u009b"``) and ``!!binary`` values are refused at load time with file
  and line, so no protocol title, rule reason or name can move a terminal's cursor;
  error lines escape control characters in whatever they show (file names included).
* CSV text cells that start with ``=``, ``+``, ``-``, ``@``, tab or CR get a leading
  apostrophe (OWASP's advice against CSV injection), numbers are never touched; the
  comparison and sweep CSVs follow the same rule (docs/exports.md).
* HTML escapes: kept, tested in ``tests/test_html_report.py``
  (``test_text_is_escaped``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sim.cli import app
from sim.exports.tables import Column, TableWriter, spreadsheet_safe
from sim.report.cohort_table import comparison_csv
from sim.spec.load import builtin_dir

runner = CliRunner()
PROTOCOL = (builtin_dir("protocol") / "cart19-be-02-resume.yaml").read_text(encoding="utf-8")
TITLE = "title: CART19-BE-02 (hold-then-resume reading) — ARI-0001, 4 gated fractions"
REASON = "reason: CRS or ICANS present - hold until it resolves"


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


@pytest.mark.parametrize(
    "value",
    ['"\\e[31mred"', '"\\x1b]0;owned\\x07"', '"\\u009b2J"', '"a\\rb"', "!!binary G1szMW0="],
)
def test_control_characters_from_files_never_reach_the_terminal(tmp_path: Path, value: str) -> None:
    assert TITLE in PROTOCOL
    path = tmp_path / "p.yaml"
    path.write_text(PROTOCOL.replace(TITLE, f"title: {value}"))
    line = PROTOCOL.splitlines().index(TITLE) + 1
    for command in (["run", str(path)], ["check", str(path)], ["explain", str(path)]):
        result = invoke(*command)
        assert result.exit_code == 2, result.output
        assert "\x1b" not in result.output and "\x9b" not in result.output
        assert "\r" not in result.output
        assert result.output.startswith(f"error: {path}:{line}: "), result.output


def test_spreadsheet_safe_prefixes_formulas_and_leaves_numbers() -> None:
    assert spreadsheet_safe('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert spreadsheet_safe("+cmd") == "'+cmd"
    assert spreadsheet_safe("-2+3") == "'-2+3"
    assert spreadsheet_safe("@SUM(A1)") == "'@SUM(A1)"
    assert spreadsheet_safe("\tx") == "'\tx"
    assert spreadsheet_safe("-1.5") == "-1.5"
    assert spreadsheet_safe("+3") == "+3"
    assert spreadsheet_safe("plain - text") == "plain - text"


def test_event_csv_neutralises_formulas_from_the_protocol_file(tmp_path: Path) -> None:
    assert REASON in PROTOCOL
    path = tmp_path / "p.yaml"
    path.write_text(PROTOCOL.replace(REASON, 'reason: "=HYPERLINK(\\"http://x\\",\\"y\\")"'))
    out = tmp_path / "events.csv"
    result = invoke("run", str(path), "--events", str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.read_text().splitlines()))
    reasons = {row["reason"] for row in rows}
    assert not any(r.startswith(("=", "+", "-", "@")) for r in reasons)
    times = [row["time_h"] for row in rows]
    assert any(t.startswith("-") for t in times)  # negative numbers untouched (LD days)


def test_table_writer_touches_text_cells_only(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    columns = [Column("text", "str"), Column("number", "float"), Column("count", "int")]
    with TableWriter(out, columns, {}) as writer:
        writer.write({"text": "-x", "number": -2.5, "count": -3})
        writer.write({"text": "@y", "number": 1.0, "count": 4})
    lines = out.read_text().splitlines()
    assert lines[1:] == ["'-x,-2.5,-3", "'@y,1.0,4"]


def test_comparison_csv_neutralises_text_cells() -> None:
    data = {
        "arms": [
            {
                "protocol": "=evil",
                "metrics": {
                    "m": {"value": -0.5, "ci_low": -1.0, "ci_high": 0.0, "n": 3, "method": "@x"}
                },
            }
        ],
        "differences": [],
    }
    rows = list(csv.reader(io.StringIO(comparison_csv(data))))
    assert rows[1] == ["'=evil", "m", "-0.5", "-1.0", "0.0", "3", "'@x"]
