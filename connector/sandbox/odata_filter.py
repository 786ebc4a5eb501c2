"""A `$filter` parser for the subset of OData 4.0 Dataverse documents, compiled once to a predicate and to SQL.

A filter is parsed into a small tree, then compiled two ways:
- a Python predicate, which decides: strings compare case-insensitively (Dataverse's default collation); a chain of
  ``col eq a or col eq b ...`` becomes one set lookup, so asking which of 300 keys exist is not 300 comparisons a row;
- a SQL condition over the stored JSON (through the expression indexes the store keeps), which only narrows the rows
  the predicate has to look at. It is a superset of the answer by construction: any part it cannot express exactly
  enough (``not``, ``ne``, navigation paths, non-ASCII literals, ...) becomes "true".

Query functions (``Microsoft.Dynamics.CRM.In``, ``Between``, ``LastXDays``, ``On``, ...) and the SQL wildcards that
Dataverse accepts inside ``contains``/``startswith``/``endswith`` (``%``, ``_``, ``[ ]``, ``[^ ]``) are supported
(Microsoft Learn, "Filter rows": query functions, "Use wildcard characters"). A malformed expression is answered
the way the service answers it: 400 with a message that names the position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Getter = Callable[[dict[str, Any], str], Any]
#: column -> "text" | "number" | "integer" | "datetime" | "date" | "bool" | "guid" | None (unknown or lookup path)
KindOf = Callable[[str], str | None]


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
  | (?P<colon>:)
  | (?P<alias>@\w+)
  | (?P<dquote>"(?:[^"\\]|\\.)*")
  | (?P<ident>[A-Za-z_$][\w.]*(?:/[A-Za-z_][\w.]*)*)
    """,
    re.VERBOSE,
)

_COMPARISON = {"eq", "ne", "gt", "ge", "lt", "le"}
_FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_SQL_OP = {"eq": "=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
CRM = "Microsoft.Dynamics.CRM."


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
        return bool(_norm(a) == _norm(b))
    if op == "ne":
        return bool(_norm(a) != _norm(b))
    if a is None or b is None:
        return False
    a, b = _norm(a), _norm(b)
    try:
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)
    except TypeError:
        return False


Predicate = Callable[[dict[str, Any]], bool]
Operand = Callable[[dict[str, Any]], Any]


# ---------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Prop:
    path: str


@dataclass(frozen=True)
class Lit:
    value: Any


@dataclass(frozen=True)
class ListLit:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Call:
    """contains/startswith/endswith (bool) and tolower/toupper/trim (value)."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Range:
    """A query function reduced to ``lo <= value < hi`` (either end open), negated for NotBetween."""

    prop: str
    lo: Any
    hi: Any
    lo_inclusive: bool = True
    hi_inclusive: bool = False
    negate: bool = False


@dataclass(frozen=True)
class Member:
    """``In`` / ``NotIn`` and ``col eq a or col eq b ...``: membership of one column's value in a set."""

    prop: str
    values: tuple[Any, ...]
    negate: bool = False


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    inner: Node


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Lambda:
    """``nav/any(o:...)`` / ``nav/all(o:...)``: decided by a predicate over the row's related rows."""

    test: Callable[[dict[str, Any]], bool]


Node = Prop | Lit | ListLit | Call | Range | Member | Cmp | BoolOp | Not | Const | Lambda


@dataclass
class Scope:
    """What a lambda's body needs about the related table: known columns, kinds, a getter, and the related rows."""

    known: Callable[[str], bool]
    kind: KindOf
    getter: Getter
    related: Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclass
class Context:
    """What query functions need besides the row: the clock and the caller."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    user_id: str | None = None
    #: set when the filter used the clock or the caller, so a compiled filter must not be reused
    volatile: bool = False
    #: hierarchy(function, row id) -> the ids the hierarchical query function selects (Above, Under, ...)
    hierarchy: Callable[[str, str], set[str]] | None = None
    #: lambda_scope(collection navigation property) -> the related table's Scope, or None when it is not one
    lambda_scope: Callable[[str], Scope | None] | None = None


# ---------------------------------------------------------------------- parser
class _Parser:
    def __init__(
        self, text: str, known: Callable[[str], bool], aliases: dict[str, str], kind: KindOf, ctx: Context
    ) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.known = known
        self.aliases = aliases
        self.kind = kind
        self.ctx = ctx

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

    def parse(self) -> Node:
        node = self.or_expr()
        tok = self.peek()
        if tok is not None:
            raise FilterError(f"Syntax error at position {tok.pos} in '{self.text}'.")
        return node

    def _is_word(self, word: str) -> bool:
        t = self.peek()
        return t is not None and t.kind == "ident" and t.text == word

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self._is_word("or"):
            self.i += 1
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else _or(items)

    def and_expr(self) -> Node:
        items = [self.unary()]
        while self._is_word("and"):
            self.i += 1
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Node:
        if self._is_word("not"):
            self.i += 1
            return Not(self.unary())
        return self.comparison()

    def comparison(self) -> Node:
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
            return Cmp(op_tok.text, left, right)
        return left

    def operand(self) -> Node:
        tok = self.take()
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return Lit(tok.text == "true")
            if tok.text == "null":
                return Lit(None)
            nxt = self.peek()
            if nxt and nxt.kind == "lparen" and tok.text.rsplit("/", 1)[-1] in ("any", "all") and "/" in tok.text:
                return self.lambda_(tok)
            if nxt and nxt.kind == "lparen":
                return self.function(tok)
            prop = tok.text
            if not self.known(prop):
                raise FilterError(f"Could not find a property named '{prop.split('/')[0]}'", prop)
            return Prop(prop)
        if tok.kind == "alias":
            if tok.text[1:] not in self.aliases:
                raise FilterError(f"The parameter alias '{tok.text}' is not defined in the request.")
            sub = _Parser(self.aliases[tok.text[1:]], self.known, {}, self.kind, self.ctx)
            return sub.operand()
        if tok.kind == "lbracket":
            values: list[Any] = []
            while (t := self.peek()) and t.kind != "rbracket":
                if t.kind == "comma":
                    self.i += 1
                    continue
                values.append(literal_value(self.take()))
            self.take("rbracket")
            return ListLit(tuple(values))
        return Lit(literal_value(tok))

    def lambda_(self, tok: Tok) -> Node:
        """Learn "Filter rows" (lambda operators): ``nav/any(o:<condition on o/column>)``, ``nav/all(...)``;
        ``nav/any()`` is true when there is at least one related row."""
        nav, op = tok.text.rsplit("/", 1)
        scope = self.ctx.lambda_scope(nav) if self.ctx.lambda_scope else None
        if scope is None:
            raise FilterError(f"Could not find a collection-valued navigation property named '{nav}'", nav)
        self.take("lparen")
        if self.peek() is not None and self.peek().kind == "rparen":  # type: ignore[union-attr]
            self.i += 1
            if op != "any":
                raise FilterError("all() needs a lambda expression: all(o:<condition>).")
            related = scope.related
            return Lambda(lambda rec: bool(related(rec)))
        var = self.take("ident").text
        self.take("colon")
        prefix = var + "/"

        def strip(path: str) -> str:
            return path[len(prefix) :] if path.startswith(prefix) else path

        inner = _Parser.__new__(_Parser)
        inner.text, inner.toks, inner.i, inner.aliases, inner.ctx = self.text, self.toks, self.i, self.aliases, self.ctx
        inner.known = lambda p: p.startswith(prefix) and scope.known(strip(p))
        inner.kind = lambda p: scope.kind(strip(p))
        body = inner.or_expr()
        self.i = inner.i
        self.take("rparen")
        test = _truthy(_py(body, lambda rec, p: scope.getter(rec, strip(p))))
        related = scope.related
        if op == "any":
            return Lambda(lambda rec: any(test(r) for r in related(rec)))
        return Lambda(lambda rec: all(test(r) for r in related(rec)))

    def function(self, name_tok: Tok) -> Node:
        name = name_tok.text
        self.take("lparen")
        if name in ("contains", "startswith", "endswith"):
            a = self.operand()
            self.take("comma")
            b = self.operand()
            self.take("rparen")
            return Call(name, (a, b))
        if name in ("tolower", "toupper", "trim"):
            a = self.operand()
            self.take("rparen")
            return Call(name, (a,))
        if name.startswith(CRM):
            return self.query_function(name_tok, name[len(CRM) :])
        raise FilterError(f"Unknown function '{name}' at position {name_tok.pos}.")

    # ------------------------------------------------------------------ query functions
    def query_function(self, name_tok: Tok, fn: str) -> Node:
        params: dict[str, Node] = {}
        while (t := self.peek()) and t.kind != "rparen":
            if t.kind == "comma":
                self.i += 1
                continue
            key = self.take("ident").text
            self.take("equals")
            params[key] = self.operand()
        self.take("rparen")
        full = CRM + fn
        if fn not in _QUERY_FUNCTIONS:
            if fn in _UNSUPPORTED_FUNCTIONS:
                raise FilterError(
                    f"The query function '{full}' is documented but not supported by the foi-sync sandbox "
                    "(fiscal periods, hierarchies and multi-select choices are not modelled)."
                )
            raise FilterError(f"Unknown function '{full}' at position {name_tok.pos}.")
        needs_values, needs_value = _QUERY_FUNCTIONS[fn]
        if "PropertyName" not in params:
            raise FilterError(f"{full} needs PropertyName.")
        prop = _const(params["PropertyName"])
        if not isinstance(prop, str) or not self.known(prop):
            raise FilterError(f"Could not find a property named '{prop}'", str(prop))
        kind = self.kind(prop)
        if needs_values:
            if "PropertyValues" not in params:
                raise FilterError(f"{full} needs PropertyName and PropertyValues.")
            raw = params["PropertyValues"]
            values = list(raw.values) if isinstance(raw, ListLit) else [_const(raw)]
            values = [_coerce(v, kind) for v in values]
            if fn in ("In", "NotIn"):
                return Member(prop, tuple(values), negate=fn == "NotIn")
            if fn in ("ContainValues", "DoesNotContainValues"):
                # Learn "Multi-select choice columns": rows whose chosen values include any of the given ones
                # (or none of them); the column holds "1,9,5".
                wanted = {str(v) for v in values}
                negate = fn == "DoesNotContainValues"
                return Lambda(lambda rec: bool(set(str(rec.get(prop) or "").split(",")) & wanted) != negate)
            if len(values) != 2:
                raise FilterError(f"{full} needs exactly two PropertyValues.")
            lo, hi = values
            hi_incl = True
            if kind == "datetime" and isinstance(hi, str) and len(hi) == 10:
                hi, hi_incl = _day_after(hi), False  # a date as the upper end means the whole of that day
            return Range(prop, lo, hi, True, hi_incl, negate=fn == "NotBetween")
        value: Any = None
        if needs_value:
            if "PropertyValue" not in params:
                raise FilterError(f"{full} needs PropertyName and PropertyValue.")
            value = _const(params["PropertyValue"])
        if fn in _HIERARCHY:
            # Learn "Query hierarchical data": the rows above or under a row along the table's hierarchical
            # relationship; the answer depends on the data, so the filter is compiled per request.
            self.ctx.volatile = True
            if self.ctx.hierarchy is None:
                raise FilterError(f"{full} is not available here.")
            ids = self.ctx.hierarchy(fn, str(value).strip("{}").lower())
            return Member(prop, tuple(sorted(ids)), negate=fn == "NotUnder")
        if fn in ("EqualUserId", "NotEqualUserId"):
            self.ctx.volatile = True
            user = self.ctx.user_id
            return Member(prop, (user,), negate=fn == "NotEqualUserId")
        if fn in ("On", "OnOrAfter", "OnOrBefore"):
            day = _as_day(value, full)
            lo, hi = day.isoformat(), (day + timedelta(days=1)).isoformat()
            if fn == "On":
                return Range(prop, lo, hi)
            if fn == "OnOrAfter":
                return Range(prop, lo, None)
            return Range(prop, None, hi)
        self.ctx.volatile = True
        return _relative(fn, prop, value, self.ctx.now, full)


def _or(items: list[Node]) -> Node:
    """``col eq a or col eq b ...`` on one column (no nesting) becomes one membership test."""
    props = set()
    values: list[Any] = []
    for it in items:
        if isinstance(it, Cmp) and it.op == "eq" and isinstance(it.left, Prop) and isinstance(it.right, Lit):
            props.add(it.left.path)
            values.append(it.right.value)
        elif isinstance(it, Member) and not it.negate:
            props.add(it.prop)
            values.extend(it.values)
        else:
            return BoolOp("or", tuple(items))
    if len(props) == 1:
        return Member(props.pop(), tuple(values))
    return BoolOp("or", tuple(items))


def _const(node: Node) -> Any:
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, ListLit):
        return list(node.values)
    raise FilterError("A query function parameter must be a literal value.")


def _coerce(value: Any, kind: str | None) -> Any:
    """PropertyValues are often written as strings (``["5","2000"]``); compare them as the column's type."""
    if isinstance(value, str) and kind in ("number", "integer"):
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise FilterError(f"'{value}' is not a number.") from None
    if isinstance(value, str) and kind in ("datetime", "date"):
        try:
            return normalize_datetime(value)
        except ValueError:
            raise FilterError(f"'{value}' is not a date or date-time.") from None
    if isinstance(value, str) and kind == "guid":
        return value.lower()
    return value


def _as_day(value: Any, full: str) -> date:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")[:10]).date()
        except ValueError:
            pass
    raise FilterError(f"{full} needs a date as PropertyValue, like '2025-06-30'.")


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    return date(d.year + y, m + 1, 1)


def _relative(fn: str, prop: str, value: Any, now: datetime, full: str) -> Range:
    """Clock-relative functions, in UTC, as half-open ranges of instants.

    Day-based functions count whole days from midnight (``LastXDays`` with 3 is from midnight three days ago up to
    now, ``Last7Days`` includes today); week-based ones start weeks on Sunday, as Dataverse's default calendar does.
    The exact boundaries Dataverse applies in the caller's time zone are not documented; the sandbox uses UTC.
    """
    today = now.astimezone(UTC).date()
    n = 7 if fn in ("Last7Days", "Next7Days") else None
    if n is None and fn not in _NO_VALUE:
        if not isinstance(value, int | str) or isinstance(value, bool) or not str(value).lstrip("-").isdigit():
            raise FilterError(f"{full} needs a whole number as PropertyValue.")
        n = int(value)
    day = timedelta(days=1)
    start_today = datetime(today.year, today.month, today.day, tzinfo=UTC)
    week_start = start_today - timedelta(days=(today.weekday() + 1) % 7)
    month_start = datetime(today.year, today.month, 1, tzinfo=UTC)
    lo: datetime | None
    hi: datetime | None
    up_to_now = False
    if fn == "Today":
        lo, hi = start_today, start_today + day
    elif fn == "Yesterday":
        lo, hi = start_today - day, start_today
    elif fn == "Tomorrow":
        lo, hi = start_today + day, start_today + 2 * day
    elif fn == "ThisWeek":
        lo, hi = week_start, week_start + 7 * day
    elif fn == "LastWeek":
        lo, hi = week_start - 7 * day, week_start
    elif fn == "NextWeek":
        lo, hi = week_start + 7 * day, week_start + 14 * day
    elif fn in ("ThisMonth", "LastMonth", "NextMonth"):
        shift = {"ThisMonth": 0, "LastMonth": -1, "NextMonth": 1}[fn]
        first = _add_months(month_start.date(), shift)
        after = _add_months(first, 1)
        lo = datetime(first.year, first.month, 1, tzinfo=UTC)
        hi = datetime(after.year, after.month, 1, tzinfo=UTC)
    elif fn in ("ThisYear", "LastYear", "NextYear"):
        y = today.year + {"ThisYear": 0, "LastYear": -1, "NextYear": 1}[fn]
        lo, hi = datetime(y, 1, 1, tzinfo=UTC), datetime(y + 1, 1, 1, tzinfo=UTC)
    else:
        assert n is not None
        unit, last = _unit(fn)
        if fn.startswith("OlderThan"):
            lo, hi = None, _back(now, unit, n)
        elif last:
            base = now if unit in ("hours", "minutes") else start_today
            lo = _back(base, unit, n - 1 if fn == "Last7Days" else n)
            hi, up_to_now = now, True
        else:
            base = now if unit in ("hours", "minutes") else start_today + day
            lo = now
            hi = _forward(base, unit, n - 1 if fn == "Next7Days" else n)
    return Range(prop, _stamp(lo) if lo else None, _stamp(hi) if hi else None, True, up_to_now)


def _unit(fn: str) -> tuple[str, bool]:
    for suffix, unit in (
        ("Days", "days"),
        ("Hours", "hours"),
        ("Minutes", "minutes"),
        ("Weeks", "weeks"),
        ("Months", "months"),
        ("Years", "years"),
    ):
        if fn.endswith(suffix):
            return unit, fn.startswith("Last")
    raise AssertionError(fn)


def _back(base: datetime, unit: str, n: int) -> datetime:
    if unit == "months":
        d = _add_months(base.date().replace(day=1), -n)
        return base.replace(year=d.year, month=d.month, day=min(base.day, 28))
    if unit == "years":
        return base.replace(year=base.year - n, day=min(base.day, 28) if base.month == 2 else base.day)
    return base - timedelta(**{unit: n})


def _forward(base: datetime, unit: str, n: int) -> datetime:
    if unit == "months":
        d = _add_months(base.date().replace(day=1), n)
        return base.replace(year=d.year, month=d.month, day=min(base.day, 28))
    if unit == "years":
        return base.replace(year=base.year + n, day=min(base.day, 28) if base.month == 2 else base.day)
    return base + timedelta(**{unit: n})


#: name -> (takes PropertyValues, takes PropertyValue)
_QUERY_FUNCTIONS: dict[str, tuple[bool, bool]] = {
    "In": (True, False),
    "NotIn": (True, False),
    "Between": (True, False),
    "NotBetween": (True, False),
    "On": (False, True),
    "OnOrAfter": (False, True),
    "OnOrBefore": (False, True),
    "EqualUserId": (False, False),
    "NotEqualUserId": (False, False),
    **{f: (False, False) for f in ("Today", "Yesterday", "Tomorrow", "Last7Days", "Next7Days")},
    **{f"{w}{p}": (False, False) for w in ("This", "Last", "Next") for p in ("Week", "Month", "Year")},
    **{f"{d}X{u}": (False, True) for d in ("Last", "Next") for u in ("Days", "Hours", "Weeks", "Months", "Years")},
    **{f"OlderThanX{u}": (False, True) for u in ("Minutes", "Hours", "Days", "Weeks", "Months", "Years")},
}
_HIERARCHY = ("Above", "AboveOrEqual", "Under", "UnderOrEqual", "NotUnder")
_QUERY_FUNCTIONS.update({f: (False, True) for f in _HIERARCHY})
_QUERY_FUNCTIONS.update({"ContainValues": (True, False), "DoesNotContainValues": (True, False)})
_NO_VALUE = {name for name, (_, value) in _QUERY_FUNCTIONS.items() if not value}
_UNSUPPORTED_FUNCTIONS = {
    "EqualBusinessId",
    "EqualUserLanguage",
    "EqualUserOrUserHierarchy",
    "EqualUserOrUserHierarchyAndTeams",
    "EqualUserOrUserTeams",
    "EqualUserTeams",
    "InFiscalPeriod",
    "InFiscalPeriodAndYear",
    "InFiscalYear",
    "InOrAfterFiscalPeriodAndYear",
    "InOrBeforeFiscalPeriodAndYear",
    "LastFiscalPeriod",
    "LastFiscalYear",
    "LastXFiscalPeriods",
    "LastXFiscalYears",
    "NextFiscalPeriod",
    "NextFiscalYear",
    "NextXFiscalPeriods",
    "NextXFiscalYears",
    "NotEqualBusinessId",
    "ThisFiscalPeriod",
    "ThisFiscalYear",
}


# ---------------------------------------------------------------------- wildcards
def like_regex(pattern: str, how: str) -> re.Pattern[str]:
    """Dataverse's SQL wildcards in contains/startswith/endswith, as a case-insensitive regular expression.

    ``%`` any run of characters, ``_`` any one character, ``[abc]``/``[a-f]`` one of a set or range, ``[^...]`` one
    not in it; ``[%]`` and ``[_]`` match the character itself.
    """
    out: list[str] = []
    i = 0
    p = pattern.casefold()
    while i < len(p):
        c = p[i]
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[" and (end := p.find("]", i + 2)) != -1:
            body = p[i + 1 : end]
            neg = body.startswith("^") and len(body) > 1
            if neg:
                body = body[1:]
            cls = "".join("-" if ch == "-" and 0 < k < len(body) - 1 else re.escape(ch) for k, ch in enumerate(body))
            out.append(f"[{'^' if neg else ''}{cls}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    body = "".join(out)
    if how == "startswith":
        body = body + ".*"
    elif how == "endswith":
        body = ".*" + body
    else:
        body = ".*" + body + ".*"
    return re.compile(body, re.DOTALL)


def _has_wildcards(s: str) -> bool:
    return any(c in s for c in "%_[")


# ---------------------------------------------------------------------- compile: Python
def _py(node: Node, getter: Getter) -> Operand:
    if isinstance(node, Lit):
        v = node.value
        return lambda rec: v
    if isinstance(node, ListLit):
        vs = list(node.values)
        return lambda rec: vs
    if isinstance(node, Lambda):
        return node.test
    if isinstance(node, Prop):
        path = node.path
        if "/" not in path:
            return lambda rec: rec.get(path)
        return lambda rec: getter(rec, path)
    if isinstance(node, Cmp):
        left, right, op = _py(node.left, getter), _py(node.right, getter), node.op
        return lambda rec: _compare(op, left(rec), right(rec))
    if isinstance(node, BoolOp):
        parts = [_py(i, getter) for i in node.items]
        if node.op == "and":
            return lambda rec: all(p(rec) for p in parts)
        return lambda rec: any(p(rec) for p in parts)
    if isinstance(node, Not):
        inner = _py(node.inner, getter)
        return lambda rec: not inner(rec)
    if isinstance(node, Const):
        c = node.value
        return lambda rec: c
    if isinstance(node, Member):
        value_of = _py(Prop(node.prop), getter)
        folded = {_norm(v) for v in node.values}
        negate = node.negate
        return lambda rec: (_norm(value_of(rec)) in folded) != negate
    if isinstance(node, Range):
        value_of = _py(Prop(node.prop), getter)
        r = node

        def in_range(rec: dict[str, Any]) -> bool:
            v = value_of(rec)
            if v is None:
                return False
            inside = (r.lo is None or _compare("ge" if r.lo_inclusive else "gt", v, r.lo)) and (
                r.hi is None or _compare("le" if r.hi_inclusive else "lt", v, r.hi)
            )
            return inside != r.negate

        return in_range
    if isinstance(node, Call):
        args = [_py(a, getter) for a in node.args]
        name = node.name
        if name in ("tolower", "toupper"):
            return args[0]  # comparisons are case-insensitive anyway
        if name == "trim":
            a0 = args[0]
            return lambda rec: v.strip() if isinstance(v := a0(rec), str) else v
        a, b = args
        if isinstance(node.args[1], Lit) and isinstance(node.args[1].value, str):
            lit = node.args[1].value
            if _has_wildcards(lit):
                rx = like_regex(lit, name)
                return lambda rec: isinstance(x := a(rec), str) and rx.fullmatch(x.casefold()) is not None
            y = lit.casefold()
            if name == "contains":
                return lambda rec: isinstance(x := a(rec), str) and y in x.casefold()
            if name == "startswith":
                return lambda rec: isinstance(x := a(rec), str) and x.casefold().startswith(y)
            return lambda rec: isinstance(x := a(rec), str) and x.casefold().endswith(y)

        def fn(rec: dict[str, Any]) -> bool:
            x, y = a(rec), b(rec)
            if not isinstance(x, str) or not isinstance(y, str):
                return False
            x, y = x.casefold(), y.casefold()
            return y in x if name == "contains" else x.startswith(y) if name == "startswith" else x.endswith(y)

        return fn
    raise AssertionError(node)


def _truthy(op: Operand) -> Predicate:
    return lambda rec: bool(op(rec))


# ---------------------------------------------------------------------- compile: SQL (a superset)
@dataclass
class Sql:
    where: str
    params: list[Any]
    indexed: set[str]  # columns whose lower(json_extract(...)) index the condition uses


def _col(path: str) -> str | None:
    return path if "/" not in path and _COLUMN.match(path) else None


def _raw(col: str) -> str:
    return f"json_extract(data, '$.{col}')"


def _low(col: str) -> str:
    return f"lower(json_extract(data, '$.{col}'))"


def _ascii_text(v: Any) -> bool:
    return isinstance(v, str) and v.isascii()


def _sql(node: Node, kind: KindOf) -> Sql | None:
    """A SQL condition every row the predicate keeps satisfies, or None (no narrowing possible)."""
    if isinstance(node, Const):
        return Sql("1" if node.value else "0", [], set())
    if isinstance(node, BoolOp):
        parts = [_sql(i, kind) for i in node.items]
        if node.op == "and":
            present = [p for p in parts if p is not None]
            if not present:
                return None
        else:
            if any(p is None for p in parts):
                return None
            present = [p for p in parts if p is not None]
        joiner = " AND " if node.op == "and" else " OR "
        return Sql(
            "(" + joiner.join(p.where for p in present) + ")",
            [x for p in present for x in p.params],
            set().union(*(p.indexed for p in present)),
        )
    if isinstance(node, Member) and not node.negate:
        col = _col(node.prop)
        if col is None or not node.values:
            return None
        if all(_ascii_text(v) for v in node.values):
            marks = ",".join("?" for _ in node.values)
            return Sql(f"{_low(col)} IN ({marks})", [v.lower() for v in node.values], {col})
        return None
    if isinstance(node, Range) and not node.negate:
        col = _col(node.prop)
        k = kind(node.prop)
        if col is None or k not in ("number", "integer", "datetime", "date"):
            return None
        conds, params = [], []
        for bound, incl, strict, loose in (
            (node.lo, node.lo_inclusive, ">", ">="),
            (node.hi, node.hi_inclusive, "<", "<="),
        ):
            if bound is None:
                continue
            if not _range_literal(bound, k):
                return None
            conds.append(f"{_raw(col)} {loose if incl else strict} ?")
            params.append(bound)
        if not conds:
            return Sql(f"{_raw(col)} IS NOT NULL", [], set())
        return Sql("(" + " AND ".join(conds) + ")", params, set())
    if isinstance(node, Cmp):
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Lit) and isinstance(right, Prop):
            left, right, op = right, left, _FLIP[op]
        if not isinstance(left, Prop) or not isinstance(right, Lit):
            return None
        col = _col(left.path)
        if col is None:
            return None
        v, k = right.value, kind(left.path)
        if v is None:
            if op == "eq":
                return Sql(f"{_raw(col)} IS NULL", [], set())
            if op == "ne":
                return Sql(f"{_raw(col)} IS NOT NULL", [], set())
            return Sql("0", [], set())  # an ordering against null is never true
        if op == "ne":
            return None
        if op == "eq":
            if _ascii_text(v) and k in ("text", "guid", None):
                return Sql(f"{_low(col)} = ?", [v.lower()], {col})
            if isinstance(v, bool) and k == "bool":
                return Sql(f"{_raw(col)} = ?", [int(v)], set())
            if isinstance(v, int) and not isinstance(v, bool) and k == "integer":
                return Sql(f"{_low(col)} = ?", [str(v)], {col})
            if _range_literal(v, k):
                return Sql(f"{_raw(col)} = ?", [v], set())
            return None
        if _range_literal(v, k):
            return Sql(f"{_raw(col)} {_SQL_OP[op]} ?", [v], set())
        return None
    if isinstance(node, Call) and node.name in ("contains", "startswith", "endswith"):
        target, pat = node.args
        if not isinstance(target, Prop) or not isinstance(pat, Lit) or not _ascii_text(pat.value):
            return None
        col = _col(target.path)
        if col is None or "[" in pat.value or "\\" in pat.value:
            return None
        body = pat.value.lower()
        like = body + "%" if node.name == "startswith" else "%" + body if node.name == "endswith" else f"%{body}%"
        # LIKE folds ASCII case only; a value with any non-ASCII character is left to the predicate (casefold).
        return Sql(f"({_low(col)} LIKE ? OR {_raw(col)} GLOB ?)", [like, "*[^\x01-\x7f]*"], set())
    return None


def _range_literal(v: Any, k: str | None) -> bool:
    """A literal SQLite orders exactly like the predicate does for a column of kind ``k``."""
    if k in ("number", "integer"):
        return isinstance(v, int | float) and not isinstance(v, bool)
    if k in ("datetime", "date"):
        return isinstance(v, str) and bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?", v))
    return False


# ---------------------------------------------------------------------- entry points
@dataclass
class CompiledFilter:
    predicate: Predicate
    sql: Sql | None
    volatile: bool  # uses the clock or the caller: compile again for the next request


def compile_query(
    text: str,
    getter: Getter,
    known: Callable[[str], bool] = lambda p: True,
    aliases: dict[str, str] | None = None,
    kind: KindOf = lambda p: None,
    ctx: Context | None = None,
) -> CompiledFilter:
    """Parse ``text`` once -> the deciding predicate and a SQL condition that narrows the rows to test."""
    ctx = ctx or Context()
    tree = _Parser(text, known, aliases or {}, kind, ctx).parse()
    return CompiledFilter(_truthy(_py(tree, getter)), _sql(tree, kind), ctx.volatile)


def compile_filter(
    text: str,
    getter: Getter,
    known: Callable[[str], bool] = lambda p: True,
    aliases: dict[str, str] | None = None,
) -> Predicate:
    return compile_query(text, getter, known, aliases).predicate
