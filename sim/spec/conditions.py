"""A small, safe expression language for gate conditions.

Examples::

    crs_grade >= 1 or icans_grade >= 1
    gvhd_grade >= 2 and not active_infection
    (fever or crs_max_since_last_dose >= 1) and doses_given < 3

Grammar (``or`` binds loosest)::

    expr  := and ("or" and)*
    and   := unary ("and" unary)*
    unary := "not" unary | cmp
    cmp   := atom [("<" | "<=" | ">" | ">=" | "==" | "!=") atom]
    atom  := NAME | NUMBER | "true" | "false" | "(" expr ")"

Text is tokenised and parsed by hand into a tiny tree; nothing ever reaches
``eval``/``exec``. Names must be in :mod:`sim.spec.variables`; booleans and numbers
may not be mixed; a number compared with a grade must lie on the grade's scale.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sim.spec.variables import VARIABLES, describe_range

State = Mapping[str, Any]
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>)|(?P<paren>[()]))"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_KEYWORDS = {"and", "or", "not", "true", "false"}
MAX_CHARS = 1000
"""Longest condition text (keeps parsing and the nested test functions shallow)."""
MAX_NESTING = 32
"""Deepest nesting of parentheses and 'not' (the parser is recursive)."""


class ConditionError(ValueError):
    """A condition that cannot be parsed or does not type-check."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: its source text, the names it reads, and a test function."""

    source: str
    names: tuple[str, ...]
    test: Callable[[State], bool]

    def __call__(self, state: State) -> bool:
        return self.test(state)

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    col: int


def _tokenise(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            col = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ConditionError(f"unexpected character {text[col - 1]!r} at column {col}")
        kind = m.lastgroup or ""
        value = m.group(kind)
        toks.append(_Tok(kind, value, m.start(kind) + 1))
        pos = m.end()
    return toks


# A parsed node is (type, evaluator) where type is "bool" or "num".
_Node = tuple[str, Callable[[State], Any], str | None]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenise(text)
        self.i = 0
        self.depth = 0
        self.names: list[str] = []

    def _nest(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(f"nested more than {MAX_NESTING} levels deep at column {tok.col}")

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise ConditionError("the condition ends too early")
        self.i += 1
        return tok

    def parse(self) -> Condition:
        if not self.toks:
            raise ConditionError("the condition is empty")
        kind, fn, _ = self.expr()
        extra = self.peek()
        if extra is not None:
            raise ConditionError(f"unexpected {extra.text!r} at column {extra.col}")
        if kind != "bool":
            raise ConditionError("the condition must be true or false, not a number")
        return Condition(self.text, tuple(dict.fromkeys(self.names)), fn)

    def _is(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.text == word

    def expr(self) -> _Node:
        left = self.conj()
        while self._is("or"):
            self.take()
            right = self.conj()
            left = self._logic("or", left, right)
        return left

    def conj(self) -> _Node:
        left = self.unary()
        while self._is("and"):
            self.take()
            right = self.unary()
            left = self._logic("and", left, right)
        return left

    def _logic(self, word: str, a: _Node, b: _Node) -> _Node:
        for side in (a, b):
            if side[0] != "bool":
                raise ConditionError(f"'{word}' joins true/false tests, not numbers")
        fa, fb = a[1], b[1]
        if word == "or":
            return ("bool", lambda s: bool(fa(s)) or bool(fb(s)), None)
        return ("bool", lambda s: bool(fa(s)) and bool(fb(s)), None)

    def unary(self) -> _Node:
        if self._is("not"):
            self._nest(self.take())
            kind, fn, _ = self.unary()
            self.depth -= 1
            if kind != "bool":
                raise ConditionError("'not' applies to a true/false test, not a number")
            return ("bool", lambda s: not fn(s), None)
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.atom()
        tok = self.peek()
        if tok is None or tok.kind != "op":
            return left
        self.take()
        right = self.atom()
        return self._compare(left, tok, right)

    def _compare(self, left: _Node, op: _Tok, right: _Node) -> _Node:
        if left[0] != right[0]:
            raise ConditionError(
                f"'{op.text}' at column {op.col} compares a true/false value with a number"
            )
        if left[0] == "bool" and op.text not in ("==", "!="):
            raise ConditionError(f"'{op.text}' cannot order true/false values")
        for var_side, const_side in ((left, right), (right, left)):
            name = var_side[2]
            if name is not None and const_side[2] is None and left[0] == "num":
                self._check_scale(name, const_side[1]({}))
        fa, fb, cmp = left[1], right[1], _OPS[op.text]
        return ("bool", lambda s: cmp(fa(s), fb(s)), None)

    def _check_scale(self, name: str, value: float) -> None:
        var = VARIABLES[name]
        if not var.low <= value <= var.high:
            raise ConditionError(f"{name} is {describe_range(var)}; {value:g} is off that scale")
        if var.kind == "grade" and value != int(value):
            raise ConditionError(f"{name} is a whole-number grade; {value:g} is not")

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "paren" and tok.text == "(":
            self._nest(tok)
            node = self.expr()
            self.depth -= 1
            close = self.take()
            if close.text != ")":
                raise ConditionError(f"expected ')' at column {close.col}")
            return node
        if tok.kind == "num":
            value = float(tok.text)
            return ("num", lambda s: value, None)
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                flag = tok.text == "true"
                return ("bool", lambda s: flag, None)
            if tok.text in _KEYWORDS:
                raise ConditionError(f"unexpected '{tok.text}' at column {tok.col}")
            var = VARIABLES.get(tok.text)
            if var is None:
                raise ConditionError(
                    f"unknown name '{tok.text}' at column {tok.col}; known: "
                    + ", ".join(sorted(VARIABLES))
                )
            self.names.append(var.name)
            key = var.name
            kind = "bool" if var.kind == "bool" else "num"
            return (kind, lambda s: s[key], key)
        raise ConditionError(f"unexpected {tok.text!r} at column {tok.col}")


def parse_condition(text: Any) -> Condition:
    """Parse condition text; raise :class:`ConditionError` with a column on failure."""
    if isinstance(text, Condition):
        return text
    if isinstance(text, bool) or not isinstance(text, str):
        raise ConditionError(f"a condition is text such as 'crs_grade >= 2', not {text!r}")
    if len(text) > MAX_CHARS:
        raise ConditionError(f"the condition is longer than {MAX_CHARS} characters")
    return _Parser(text).parse()
