"""Streaming tables: CSV, JSON lines or Parquet, chosen by the file's extension.

:class:`TableWriter` takes rows one at a time and writes them in batches, so memory does
not grow with the number of rows (Parquet: one row group per batch, through
``pyarrow.parquet.ParquetWriter``). The file is written atomically and gets its
provenance sidecar on success (:mod:`sim.exports.provenance`).

Cell values are typed by column, so that the three formats hold the same table and the
same input gives the same bytes:

=========  ==============================  =================  ==============
type       CSV                             JSON lines         Parquet
=========  ==============================  =================  ==============
``str``    the text                        string             string
``int``    decimal digits                  number             int64
``float``  shortest round-trip (``repr``)  number (``repr``)  float64
``bool``   ``true`` / ``false``            true / false       bool
missing    empty cell                      null               null
=========  ==============================  =================  ==============

A column's type is declared (:class:`Column`) or, if not, taken from the first non-missing
value in the first batch; a column missing from the whole first batch is ``str``. A later
value of another type is an error (declare the column). Non-finite floats are errors.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TextIO

import numpy as np

from sim.errors import InputError
from sim.exports.atomic import AtomicFile, cannot_write
from sim.exports.provenance import PARQUET_KEY, commit_with_sidecar, provenance_json

ColumnType = Literal["str", "int", "float", "bool"]
FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
BATCH_ROWS = 4096


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its name, its type (None: inferred) and what it holds."""

    name: str
    type: ColumnType | None = None
    doc: str = ""


def table_format(path: Path, option: str, accepted: Sequence[str] = tuple(FORMATS)) -> str:
    """The format named by ``path``'s extension, or an error naming the accepted ones."""
    suffix = path.suffix.lower()
    if suffix not in accepted:
        got = f"'{suffix}'" if suffix else "no extension"
        raise InputError.single(
            str(path),
            f"writes {', '.join(accepted)} files (got {got})",
            field=option,
        )
    return FORMATS[suffix]


def _infer(values: Sequence[Any]) -> ColumnType:
    for value in values:
        if value is None:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, float):
            return "float"
        return "str"
    return "str"


def cell(value: Any, kind: ColumnType, name: str) -> Any:
    """``value`` as a ``kind`` cell (None stays None); TypeError/ValueError if it is not one."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "int" and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"column {name!r}: {value!r} is not a finite number")
        return number
    raise TypeError(f"column {name!r} holds {kind} values; cannot store {value!r}")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """A text cell that a spreadsheet shows as text, never runs as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading apostrophe
    (OWASP's advice against CSV injection; spreadsheets hide the apostrophe), unless the
    whole text is a plain number (``-1.5``), which is left alone. Numeric columns are
    never touched: this applies to text cells only.
    """
    if not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


class _SafeCsvWriter:
    """``csv.writer`` whose text cells go through :func:`spreadsheet_safe`."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle, lineterminator="\n")

    def writerow(self, row: Sequence[Any]) -> None:
        self._writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in row])


def safe_csv_writer(handle: TextIO) -> _SafeCsvWriter:
    """A CSV writer (``\\n`` line ends) for hand-built tables, spreadsheet-safe like
    :class:`TableWriter`'s."""
    return _SafeCsvWriter(handle)


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return str(value)


class TableWriter:
    """Write a table row by row to ``path`` (.csv, .jsonl or .parquet); use it in ``with``.

    Rows are mappings from column name to value; a missing column is written as missing,
    a key that is not a column is an error (a bug in the caller). Bad paths raise
    :class:`~sim.errors.InputError` at construction, before any work.
    """

    def __init__(
        self,
        path: Path,
        columns: Sequence[str | Column],
        provenance: Mapping[str, Any],
        *,
        option: str = "output",
        batch_rows: int = BATCH_ROWS,
        accepted: Sequence[str] = tuple(FORMATS),
    ) -> None:
        self.format = table_format(path, option, accepted)
        self.columns = tuple(c if isinstance(c, Column) else Column(c) for c in columns)
        self.names = tuple(c.name for c in self.columns)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate column names in {self.names}")
        if batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")
        self.path = path
        self.option = option
        self.rows = 0
        self._provenance = dict(provenance)
        provenance_json(self._provenance)  # JSON-ready, or fail now
        self._batch_rows = batch_rows
        self._known = frozenset(self.names)
        self._file = AtomicFile(path, option=option)
        self._pending: list[Mapping[str, Any]] = []
        self._types: tuple[ColumnType, ...] | None = None
        self._text: TextIO | None = None
        self._csv: Any = None
        self._parquet: Any = None
        self._open = False

    # context ------------------------------------------------------------------------
    def __enter__(self) -> TableWriter:
        temp = self._file.create()
        self._open = True
        if self.format in ("csv", "jsonl"):
            try:
                self._text = temp.open("w", encoding="utf-8", newline="")
            except OSError as exc:
                self._file.discard()
                raise cannot_write(self.path, exc) from None
            if self.format == "csv":
                self._csv = csv.writer(self._text, lineterminator="\n")
                self._csv.writerow(self.names)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        if exc_type is not None:
            self._close(quiet=True)
            self._file.discard()
            return
        try:
            self._flush()
            self._close(quiet=False)
        except BaseException as error:
            self._close(quiet=True)
            self._file.discard()
            if isinstance(error, OSError):
                raise cannot_write(self.path, error) from None
            raise
        commit_with_sidecar(
            self._file,
            self._provenance,
            file_format=self.format,
            rows=self.rows,
            columns=self.names,
        )

    # rows ---------------------------------------------------------------------------
    def write(self, row: Mapping[str, Any]) -> None:
        if not self._open:
            raise RuntimeError("TableWriter.write() outside its 'with' block")
        unknown = [key for key in row if key not in self._known]
        if unknown:
            raise ValueError(f"{self.path.name}: not columns of this table: {sorted(unknown)}")
        self._pending.append(row)
        self.rows += 1
        if len(self._pending) >= self._batch_rows:
            try:
                self._flush()
            except OSError as exc:
                raise cannot_write(self.path, exc) from None

    def write_all(self, rows: Any) -> None:
        for row in rows:
            self.write(row)

    def _resolve_types(self) -> tuple[ColumnType, ...]:
        return tuple(
            c.type if c.type is not None else _infer([r.get(c.name) for r in self._pending])
            for c in self.columns
        )

    def _flush(self) -> None:
        if self._types is None:
            self._types = self._resolve_types()
        types = self._types
        batch = [
            [cell(row.get(name), kind, name) for name, kind in zip(self.names, types, strict=True)]
            for row in self._pending
        ]
        self._pending = []
        if self.format == "csv":
            self._csv.writerows([csv_text(v) for v in record] for record in batch)
        elif self.format == "jsonl":
            assert self._text is not None
            self._text.writelines(
                json.dumps(
                    dict(zip(self.names, record, strict=True)),
                    ensure_ascii=False,
                    allow_nan=False,
                    separators=(",", ":"),
                )
                + "\n"
                for record in batch
            )
        else:
            self._write_parquet(batch, types)

    def _write_parquet(self, batch: list[list[Any]], types: tuple[ColumnType, ...]) -> None:
        # imported by name: pyarrow ships no type information (mypy sees Any either way)
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")

        arrow_types = {
            "str": pa.string(),
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
        }
        if self._parquet is None:
            schema = pa.schema(
                [pa.field(n, arrow_types[t]) for n, t in zip(self.names, types, strict=True)],
                metadata={PARQUET_KEY: provenance_json(self._provenance).encode()},
            )
            assert self._file.temp is not None
            self._parquet = pq.ParquetWriter(str(self._file.temp), schema, compression="snappy")
        if not batch:
            return
        arrays = [
            pa.array([record[i] for record in batch], type=arrow_types[kind])
            for i, kind in enumerate(types)
        ]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._parquet.schema))

    def _close(self, *, quiet: bool) -> None:
        try:
            if self._text is not None:
                self._text.close()
            if self._parquet is not None:
                self._parquet.close()
        except Exception:
            if not quiet:
                raise
        finally:
            self._text = None
            self._parquet = None
