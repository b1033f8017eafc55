"""Provenance of an output file: what made it, so that it can be made again.

:func:`provenance` gives the cartsim version, the command, the seed, each protocol's id
and hash (sha256 of its canonical JSON, :func:`sim.spec.load.spec_hash`) and the versions
of the libraries that the numbers depend on. There is no wall-clock time in it, so the
same command gives byte-identical files.

The record goes into a sidecar ``FILE.provenance.json`` next to every output file (and,
for Parquet, into the file's key-value metadata too); the sidecar also names the file,
its format, row count, columns and sha256, which ties the two together.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from sim import __version__
from sim.exports.atomic import AtomicFile, cannot_write

PROVENANCE_VERSION = 1
SIDECAR_SUFFIX = ".provenance.json"
PARQUET_KEY = b"cartsim.provenance"
_LIBRARIES = ("numpy", "simpy", "pydantic")


def sidecar_path(path: Path) -> Path:
    """``out.csv`` -> ``out.csv.provenance.json``."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            versions[name] = "not installed"
    return versions


def current_command(argv: Sequence[str] | None = None) -> str:
    """The command line being run, from ``sys.argv``: ``cartsim`` and its arguments as typed
    (the program is reduced to its name; never a path of this machine)."""
    args = list(sys.argv if argv is None else argv)
    if not args:
        return ""
    program = Path(args[0]).name
    if program in ("__main__.py", "cli.py") or program.startswith("cartsim"):
        program = "cartsim"
    return shlex.join([program, *args[1:]])


def provenance(
    command: str | None = None,
    *,
    seed: int | None,
    protocols: Sequence[tuple[str, str]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance record of an output (JSON-ready; no timestamp).

    ``protocols`` is a sequence of ``(protocol id, protocol hash)``; ``command`` defaults to
    :func:`current_command` (pass it explicitly for reproducible tests); ``extra`` adds keys
    (scenario, population, patients, ...).
    """
    record: dict[str, Any] = {
        "provenance_version": PROVENANCE_VERSION,
        "cartsim_version": __version__,
        "command": current_command() if command is None else command,
        "seed": seed,
        "protocols": [{"id": ident, "hash": digest} for ident, digest in protocols],
        "environment": _library_versions(),
    }
    for key, value in (extra or {}).items():
        if key in record:
            raise ValueError(f"provenance: extra key {key!r} would replace a standard key")
        record[key] = value
    json.dumps(record, allow_nan=False)  # fail here, not half-way through writing a file
    return record


def provenance_json(record: Mapping[str, Any]) -> str:
    """The canonical text of a provenance record (sorted keys, 2-space indent, final newline)."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def commit_with_sidecar(
    main: AtomicFile,
    record: Mapping[str, Any],
    *,
    file_format: str,
    rows: int | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Move a finished ``main`` file into place together with its sidecar.

    The sidecar (provenance plus an ``output`` section: file name, format, rows, columns,
    sha256) is written to its own temporary file first; then the main file is committed,
    then the sidecar. On any failure both temporary files are removed.
    """
    assert main.temp is not None, "the main file has not been written"
    output: dict[str, Any] = {"file": main.path.name, "format": file_format}
    if rows is not None:
        output["rows"] = rows
    if columns is not None:
        output["columns"] = list(columns)
    side = AtomicFile(sidecar_path(main.path), option=main.option)
    try:
        output["sha256"] = file_sha256(main.temp)
        side.create().write_text(provenance_json({**record, "output": output}), encoding="utf-8")
        main.commit()
    except BaseException as exc:
        side.discard()
        main.discard()
        if isinstance(exc, OSError):
            raise cannot_write(main.path, main.option, exc) from None
        raise
    side.commit()


def write_sidecar(
    path: Path,
    record: Mapping[str, Any],
    *,
    option: str = "output",
    file_format: str | None = None,
    rows: int | None = None,
) -> Path:
    """Write the sidecar of a file that is already in place (e.g. written by a library).

    Prefer :class:`~sim.exports.tables.TableWriter` or :func:`write_text_output`, which
    commit the file and its sidecar together; this is for files made some other way.
    """
    output: dict[str, Any] = {
        "file": path.name,
        "format": file_format or path.suffix.lstrip(".").lower(),
    }
    if rows is not None:
        output["rows"] = rows
    side = AtomicFile(sidecar_path(path), option=option)
    try:
        output["sha256"] = file_sha256(path)
        side.create().write_text(provenance_json({**record, "output": output}), encoding="utf-8")
    except BaseException as exc:
        side.discard()
        if isinstance(exc, OSError):
            raise cannot_write(side.path, option, exc) from None
        raise
    side.commit()
    return side.path


def write_text_output(
    path: Path,
    text: str,
    record: Mapping[str, Any],
    *,
    file_format: str,
    option: str = "output",
    rows: int | None = None,
) -> None:
    """Write a whole text file (e.g. a JSON report) atomically, with its sidecar."""
    main = AtomicFile(path, option=option)
    temp = main.create()
    try:
        temp.write_text(text, encoding="utf-8")
    except BaseException as exc:
        main.discard()
        if isinstance(exc, OSError):
            raise cannot_write(path, option, exc) from None
        raise
    commit_with_sidecar(main, record, file_format=file_format, rows=rows)


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar of ``path`` (for tests and tools)."""
    data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
