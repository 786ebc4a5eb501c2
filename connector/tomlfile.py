"""The one TOML loader: read a file, validate it with a pydantic model, and say what is wrong the same way everywhere.

Every message has the same shape, ``FILE:LINE: 'KEY': PROBLEM; fix: FIX`` (``FILE: KEY: ...`` when the line cannot be
found), one line per problem, and never echoes a value (a config file may hold a name or a secret by mistake).
Used by the configuration, the source and target mappings, the routing rules, the team calendars, the holiday
overrides and the demo's rules.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from connector.errors import FoiSyncError, MappingError

M = TypeVar("M", bound=BaseModel)

#: (problem, fix) for one pydantic error; a loader can pass its own to add context (e.g. an environment variable).
Describer = Callable[[ErrorDetails], tuple[str, str]]

#: What to write instead, for the value-type mistakes people make when editing TOML by hand.
TYPE_FIXES = {
    "int_parsing": "write a whole number without quotes (a choice value is the option's Value in the CRM, e.g. 100000000)",
    "int_type": "write a whole number without quotes",
    "bool_parsing": "write true or false, without quotes",
    "bool_type": "write true or false, without quotes",
    "string_type": "put the value in double quotes",
    "float_parsing": "write a number without quotes",
    "list_type": 'write a list in square brackets, e.g. ["a", "b"]',
    "dict_type": "write a [table] of keys and values",
    "date_from_datetime_parsing": "write a TOML date without quotes, e.g. date = 2026-06-15",
    "date_parsing": "write a TOML date without quotes, e.g. date = 2026-06-15",
    "date_type": "write a TOML date without quotes, e.g. date = 2026-06-15",
}

_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def read_toml(
    path: Path,
    *,
    what: str,
    fix_path: str,
    error: type[FoiSyncError] = MappingError,
) -> tuple[dict[str, Any], str]:
    """The parsed document and its text (for line numbers). ``what`` names the file for people ("the source
    mapping"); ``fix_path`` says where its path is set, for when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"{path}: (file): cannot read {what} ({exc.strerror}); fix: {fix_path}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        found = _AT_LINE.search(str(exc))
        where = f"{path}:{found.group(1)}" if found else str(path)
        reason = _AT_LINE.sub("", str(exc)).strip()
        raise error(f"{where}: (file): not valid TOML ({reason}); fix: correct the syntax at that line") from None


def validate(
    model: type[M],
    data: dict[str, Any],
    *,
    path: Path | str,
    text: str | None = None,
    error: type[FoiSyncError] = MappingError,
    describe: Describer | None = None,
    locate: Callable[[list[str]], str] | None = None,
) -> M:
    """``model.model_validate(data)``, turning a ValidationError into one ``error`` with every problem listed."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_errors(exc, path, text, describe=describe, locate=locate)) from None


def load(
    model: type[M],
    path: Path,
    *,
    what: str,
    fix_path: str,
    error: type[FoiSyncError] = MappingError,
    describe: Describer | None = None,
) -> M:
    """Read and validate in one step."""
    data, text = read_toml(path, what=what, fix_path=fix_path, error=error)
    return validate(model, data, path=path, text=text, error=error, describe=describe)


def describe_errors(
    exc: ValidationError,
    path: Path | str,
    text: str | None = None,
    *,
    describe: Describer | None = None,
    locate: Callable[[list[str]], str] | None = None,
) -> str:
    """One ``FILE:LINE: 'KEY': PROBLEM; fix: FIX`` line per problem. ``locate`` may name the key its own way
    (``[[add]] entry 1: reason``)."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err["loc"]]
        key = locate(loc) if locate else (f"'{'.'.join(loc)}'" if loc else "(top level)")
        problem, fix = (describe or default_problem)(err)
        line = line_of(text, loc) if text is not None else None
        where = f"{path}:{line}" if line else str(path)
        lines.append(f"{where}: {key}: {problem}; fix: {fix}")
    return "\n".join(lines)


def default_problem(err: ErrorDetails) -> tuple[str, str]:
    """(problem, fix) for the common pydantic error kinds; a validator's own "problem; fix" message is split."""
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key", "check the spelling against the docs or remove it"
    if kind == "missing":
        return "required key is missing", "add it"
    if kind in ("enum", "literal_error"):
        expected = (err.get("ctx") or {}).get("expected", "")
        return "not a known value", f"use one of {expected}"
    msg = err["msg"].removeprefix("Value error, ")
    if kind in TYPE_FIXES:
        return msg, TYPE_FIXES[kind]
    if "; " in msg:
        problem, fix = msg.split("; ", 1)
        return problem, fix.removeprefix("fix: ")
    return msg, "correct the value (see the docs for the format)"


def did_you_mean(word: str, allowed: list[str]) -> str:
    """``did you mean 'encoding'? `` when a close spelling exists, else an empty string."""
    close = difflib.get_close_matches(word, allowed, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def line_of(text: str | None, loc: list[str]) -> int | None:
    """Best-effort line number: the deepest [table] header of loc, then the key inside it."""
    if not text:
        return None
    lines = text.splitlines()
    best = None
    names = [p for p in loc if not p.isdigit()]
    for depth in range(len(names), 0, -1):
        headers = {"[" + ".".join(names[:depth]) + "]", "[[" + ".".join(names[:depth]) + "]]"}
        for i, ln in enumerate(lines, 1):
            if ln.strip() in headers:
                best = i
                if depth < len(names):
                    for j in range(i, len(lines)):
                        s = lines[j].strip()
                        if s.startswith("["):
                            break
                        if s.split("=")[0].strip().strip('"') == names[depth]:
                            return j + 1
                return best
    if names:
        for i, ln in enumerate(lines, 1):
            if ln.split("=")[0].strip().strip('"') == names[-1]:
                return i
    return best
