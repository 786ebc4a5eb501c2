"""The one place a Python value becomes an OData literal, a key segment or a filter.

Every value the connector puts in a Dataverse URL goes through here, so escaping is right once: single quotes
doubled, the URL-reserved characters percent-encoded, GUIDs, numbers, booleans and dates unquoted. Alternate-key
values with characters Dataverse cannot address (Microsoft: ``/ < > * % & : \\ ? +``) are refused with a message
that says what to do instead (see :func:`key_safe`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

#: Characters Microsoft documents as breaking GET/PATCH by alternate key ("Define alternate keys").
KEY_UNSAFE_CHARS = "/<>*%&:\\?+"
#: Control characters (C0, DEL, C1) cannot travel in a request path at all; intake strips them (docs/intake.md).
_KEY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnsafeKeyValue(ValueError):
    """An alternate-key value Dataverse cannot address in a URL."""


class Guid(str):
    """Marks a string as a GUID so it is written unquoted (``_parentcustomerid_value eq 1234-...``)."""


def is_guid(value: str) -> bool:
    return bool(_GUID.match(value))


def name(identifier: str) -> str:
    """Column, table and navigation names are identifiers, never data: refuse anything else."""
    if not _NAME.match(identifier):
        raise ValueError(f"'{identifier}' is not a valid Dataverse column or table name")
    return identifier


def literal(value: Any) -> str:
    """A filter or key literal. Strings are quoted with ' doubled and percent-encoded for the URL."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Guid | uuid.UUID):
        return str(value).lower()
    if isinstance(value, int | Decimal | float):
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            raise ValueError("NaN and infinity cannot be written as OData literals")
        # '+' in an exponent would read as a space in a URL.
        return (repr(value) if isinstance(value, float) else str(value)).replace("+", "%2B")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetime values in filters must be timezone-aware")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + quote(value.replace("'", "''"), safe=" -_.~,;=!$'()@") + "'"
    raise TypeError(f"cannot write {type(value).__name__} as an OData literal")


def key_segment_value(value: str, column: str = "key") -> str:
    """A string alternate-key value as it goes inside a record URL's parentheses: ``'O''BRIEN%20X'``.

    The one place a key value is written into a URL path: single quotes doubled (OData's escape) and every
    character outside RFC 3986's unreserved set percent-encoded as UTF-8, so spaces, ``#``, ``(``, ``)``,
    ``,``, ``=``, ``$`` and any unicode survive the path, an ``@odata.id``/``@odata.bind`` value and a
    ``$batch`` request line alike. Values Dataverse cannot address are refused first (:func:`check_key_value`).
    """
    check_key_value(value, column)
    return "'" + quote(value.replace("'", "''"), safe="'") + "'"


def check_key_value(value: Any, column: str = "key") -> Any:
    """Refuse, before anything is sent, an alternate-key value Dataverse cannot address by URL."""
    if isinstance(value, str):
        if not value.strip():
            raise UnsafeKeyValue(f"alternate key column '{column}' is empty or only spaces; give the record a key")
        if _KEY_CONTROL.search(value):
            raise UnsafeKeyValue(
                f"the value for alternate key column '{column}' contains a control character, which cannot be sent "
                "in a URL; remove it from the source (intake strips control characters, see docs/intake.md)"
            )
        bad = sorted({c for c in value if c in KEY_UNSAFE_CHARS})
        if bad:
            raise UnsafeKeyValue(
                f"the value for alternate key column '{column}' contains {' '.join(repr(c) for c in bad)}, which "
                "Dataverse cannot address in a URL; store a key-safe form (e.g. key_safe('FOI/2024/0123') -> "
                f"'{key_safe('FOI/2024/0123')}') in the key column and keep the original in another column"
            )
    return value


def key(value: str | Mapping[str, Any]) -> str:
    """The inside of a record URL's parentheses: a GUID, or ``col='v'`` pairs of an alternate key."""
    if isinstance(value, str):
        if not is_guid(value):
            raise ValueError(f"'{value}' is not a GUID; pass a dict of alternate-key columns instead")
        return value.lower()
    if not value:
        raise ValueError("an alternate key needs at least one column")
    parts = []
    for col, v in value.items():
        if isinstance(v, str) and not is_guid(v):
            parts.append(f"{name(col)}={key_segment_value(v, col)}")
        else:
            parts.append(f"{name(col)}={literal(Guid(v) if isinstance(v, str) else v)}")
    return ",".join(parts)


def record_path(entity_set: str, record_key: str | Mapping[str, Any]) -> str:
    return f"{name(entity_set)}({key(record_key)})"


def bind(entity_set: str, record_key: str | Mapping[str, Any]) -> str:
    """An ``@odata.bind`` value (also valid as UpsertMultiple's ``@odata.id``)."""
    return f"/{record_path(entity_set, record_key)}"


def eq(column: str, value: Any) -> str:
    return f"{name(column)} eq {literal(value)}"


def ne(column: str, value: Any) -> str:
    return f"{name(column)} ne {literal(value)}"


def cmp(column: str, op: str, value: Any) -> str:
    if op not in {"eq", "ne", "gt", "ge", "lt", "le"}:
        raise ValueError(f"unknown comparison '{op}'")
    return f"{name(column)} {op} {literal(value)}"


def contains(column: str, value: str) -> str:
    return f"contains({name(column)},{literal(value)})"


def any_of(column: str, values: list[Any]) -> str:
    """``col eq a or col eq b``; empty lists match nothing."""
    if not values:
        return "false"
    return "(" + " or ".join(eq(column, v) for v in values) + ")"


#: Filters built by :func:`any_of_batches` stay under this many characters: Dataverse allows 32,768 in a GET URL,
#: and the rest of the URL ($select, the entity set, the host) needs room too.
MAX_FILTER_CHARS = 12_000


def any_of_batches(column: str, values: list[Any], max_chars: int = MAX_FILTER_CHARS) -> Iterator[str]:
    """``col eq a or col eq b ...`` filters covering ``values``, each as long as a GET URL safely allows.

    Asking which of many keys exist costs one request per batch, so fewer, fuller batches matter for migrations.
    """
    batch: list[str] = []
    size = 2
    for value in values:
        clause = eq(column, value)
        if batch and size + len(clause) + 4 > max_chars:
            yield "(" + " or ".join(batch) + ")"
            batch, size = [], 2
        batch.append(clause)
        size += len(clause) + 4
    if batch:
        yield "(" + " or ".join(batch) + ")"


def and_(*clauses: str) -> str:
    return " and ".join(f"({c})" for c in clauses if c)


def key_safe(reference: str) -> str:
    """The documented key-safe form of a reference: unsafe characters become '-', e.g. FOI/2024/0123 -> FOI-2024-0123.

    Two references that differ only in an unsafe character would collide; intake reports such duplicates.
    """
    out = "".join("-" if c in KEY_UNSAFE_CHARS or c == "#" else c for c in reference.strip())
    return re.sub(r"\s+", " ", out)
