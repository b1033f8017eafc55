"""Protocol variants for sweeps: the same file with some fields set to other values.

A setting names a field by its path in the protocol file, dots between keys and list
positions counted from 0 (``fractions.1.interval_h``, ``gates.0.action``). Each value is
read as YAML (``24``, ``0.5e6``, ``stop``, ``[1, 2]``). The variant is validated like a
file: a bad value is reported as ``file:line: field: message`` with ``--set`` named, so a
sweep never runs a protocol that its own file could not express.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from sim.errors import InputError
from sim.spec.load import (
    LoadedProtocol,
    _read,
    _validate_protocol,
    resolve_protocol_path,
    spec_hash,
)
from sim.spec.yamlio import Located, parse_yaml

Setting = tuple[str, Any]  # (dotted path, value)
MAX_VARIANTS = 1000


def parse_set(option: str) -> tuple[str, list[Any]]:
    """``PATH=V1,V2,...`` -> (path, values). Values are YAML scalars or flow collections."""
    path, sep, raw = option.partition("=")
    path = path.strip()
    if not sep or not path or not raw.strip():
        raise InputError.single(
            "--set", f"'{option}': expected PATH=V1,V2,... (e.g. interval_h=24,48)"
        )
    try:
        parsed = parse_yaml(f"[{raw}]".encode(), "--set").data
    except InputError as exc:
        raise InputError.single(
            "--set", f"'{option}': the values are not valid YAML ({exc.problems[0].message})"
        ) from None
    if not isinstance(parsed, list) or not parsed:
        raise InputError.single("--set", f"'{option}': no values")
    return path, parsed


def _steps(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _apply(data: Any, path: str, value: Any, shown: str) -> None:
    steps = _steps(path)
    node = data
    for depth, step in enumerate(steps):
        last = depth == len(steps) - 1
        where = ".".join(str(s) for s in steps[: depth + 1])
        if isinstance(node, dict) and isinstance(step, str):
            if last:
                node[step] = value
                return
            if step not in node:
                raise InputError.single(shown, f"--set {path}: '{where}' is not in the file")
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int):
            if step >= len(node):
                raise InputError.single(
                    shown, f"--set {path}: '{where}': the list has {len(node)} entries"
                )
            if last:
                node[step] = value
                return
            node = node[step]
        else:
            kind = "list" if isinstance(node, list) else "value" if node is None else "mapping"
            raise InputError.single(shown, f"--set {path}: '{where}' cannot be indexed in a {kind}")


def variant_label(settings: Sequence[Setting]) -> str:
    return ", ".join(
        f"{path}={yaml.safe_dump(v, default_flow_style=True).strip()}".replace("\n...", "")
        for path, v in settings
    )


def load_variant(target: str, settings: Sequence[Setting]) -> LoadedProtocol:
    """The protocol ``target`` with each (path, value) setting applied, validated."""
    path, shown = resolve_protocol_path(target)
    return variant_of(_read(Path(path), shown), settings)


def variant_of(located: Located, settings: Sequence[Setting]) -> LoadedProtocol:
    """The protocol data ``located`` (a file's, or a model's dump) with each setting
    applied, validated like a file."""
    data = copy.deepcopy(located.data)
    shown = located.source
    for field_path, value in settings:
        _apply(data, field_path, value, shown)
    label = variant_label(settings)
    source = f"{shown} (--set {label})" if settings else shown
    protocol = _validate_protocol(Located(data, located.lines, source))
    return LoadedProtocol(protocol, source, spec_hash(protocol))


def sweep_grid(options: Sequence[str]) -> list[list[Setting]]:
    """Every combination of the ``--set`` options, first option varying slowest."""
    return grid([parse_set(o) for o in options])


def grid(axes: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Setting]]:
    """Every combination of (path, values) axes, first axis varying slowest."""
    paths = [p for p, _ in axes]
    if len(set(paths)) != len(paths):
        raise InputError.single("--set", "a field is set twice; give all its values in one --set")
    size = 1
    for _, values in axes:
        size *= len(values)
    if size > MAX_VARIANTS:
        raise InputError.single("--set", f"{size} variants; the limit is {MAX_VARIANTS}")
    return [
        list(zip(paths, combo, strict=True))
        for combo in itertools.product(*(values for _, values in axes))
    ]
