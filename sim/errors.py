"""Errors that are messages: bad input names its file, line and field.

A :class:`InputError` carries one or more :class:`Problem` rows. The CLI prints one
line per problem (``file:line: field: message``) and exits non-zero; tracebacks are
kept for bugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
QUOTE_LIMIT = 80
"""Longest piece of input (in characters) quoted in a message."""


def escape_controls(text: str) -> str:
    """``text`` with control characters (ESC, CR, NUL, C1, ...) shown as ``\\x1b`` etc.,
    so that nothing read from a file can move the cursor or recolour a terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """A piece of input for a message: one line, control characters escaped, at most
    ``limit`` characters (then ``...``), in quotes when it is text."""
    text = repr(value) if not isinstance(value, str) else value
    text = escape_controls(text)
    if len(text) > limit:
        text = text[:limit] + "..."
    return f"'{text}'" if isinstance(value, str) else text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.field}:" if self.field else ""
        return escape_controls(f"{where}:{field} {self.message}")


class InputError(Exception):
    """Bad input: a file, a name or a value that cartsim cannot use."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(
        cls, file: str, message: str, *, line: int | None = None, field: str = ""
    ) -> InputError:
        return cls([Problem(file, line, field, message)])


class RunawayError(RuntimeError):
    """A run exceeded its event guard: the protocol would loop (nearly) forever."""


class ClusterError(RuntimeError):
    """A Dask cluster failed during a run (scheduler gone, no workers left): exit code 1."""
