"""A `$filter` parser for the subset of OData 4.0 Dataverse documents, compiled to a Python predicate.

Strings compare case-insensitively (Dataverse's default collation). A malformed expression is answered the way the
service answers it: 400 with a message that names the position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Getter = Callable[[dict[str, Any], str], Any]


class FilterError(ValueError):
    """A $filter the service would reject; ``property`` is set when the cause is an unknown column."""

    def __init__(self, message: str, prop: str | None = None) -> None:
        super().__init__(message)
        self.property = prop


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<enum>[A-Za-z][\w.]*'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[mMdDfFlL]?)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<lbracket>\[)
  | (?P<rbracket>\])
  | (?P<comma>,)
  | (?P<equals>=)
  | (?P<alias>@\w+)
  | (?P<dquote>"(?:[^"\\]|\\.)*")
  | (?P<ident>[A-Za-z_$][\w.]*(?:/[A-Za-z_][\w.]*)*)
    """,
    re.VERBOSE,
)

_COMPARISON = {"eq", "ne", "gt", "ge", "lt", "le"}


@dataclass
class Tok:
    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    pos = 0
    out: list[Tok] = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos] == "'":
                # OData's lexer reports where it ran out of input: FILTER doc example gives position 21 for
                # "lastname eq 'O'Bryan'" (21 characters long).
                raise FilterError(f"There is an unterminated literal at position {len(text)} in '{text}'.")
            raise FilterError(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append(Tok(kind, m.group(), pos))
        pos = m.end()
    return out


def literal_value(tok: Tok) -> Any:
    if tok.kind == "string":
        return tok.text[1:-1].replace("''", "'")
    if tok.kind == "dquote":
        return tok.text[1:-1].replace('\\"', '"')
    if tok.kind == "guid":
        return tok.text.lower()
    if tok.kind in ("date", "datetime"):
        return normalize_datetime(tok.text)
    if tok.kind == "number":
        t = tok.text.rstrip("mMdDfFlL")
        return float(t) if any(c in t for c in ".eE") else int(t)
    if tok.kind == "enum":
        return tok.text[tok.text.index("'") + 1 : -1]
    raise FilterError(f"Syntax error at position {tok.pos}: '{tok.text}' is not a literal.")


def normalize_datetime(text: str) -> str:
    """Dates as 'YYYY-MM-DD', date-times as 'YYYY-MM-DDTHH:MM:SSZ' (UTC), so strings order like instants."""
    from datetime import UTC, datetime

    if len(text) == 10:
        return text
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _norm(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else v


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return _norm(a) == _norm(b)
    if op == "ne":
        return _norm(a) != _norm(b)
    if a is None or b is None:
        return False
    a, b = _norm(a), _norm(b)
    try:
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        return a <= b
    except TypeError:
        return False


Predicate = Callable[[dict[str, Any]], bool]
Operand = Callable[[dict[str, Any]], Any]


class _Parser:
    def __init__(self, text: str, getter: Getter, known: Callable[[str], bool], aliases: dict[str, str]) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.getter = getter
        self.known = known
        self.aliases = aliases

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str | None = None, text: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None:
            raise FilterError(f"Syntax error: unexpected end of expression in '{self.text}'.")
        if (kind and tok.kind != kind) or (text and tok.text != text):
            raise FilterError(f"Syntax error at position {tok.pos} in '{self.text}'.")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            raise FilterError(f"Syntax error at position {tok.pos} in '{self.text}'.")
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (t := self.peek()) and t.kind == "ident" and t.text == "or":
            self.i += 1
            right = self.and_expr()
            left = (lambda a, b: lambda rec: a(rec) or b(rec))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (t := self.peek()) and t.kind == "ident" and t.text == "and":
            self.i += 1
            right = self.unary()
            left = (lambda a, b: lambda rec: a(rec) and b(rec))(left, right)
        return left

    def unary(self) -> Predicate:
        t = self.peek()
        if t and t.kind == "ident" and t.text == "not":
            self.i += 1
            inner = self.unary()
            return lambda rec: not inner(rec)
        return self.comparison()

    def comparison(self) -> Predicate:
        t = self.peek()
        if t and t.kind == "lparen":
            # Either a grouped boolean expression or a parenthesised operand; booleans are far more common.
            self.i += 1
            inner = self.or_expr()
            self.take("rparen")
            return inner
        left = self.operand()
        op_tok = self.peek()
        if op_tok and op_tok.kind == "ident" and op_tok.text in _COMPARISON:
            self.i += 1
            right = self.operand()
            op = op_tok.text
            return lambda rec: _compare(op, left(rec), right(rec))
        return lambda rec: bool(left(rec))

    def operand(self) -> Operand:
        tok = self.take()
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                v = tok.text == "true"
                return lambda rec: v
            if tok.text == "null":
                return lambda rec: None
            nxt = self.peek()
            if nxt and nxt.kind == "lparen":
                return self.function(tok)
            prop = tok.text
            if not self.known(prop):
                raise FilterError(f"Could not find a property named '{prop.split('/')[0]}'", prop)
            getter = self.getter
            return lambda rec: getter(rec, prop)
        if tok.kind == "alias":
            if tok.text[1:] not in self.aliases:
                raise FilterError(f"The parameter alias '{tok.text}' is not defined in the request.")
            sub = _Parser(self.aliases[tok.text[1:]], self.getter, self.known, {})
            return sub.operand()
        if tok.kind == "lbracket":
            values: list[Any] = []
            while (t := self.peek()) and t.kind != "rbracket":
                if t.kind == "comma":
                    self.i += 1
                    continue
                values.append(literal_value(self.take()))
            self.take("rbracket")
            return lambda rec: values
        v = literal_value(tok)
        return lambda rec: v

    def function(self, name_tok: Tok) -> Operand:
        name = name_tok.text
        self.take("lparen")
        if name in ("contains", "startswith", "endswith"):
            a = self.operand()
            self.take("comma")
            b = self.operand()
            self.take("rparen")

            def fn(rec: dict[str, Any]) -> bool:
                x, y = a(rec), b(rec)
                if not isinstance(x, str) or not isinstance(y, str):
                    return False
                x, y = x.casefold(), y.casefold()
                return y in x if name == "contains" else x.startswith(y) if name == "startswith" else x.endswith(y)

            return fn
        if name in ("Microsoft.Dynamics.CRM.In", "Microsoft.Dynamics.CRM.NotIn"):
            params: dict[str, Operand] = {}
            while (t := self.peek()) and t.kind != "rparen":
                if t.kind == "comma":
                    self.i += 1
                    continue
                key = self.take("ident").text
                self.take("equals")
                params[key] = self.operand()
            self.take("rparen")
            if "PropertyName" not in params or "PropertyValues" not in params:
                raise FilterError(f"{name} needs PropertyName and PropertyValues.")
            prop = params["PropertyName"]({})
            if not self.known(prop):
                raise FilterError(f"Could not find a property named '{prop}'", prop)
            values = params["PropertyValues"]({})
            folded = {_norm(v) for v in values}
            getter, negate = self.getter, name.endswith("NotIn")
            return lambda rec: (_norm(getter(rec, prop)) in folded) != negate
        if name in ("tolower", "toupper", "trim"):
            a = self.operand()
            self.take("rparen")
            return lambda rec: a(rec)
        raise FilterError(f"Unknown function '{name}' at position {name_tok.pos}.")


def compile_filter(
    text: str,
    getter: Getter,
    known: Callable[[str], bool] = lambda p: True,
    aliases: dict[str, str] | None = None,
) -> Predicate:
    return _Parser(text, getter, known, aliases or {}).parse()
