"""Safe YAML loading that remembers where every value came from.

The file is composed into PyYAML nodes with ``SafeLoader`` (no object construction),
then walked by hand so that we can:

* record the line of every mapping key and list item, keyed by its path
  (``("fractions", 2, "dose")``), for error messages;
* reject duplicate keys, which plain PyYAML silently overwrites;
* bound the expansion of aliases (a "billion laughs" file cannot blow up memory or
  time) and reject recursive aliases;
* reject non-UTF-8 bytes with the byte offset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim.errors import InputError

Path = tuple[str | int, ...]

MAX_NODES = 200_000
"""Largest number of values a file may expand to (aliases counted each time used)."""
MAX_DEPTH = 64


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class _PyLoader(yaml.SafeLoader):
    """SafeLoader that also reads YAML 1.2 exponent floats (``1e5``, ``1.0e5``) as numbers.

    PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent, so
    ``cells_per_kg: 1.0e5`` would otherwise be read as the text ``'1.0e5'``.
    """


_PyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))
_Loader: type[yaml.SafeLoader] = _PyLoader
if getattr(yaml, "__with_libyaml__", False):
    # The same loader on LibYAML's parser (PyYAML's C extension): about 10 times faster
    # to compose, with the same nodes, marks, resolvers and constructor.

    class _CLoader(yaml.CSafeLoader):
        """:class:`_PyLoader` on LibYAML's parser."""

    _CLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789.")
    )
    _Loader = _CLoader  # type: ignore[assignment]


@dataclass(frozen=True)
class Located:
    """Parsed YAML data plus the line (1-based) of each path in it."""

    data: Any
    lines: Mapping[Path, int] = field(default_factory=dict)
    source: str = "<input>"

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)


_PLAIN_TAGS = ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map")
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.count = 0
        self.lines: dict[Path, int] = {}

    def fail(self, node: Node, message: str) -> InputError:
        return InputError.single(self.source, message, line=node.start_mark.line + 1)

    def check_size(self, node: Node, sizes: dict[int, int], open_: set[int]) -> int:
        """How many values ``node`` expands to, counted once per node (not per use), so
        that an alias bomb is refused at once, at the line of the first value too big."""
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_ or isinstance(node, ScalarNode):
            return 1  # a recursive alias is reported by walk()
        open_.add(key)
        items = node.value if isinstance(node, SequenceNode) else [v for _, v in node.value]
        size = 1 + sum(self.check_size(item, sizes, open_) for item in items)
        open_.discard(key)
        if size > MAX_NODES:
            raise self.fail(node, f"file expands to more than {MAX_NODES} values (alias bomb?)")
        sizes[key] = size
        return size

    def walk(self, node: Node, path: Path, stack: tuple[int, ...]) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"file expands to more than {MAX_NODES} values (alias bomb?)")
        if len(path) > MAX_DEPTH:
            raise self.fail(node, f"nesting deeper than {MAX_DEPTH} levels")
        if id(node) in stack:
            raise self.fail(node, "recursive alias: a value refers to itself")
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode):
            if node.tag not in _SCALAR_TAGS:  # e.g. !!binary: bytes nobody can print safely
                raise self.fail(node, f"unsupported YAML tag '{node.tag}'")
            value = self.loader.construct_object(node, deep=True)
            bad = _CONTROL_IN_TEXT.search(value) if isinstance(value, str) else None
            if bad is not None:
                raise self.fail(
                    node,
                    f"control character U+{ord(bad.group()):04X} in a text value "
                    "(escape sequences such as \\e are not allowed)",
                )
            return value
        inner = (*stack, id(node))
        if node.tag not in _PLAIN_TAGS:
            raise self.fail(node, f"unsupported YAML tag '{node.tag}'")
        if isinstance(node, SequenceNode):
            return [self.walk(item, (*path, i), inner) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path, inner)
        raise self.fail(node, f"unsupported YAML node {type(node).__name__}")

    def _mapping(self, node: MappingNode, path: Path, stack: tuple[int, ...]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        merges = [v for k, v in node.value if k.tag == "tag:yaml.org,2002:merge"]
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.fail(key_node, "mapping keys must be plain names")
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise self.fail(key_node, f"mapping key {key!r} is not a plain name")
            if key in out:
                raise self.fail(key_node, f"duplicate key '{key}'")
            self.lines.setdefault((*path, key), key_node.start_mark.line + 1)
            out[key] = self.walk(value_node, (*path, key), stack)
        for value_node in merges:  # after the explicit keys, whose lines must win
            merged.update(self._merge(value_node, path, stack))
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: Node, path: Path, stack: tuple[int, ...]) -> dict[Any, Any]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for src in sources:
            value = self.walk(src, path, stack)
            if not isinstance(value, dict):
                raise self.fail(src, "a merge key '<<' must refer to a mapping")
            for key, item in value.items():
                merged.setdefault(key, item)
        return merged


_FLOW = re.compile(r"[\[\]{}\"'#\r\n\\]")
_LINE_END = re.compile(r"\r\n?|\n")
_SCALAR_AFTER = frozenset("\r\n:,[{-?")


def _starts_a_scalar(text: str, at: int) -> bool:
    """Whether a quote at ``at`` opens a quoted scalar (and is not an apostrophe in text)."""
    j = at - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] in _SCALAR_AFTER


def _deep_flow_line(text: str) -> int | None:
    """The line of the first flow bracket nested deeper than ``MAX_DEPTH``, or None.

    PyYAML's scanner slows down quadratically with flow nesting (``[[[[...``: seconds for
    a few thousand levels, before its recursive composer fails), so deep brackets are
    refused up front. A rough, linear scan: brackets in comments and quoted text do not
    count; a bracket in plain text does (no real file opens 64 of them).
    """
    depth = 0
    line = 1
    quote = ""
    skip_to = -1
    for m in _FLOW.finditer(text):
        ch, at = m.group(), m.start()
        if ch == "\n" or (ch == "\r" and text[at + 1 : at + 2] != "\n"):
            line += 1  # \n, \r\n and a lone \r each end a line, as in YAML
        if at <= skip_to:
            continue
        if quote:
            if (ch == "\\" and quote == '"') or (ch == "'" == quote == text[at + 1 : at + 2]):
                skip_to = at + 1  # an escaped quote: \" or ''
            elif ch == quote:
                quote = ""
        elif ch == "#" and (at == 0 or text[at - 1] in " \t\r\n"):
            end = _LINE_END.search(text, at)
            skip_to = len(text) if end is None else end.start() - 1
        elif ch in "\"'" and _starts_a_scalar(text, at):
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
    return None


def parse_yaml(raw: bytes | str, source: str = "<input>") -> Located:
    """Parse one YAML document safely; raise :class:`InputError` on any problem."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError.single(
                source,
                f"not UTF-8 text (bad byte at offset {exc.start})",
                line=raw.count(b"\n", 0, exc.start) + 1,
            ) from None
    else:
        text = raw
    if not text.strip():
        raise InputError.single(source, "the file is empty")
    deep = _deep_flow_line(text)
    if deep is not None:
        raise InputError.single(source, f"nesting deeper than {MAX_DEPTH} levels", line=deep)
    try:
        yaml.reader.Reader(text)  # refuses unprintable characters, with their position
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise InputError.single(
            source, f"character {char} is not allowed in a YAML file", line=line
        ) from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InputError.single(source, "the file holds no YAML document")
        walker = _Walker(loader, source)
        walker.check_size(node, {}, set())
        data = walker.walk(node, (), ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        err_line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError.single(source, f"YAML syntax error: {problem}", line=err_line) from None
    except yaml.YAMLError as exc:
        raise InputError.single(source, f"YAML error: {exc}") from None
    except RecursionError:
        raise InputError.single(source, "YAML nesting is too deep") from None
    finally:
        loader.dispose()
    return Located(data=data, lines=walker.lines, source=source)


def plain_scalar(raw: str, option: str, item: str) -> str | int | float | bool | None:
    """A command-line value (``--fix NAME=VALUE``) read as one plain YAML scalar: a
    number, true/false, null or a word. Tags, anchors, aliases and collections are refused."""
    from sim.errors import quoted

    text = raw.strip()
    if not text:
        raise InputError.single(option, f"{quoted(item)}: no value after '='")
    if text[0] in "!&*[{|>" or text.startswith(("- ", "? ")):
        raise InputError.single(
            option,
            f"{quoted(item)}: the value must be a plain number, true/false or word "
            "(not a YAML tag, anchor, alias or collection)",
        )
    try:
        value = parse_yaml(text, option).data
    except InputError as exc:
        raise InputError.single(
            option, f"{quoted(item)}: not a plain value ({exc.problems[0].message})"
        ) from None
    if value is not None and not isinstance(value, str | int | float | bool):
        raise InputError.single(
            option, f"{quoted(item)}: the value must be a plain number, true/false or word"
        )
    return value
