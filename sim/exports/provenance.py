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
from sim.exports.atomic import AtomicFile, cannot_write, commit_pair
from sim.exports.destinations import SIDECAR_SUFFIX as SIDECAR_SUFFIX
from sim.exports.destinations import sidecar_path as sidecar_path

PROVENANCE_VERSION = 1
PARQUET_KEY = b"cartsim.provenance"
_LIBRARIES = ("numpy", "simpy", "pydantic")


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


def cohort_provenance(
    setup: Any,
    protocols: Sequence[Any],
    patients: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The provenance of an output made from a cohort (``setup``: a ``CohortSetup``)."""
    from sim.spec.load import spec_hash

    return provenance(
        seed=setup.seed,
        protocols=[(lp.protocol.id, lp.hash) for lp in protocols],
        extra={
            "population": setup.population,
            "patients": patients,
            "fixed_covariates": dict(setup.fixed),
            "model_parameters_hash": spec_hash(setup.parameters()),
            **(extra or {}),
        },
    )


def provenance_json(record: Mapping[str, Any]) -> str:
    """The canonical text of a provenance record (sorted keys, 2-space indent, final newline)."""
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sidecar_for(
    main: AtomicFile,
    record: Mapping[str, Any],
    file_format: str,
    rows: int | None,
    columns: Sequence[str] | None,
) -> AtomicFile:
    """The sidecar of a written ``main`` file, written to its own temporary file."""
    assert main.temp is not None, "the main file has not been written"
    output: dict[str, Any] = {"file": main.path.name, "format": file_format}
    if rows is not None:
        output["rows"] = rows
    if columns is not None:
        output["columns"] = list(columns)
    side = AtomicFile(sidecar_path(main.path), option=main.option)
    try:
        output["sha256"] = file_sha256(main.temp)
    except OSError as exc:
        raise cannot_write(main.path, exc) from None
    side.write(provenance_json({**record, "output": output}).encode("utf-8"))
    return side


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
    sha256) is written to its own temporary file; then both commit as a pair
    (:func:`sim.exports.atomic.commit_pair`). On any failure both temporary files are
    removed and the old pair, if any, stays.
    """
    try:
        side = _sidecar_for(main, record, file_format, rows, columns)
    except BaseException:
        main.discard()
        raise
    commit_pair(main, side)


def write_output(
    path: Path,
    data: bytes | str,
    record: Mapping[str, Any],
    *,
    file_format: str,
    option: str = "output",
    rows: int | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Write a whole file (a figure, a report, a CSV) atomically, with its sidecar."""
    main = AtomicFile(path, option=option)
    main.write(data.encode("utf-8") if isinstance(data, str) else data)
    commit_with_sidecar(main, record, file_format=file_format, rows=rows, columns=columns)


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
    write_output(path, text, record, file_format=file_format, option=option, rows=rows)


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar of ``path`` (for tests and tools)."""
    data = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
