"""Errors that are messages: bad input names its file, line and field.

A :class:`InputError` carries one or more :class:`Problem` rows. The CLI prints one
line per problem (``file:line: field: message``) and exits non-zero; tracebacks are
kept for bugs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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
        return f"{where}:{field} {self.message}"


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
