"""Load protocol and scenario files into validated models, or explain what is wrong.

Every problem becomes one line ``file:line: field: message``. Built-in files are found
in the installed package (``sim/builtin/``) or, in a source checkout, in the top-level
``protocols/`` and ``scenarios/`` folders (:mod:`sim.builtin_files`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from sim.builtin_files import builtin_folder
from sim.errors import InputError, Problem, quoted
from sim.spec.checks import Finding, check_protocol, check_scenario
from sim.spec.protocol import Protocol
from sim.spec.scenario import Scenario
from sim.spec.yamlio import Located, parse_yaml

Kind = Literal["protocol", "scenario"]
MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class LoadedProtocol:
    protocol: Protocol
    origin: str
    hash: str

    def __reduce__(self) -> tuple[Any, ...]:
        # Compiled rule conditions hold closures, which do not pickle: ship the canonical
        # JSON to worker processes and validate it there (once per worker and hash).
        return (_rebuilt, (self.protocol.model_dump(mode="json"), self.origin, self.hash))


@cache
def _validated(text: str) -> Protocol:
    return Protocol.model_validate(json.loads(text))


def _rebuilt(data: dict[str, Any], origin: str, digest: str) -> LoadedProtocol:
    protocol = _validated(json.dumps(data, sort_keys=True))
    if spec_hash(protocol) != digest:  # pragma: no cover - a bug, not bad input
        raise RuntimeError(f"protocol {origin} changed in transit")
    return LoadedProtocol(protocol, origin, digest)


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    origin: str
    protocol: LoadedProtocol


def exists(path: Path) -> bool:
    """Whether ``path`` exists; False for a name the system refuses (too long, a NUL)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def builtin_dir(kind: Kind) -> Path:
    """The folder of built-in protocols or scenarios."""
    return builtin_folder("protocols" if kind == "protocol" else "scenarios")


def builtin_ids(kind: Kind) -> list[str]:
    return sorted(p.stem for p in builtin_dir(kind).glob("*.yaml"))


def example_ids() -> list[str]:
    """Example protocols (``protocols/examples/``): loadable by id like the built-ins."""
    return sorted(p.stem for p in (builtin_dir("protocol") / "examples").glob("*.yaml"))


def spec_hash(model: BaseModel) -> str:
    """Provenance: sha256 of the model's canonical JSON (first 16 hex digits)."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _escapes(opened: os.stat_result, path: Path, folder: Path) -> bool:
    """Whether the file opened from ``path`` lies outside ``folder``, judged on the open
    file: its real path must be inside and name the very file that was opened (same device
    and inode), so a link swapped in between the check and the open cannot lead out."""
    real = Path(os.path.realpath(path))
    try:
        real.relative_to(folder.resolve())
        there = os.stat(real)
    except (ValueError, OSError):
        return True
    return (there.st_dev, there.st_ino) != (opened.st_dev, opened.st_ino)


def read_input(path: Path, shown: str, *, inside: Path | None = None) -> bytes:
    """The bytes of an input file, bounded: a regular file (not a folder, device, FIFO or
    socket) of at most :data:`MAX_FILE_BYTES`, read from one open file descriptor.

    ``inside``: the file must lie in that folder (checked on the opened file, see
    :func:`_escapes`); every input file (protocols, scenarios, targets, parameters) is
    read here.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO: no wait
    except FileNotFoundError:
        raise InputError.single(shown, "no such file") from None
    except IsADirectoryError:
        raise InputError.single(shown, "is a folder, not a file") from None
    except OSError as exc:
        raise InputError.single(shown, f"cannot read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError.single(shown, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):  # a device or pipe would read (or wait) forever
            raise InputError.single(shown, "is not a regular file (a device, pipe or socket?)")
        if inside is not None and _escapes(info, path, inside):
            raise InputError.single(shown, f"leads outside the folder {inside}")
        if info.st_size > MAX_FILE_BYTES:
            raise InputError.single(
                shown, f"file is {info.st_size} bytes; the limit is {MAX_FILE_BYTES}"
            )
        with os.fdopen(os.dup(fd), "rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)  # bounded even if the file grows while read
    except OSError as exc:
        raise InputError.single(shown, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:
        raise InputError.single(shown, f"file is over the limit of {MAX_FILE_BYTES} bytes")
    return raw


def _read(path: Path, shown: str, *, inside: Path | None = None) -> Located:
    located = parse_yaml(read_input(path, shown, inside=inside), shown)
    if not isinstance(located.data, dict):
        raise InputError.single(shown, "expected a mapping of fields at the top", line=1)
    return located


def _field_name(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@cache
def _all_field_names() -> frozenset[str]:
    return field_names(Protocol) | field_names(Scenario)


UNION_TAGS = ("setting", "distribution")
"""Fields that pick a variant of a discriminated union (clinic files): pydantic puts the
chosen variant's name in an error's location, which is not a field of the file."""


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Keep the parts of a pydantic ``loc`` that exist in the data (drop union tags)."""
    path: list[str | int] = []
    node = data
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if (
            part == "steps"
            and isinstance(node, dict)
            and "steps" not in node
            and parts[:1] == [0]
            and len(path) == 2
            and path[0] == "episodes"
        ):
            parts.pop(0)  # an episode's shorthand step: its fields sit on the episode
            continue
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if (isinstance(node, dict) and part in node) or in_list:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and any(node.get(tag) == part for tag in UNION_TAGS):
            continue  # a discriminated union's tag (e.g. setting: inpatient), not a field
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and "[" not in part
            and part not in ("function-after", "function-before")
        ):
            path.append(part)  # a missing field
            node = None
    return tuple(path)


_HINTS = {
    "cells_per_kg": " (a plain number of cells per kg: 1.0e5 means 0.1 x10^6/kg)",
    "cells": " (a plain number of cells: 2.5e8, not 250)",
}


def _problems(
    located: Located, exc: ValidationError, names: frozenset[str] | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = _data_path(located.data, loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            name = str(path[-1]) if path else "?"
            known = _all_field_names() if names is None else names
            close = difflib.get_close_matches(name, sorted(known), n=1)
            msg = f"unknown field '{name}'" + (f" (did you mean '{close[0]}'?)" if close else "")
        elif kind == "missing":
            msg = "required field is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if kind in ("greater_than", "greater_than_equal", "less_than_equal", "less_than"):
                msg += f", got {quoted(err['input'])}" + _HINTS.get(
                    str(path[-1]) if path else "", ""
                )
            elif kind.endswith("_type") or kind in ("literal_error", "enum"):
                msg += f", got {quoted(err['input'])}"
        key = (path, msg)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(located.source, located.line_of(path), _field_name(path), msg))
    return problems


def _findings(located: Located, findings: list[Finding]) -> list[Problem]:
    paths = [_data_path(located.data, path) for path, _ in findings]
    return [
        Problem(located.source, located.line_of(path), _field_name(path), msg)
        for path, (_, msg) in zip(paths, findings, strict=True)
    ]


M = TypeVar("M", bound=BaseModel)


def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name in ``model``'s schema (for 'did you mean' hints)."""
    names: set[str] = set()

    def visit(schema: Any) -> None:
        if isinstance(schema, dict):
            props = schema.get("properties")
            if isinstance(props, dict):
                names.update(props)
            for value in schema.values():
                visit(value)
        elif isinstance(schema, list):
            for value in schema:
                visit(value)

    visit(model.model_json_schema())
    return frozenset(names)


def load_model(path: Path, shown: str, model: type[M]) -> tuple[M, Located]:
    """Read a YAML file into ``model`` (another file kind in the same language, e.g. a
    clinic), with the same ``file:line: field: message`` problems as protocol files."""
    located = _read(path, shown)
    try:
        return model.model_validate(located.data), located
    except ValidationError as exc:
        raise InputError(_problems(located, exc, field_names(model))) from None


def problems_at(located: Located, findings: list[Finding]) -> list[Problem]:
    """Findings of checks made after validation, at their lines in ``located``."""
    return _findings(located, findings)


def _validate_protocol(located: Located) -> Protocol:
    try:
        protocol = Protocol.model_validate(located.data)
    except ValidationError as exc:
        raise InputError(_problems(located, exc)) from None
    findings = list(check_protocol(protocol))
    if findings:
        raise InputError(_findings(located, findings))
    return protocol


def resolve_protocol_path(target: str, base: Path | None = None) -> tuple[Path, str]:
    """A protocol given as a built-in id or a file path (relative to ``base``)."""
    candidate = Path(target) if base is None else base / target
    if target.endswith((".yaml", ".yml")) or exists(candidate):
        return candidate, str(candidate if base is None else target)
    builtin = builtin_dir("protocol") / f"{target}.yaml"
    if exists(builtin):
        return builtin, f"protocols/{target}.yaml"
    example = builtin_dir("protocol") / "examples" / f"{target}.yaml"
    if example.exists():
        return example, f"protocols/examples/{target}.yaml"
    known = ", ".join(builtin_ids("protocol") + example_ids())
    raise InputError.single(
        target, f"no protocol file or built-in protocol by that name (built-in: {known})"
    )


def load_protocol(target: str, base: Path | None = None) -> LoadedProtocol:
    """A protocol by built-in id or file; a file named relative to ``base`` (a scenario's
    or targets file's folder) must stay inside ``base`` (see :func:`outside`)."""
    if base is not None:
        why = outside(target, base)
        if why is not None:
            raise InputError.single(target, why)
    path, shown = resolve_protocol_path(target, base)
    inside = base if base is not None and path.parent != builtin_dir("protocol") else None
    protocol = _validate_protocol(_read(path, shown, inside=inside))
    return LoadedProtocol(protocol, shown, spec_hash(protocol))


def outside(reference: str, folder: Path, what: str = "scenario") -> str | None:
    """Why a scenario may not name this protocol file (None if it may).

    A scenario names a built-in protocol id, or a protocol file by a path relative to
    the scenario's folder that stays inside that folder (subfolders are fine). Absolute
    paths and paths that leave the folder (``..``, or a link pointing out) are refused: a
    scenario file passed around should not read files elsewhere on the machine.
    """
    candidate = folder / reference
    looks_like_a_path = reference.endswith((".yaml", ".yml")) or "/" in reference
    if not (looks_like_a_path or exists(candidate)):
        return None  # a built-in id
    hint = f"name a built-in protocol, or put the file in the {what}'s folder"
    if "\0" in reference:
        return f"{reference!r} is not a file name (it holds a NUL character)"
    if Path(reference).is_absolute():
        return f"'{reference}' is an absolute path; paths are relative to the {what} ({hint})"
    try:
        candidate.resolve().relative_to(folder.resolve())
    except ValueError:
        return f"'{reference}' leads outside the {what}'s folder ({hint})"
    return None


def load_scenario_file(path: Path, shown: str) -> LoadedScenario:
    located = _read(path, shown)
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        raise InputError(_problems(located, exc)) from None
    why = outside(scenario.protocol, path.parent)
    if why is not None:
        raise InputError([Problem(shown, located.line_of(("protocol",)), "protocol", why)])
    try:
        proto = load_protocol(scenario.protocol, base=path.parent)
    except InputError as exc:
        line = located.line_of(("protocol",))
        raise InputError(
            [
                Problem(shown, line, "protocol", f"cannot load protocol '{scenario.protocol}'"),
                *exc.problems,
            ]
        ) from None
    findings = list(check_scenario(scenario, proto.protocol))
    if findings:
        raise InputError(_findings(located, findings))
    return LoadedScenario(scenario, shown, proto)


def load_target(target: str) -> LoadedProtocol | LoadedScenario:
    """A run target: a protocol or scenario file, or a built-in protocol or scenario id."""
    path = Path(target)
    if exists(path) or target.endswith((".yaml", ".yml")):
        located = _read(path, target)
        if "patient" in located.data or "episodes" in located.data:
            return load_scenario_file(path, target)
        protocol = _validate_protocol(located)
        return LoadedProtocol(protocol, target, spec_hash(protocol))
    kinds: tuple[Kind, ...] = ("protocol", "scenario")
    for kind in kinds:
        builtin = builtin_dir(kind) / f"{target}.yaml"
        if exists(builtin):
            shown = f"{'protocols' if kind == 'protocol' else 'scenarios'}/{target}.yaml"
            if kind == "scenario":
                return load_scenario_file(builtin, shown)
            return load_protocol(target)
    if target in example_ids():
        return load_protocol(target)
    raise InputError.single(
        target,
        "no such file, built-in protocol or scenario (built-in protocols: "
        + ", ".join(builtin_ids("protocol"))
        + "; examples: "
        + ", ".join(example_ids())
        + "; scenarios: "
        + ", ".join(builtin_ids("scenario"))
        + ")",
    )


def check_file(path: str) -> None:
    """Validate one protocol or scenario file (raise :class:`InputError` if bad)."""
    load_target(path)
