"""Hypothesis strategies that break the built-in YAML files in the ways real files break.

A case is a built-in protocol or scenario file with one to three mutations applied:

* bytes: flips, truncation, non-UTF-8 bytes, NUL and control characters, UTF-16, a BOM;
* lines: deleted, duplicated, swapped, re-indented with tabs, CRLF or CR line ends;
* values: a scalar replaced by a wrong type, a huge number, a negative, NaN, infinity, a
  very long string, a Python tag, an undefined alias, deep brackets;
* keys: unknown keys inserted (or a key repeated: a duplicate), names in conditions,
  fraction ids, gate names and the scenario's protocol renamed to unknown ones (or to
  paths outside the scenario's folder);
* whole files: empty, comments only, a second document, an alias bomb, a recursive
  alias, deep nesting.

``mutated_files()`` draws ``(name, raw bytes, [what was done])``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from sim.spec.load import builtin_dir

BUILT_IN: tuple[Path, ...] = (
    *sorted(builtin_dir("protocol").glob("*.yaml")),
    *sorted(builtin_dir("scenario").glob("*.yaml")),
)
TEXTS = {path: path.read_bytes() for path in BUILT_IN}

NASTY_VALUES = (
    "[1, 2]",
    "{a: 1}",
    "true",
    "null",
    "~",
    "''",
    "hello",
    "1e400",
    "-1e400",
    "9" * 400,
    "-" + "9" * 400,
    "-1",
    "-0.5",
    "0",
    "1e-300",
    ".nan",
    ".inf",
    "-.inf",
    "x" * 5000,
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!custom 1",
    "*undefined",
    "&a [*a]",
    "2024-01-01",
    "0x1F",
    "0o17",
    "1_000",
    "'1e5'",
    "[[[[[[[[]]]]]]]]",
    "{{{}}}",
    "|\n  text block",
    '"\\u0000"',
    "🙂",
    "<<: {a: 1}",
)
UNKNOWN_NAMES = (
    "colour",
    "dose_mg",
    "cells_per_kilo",
    "__class__",
    "id",
    "fractions",
    "crs",
    "übung",
)
RENAMES = (
    ("crs_grade", "crs_grad"),
    ("icans_grade", "cytokine_storm"),
    ("gvhd_grade", "gvhd"),
    ("fever", "fevre"),
    ("active_infection", "infection"),
    ("relapse", "relapsed"),
    ("F2", "F9"),
    ("use_gate: safety", "use_gate: saftey"),
    ("use_gate: initial", "use_gate: none"),
    ("protocol: cart19-be-02", "protocol: cart19-be-03"),
    ("protocol: cart19-be-02", "protocol: ../../../etc/passwd"),
    ("protocol: cart19-be-02", "protocol: /etc/hostname"),
    ("protocol: car-dli-ld", "protocol: ../protocols/car-dli-ld.yaml"),
    ("protocol: chop-cart19-cns", "protocol: /dev/zero"),
    ("cells_per_kg", "cells_per_kilo"),
    ("action: delay", "action: wait"),
    ("on_timeout: stop", "on_timeout: skip_all"),
)
WHOLE_FILES = (
    b"",
    b"   \n\n\t\n",
    b"# only a comment\n",
    b"---\n",
    b"...\n",
    b"~\n",
    b"[]\n",
    b"- a\n- b\n",
    b"just text\n",
    b"\xef\xbb\xbf",
    b"\x00\x00\x00",
    b"{",
    b"key: [unclosed\n",
)


def _lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\n")


def _join(lines: list[bytes]) -> bytes:
    return b"\n".join(lines)


def _value_line(lines: list[bytes], pick: int) -> int | None:
    """The index of the ``pick``-th (modulo) ``key: value`` line, or None if none."""
    targets = [i for i, line in enumerate(lines) if re.match(rb"^\s*-?\s*[A-Za-z_]+:\s*\S", line)]
    return targets[pick % len(targets)] if targets else None


def _edit_value_line(raw: bytes, pick: int, edit: Callable[[list[bytes], int], None]) -> bytes:
    """``edit(lines, i)`` at the ``pick``-th (modulo) ``key: value`` line; ``raw`` if none."""
    lines = _lines(raw)
    i = _value_line(lines, pick)
    if i is None:
        return raw
    edit(lines, i)
    return _join(lines)


def _set_value(raw: bytes, pick: int, value: bytes) -> bytes:
    """Replace the value of the ``pick``-th (modulo) ``key: value`` line with ``value``."""

    def edit(lines: list[bytes], i: int) -> None:
        head = re.match(rb"^(\s*-?\s*[A-Za-z_]+:\s*)", lines[i])
        assert head is not None
        lines[i] = head.group(1) + value

    return _edit_value_line(raw, pick, edit)


Mutation = Callable[[bytes], bytes]


@st.composite
def _mutation(draw: st.DrawFn) -> tuple[str, Mutation]:
    kind = draw(
        st.sampled_from(
            (
                "replace_value",
                "flow_value",
                "unknown_key",
                "rename",
                "flip",
                "truncate",
                "delete_line",
                "duplicate_line",
                "swap_lines",
                "encoding",
                "tabs",
                "line_ends",
                "deep",
                "alias_bomb",
                "recursive_alias",
                "second_document",
                "whole_file",
            )
        )
    )
    pick = draw(st.integers(0, 10**6))  # where in the file: taken modulo its size
    nasty = draw(st.sampled_from(NASTY_VALUES))

    if kind == "replace_value":
        return f"value -> {nasty[:40]!r}", lambda raw: _set_value(raw, pick, nasty.encode())
    if kind == "flow_value":

        def mutate(raw: bytes) -> bytes:
            spots = list(re.finditer(rb"([A-Za-z_]+): ([^,{}\[\]\n]+)([,}])", raw))
            if not spots:
                return raw
            m = spots[pick % len(spots)]
            return raw[: m.start(2)] + nasty.encode() + raw[m.end(2) :]

        return f"flow value -> {nasty[:40]!r}", mutate
    if kind == "unknown_key":
        name = draw(st.sampled_from(UNKNOWN_NAMES))

        def add_key(lines: list[bytes], i: int) -> None:
            indent = re.match(rb"^(\s*)(-\s*)?", lines[i])
            assert indent is not None
            pad = indent.group(1) + (b"  " if indent.group(2) else b"")
            lines.insert(i + 1, pad + name.encode() + b": 1")

        return f"unknown key {name!r}", lambda raw: _edit_value_line(raw, pick, add_key)
    if kind == "rename":
        old, new = draw(st.sampled_from(RENAMES))
        return f"rename {old!r} -> {new!r}", lambda raw: raw.replace(old.encode(), new.encode())
    if kind == "flip":
        count = draw(st.integers(1, 8))
        values = draw(st.lists(st.integers(0, 255), min_size=count, max_size=count))

        def mutate(raw: bytes) -> bytes:
            out = bytearray(raw)
            for j, value in enumerate(values):
                if out:
                    out[(pick + 7919 * j) % len(out)] = value
            return bytes(out)

        return f"flip {count} bytes", mutate
    if kind == "truncate":
        return "truncate", lambda raw: raw[: pick % (len(raw) + 1)]
    if kind in ("delete_line", "duplicate_line", "swap_lines"):

        def mutate(raw: bytes) -> bytes:
            lines = _lines(raw)
            i = pick % len(lines)
            j = (pick // 7) % len(lines)
            if kind == "delete_line":
                del lines[i]
            elif kind == "duplicate_line":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            return _join(lines)

        return kind, mutate
    if kind == "encoding":
        bad = draw(
            st.sampled_from((b"\xff\xfe", b"\xe9", b"\x80", b"\xc3", b"\x00", b"\x07", b"\x1b[31m"))
        )
        whole = draw(st.sampled_from(("insert", "utf-16", "bom", "latin-1")))

        def mutate(raw: bytes) -> bytes:
            if whole == "utf-16":
                return raw.decode("utf-8", "replace").encode("utf-16")
            if whole == "bom":
                return b"\xef\xbb\xbf" + raw
            if whole == "latin-1":
                return raw.decode("utf-8", "replace").replace("x", "é").encode("latin-1", "replace")
            at = pick % (len(raw) + 1)
            return raw[:at] + bad + raw[at:]

        return f"encoding {whole} {bad!r}", mutate
    if kind == "tabs":

        def mutate(raw: bytes) -> bytes:
            lines = _lines(raw)
            i = pick % len(lines)
            lines[i] = re.sub(rb"^ +", b"\t", lines[i])
            return _join(lines)

        return "tab indent", mutate
    if kind == "line_ends":
        end = draw(st.sampled_from((b"\r\n", b"\r", b"\n\n")))
        return f"line ends {end!r}", lambda raw: raw.replace(b"\n", end)
    if kind == "deep":
        depth = draw(st.sampled_from((30, 70, 500, 5000, 50_000)))
        shape = draw(st.sampled_from(("list", "map")))
        value = "[" * depth + "]" * depth if shape == "list" else "{a: " * depth + "1" + "}" * depth
        return f"deep {shape} x{depth}", lambda raw: _set_value(raw, pick, value.encode())
    if kind == "alias_bomb":
        width = draw(st.integers(2, 10))
        levels = draw(st.integers(2, 12))
        bomb = [b"bomb0: &b0 [" + b", ".join([b"lol"] * width) + b"]"]
        for k in range(1, levels):
            refs = b", ".join([b"*b%d" % (k - 1)] * width)
            bomb.append(b"bomb%d: &b%d [%s]" % (k, k, refs))
        text = b"\n".join(bomb) + b"\n"
        return f"alias bomb {width}^{levels}", lambda raw: text + raw
    if kind == "recursive_alias":
        text = draw(st.sampled_from((b"loop: &a [*a]\n", b"loop: &a {x: *a}\n", b"x: *a\n")))
        return f"recursive alias {text!r}", lambda raw: text + raw
    if kind == "second_document":
        return "second document", lambda raw: raw + b"\n---\nid: again\n"
    whole_file = draw(st.sampled_from(WHOLE_FILES))
    return f"whole file {whole_file!r}", lambda raw: whole_file


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes, list[str]]:
    """A built-in file broken by one to three mutations: (its name, bytes, what was done)."""
    path = draw(st.sampled_from(BUILT_IN))
    raw = TEXTS[path]
    done: list[str] = []
    for label, mutate in draw(st.lists(_mutation(), min_size=1, max_size=3)):
        raw = mutate(raw)
        done.append(label)
    return path.name, raw, done


def describe(case: tuple[str, bytes, list[str]]) -> dict[str, Any]:
    name, raw, done = case
    return {"file": name, "bytes": len(raw), "mutations": done}
