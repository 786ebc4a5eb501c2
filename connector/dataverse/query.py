"""Reads: paging through ``@odata.nextLink`` and change tracking through delta links.

Paging uses ``Prefer: odata.maxpagesize`` and follows the opaque ``@odata.nextLink`` unchanged, so nothing is
silently cut at 5,000 rows. Change tracking saves a resume point after every page (the next link while a sync is
under way, then the new delta link) so a crash mid-sync resumes from the last page, not from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector import odata
from connector.dataverse.errors import DeltaTokenExpired, ValidationFailed

if TYPE_CHECKING:
    from connector.dataverse.transport import Transport

MAX_PAGE_SIZE = 5000


@dataclass
class Change:
    """One change-tracking entry: a new/updated row (``record``) or a deletion (``deleted``, only ``id``)."""

    id: str
    deleted: bool
    record: dict[str, Any] = field(default_factory=dict)


def build_query(
    select: list[str] | None = None,
    filter: str | None = None,
    orderby: str | list[str] | None = None,
    top: int | None = None,
    expand: str | None = None,
    count: bool = False,
) -> str:
    """An encoded query string. ``filter`` must come from :mod:`connector.odata` helpers."""
    parts = []
    if select:
        parts.append("$select=" + ",".join(odata.name(c) for c in select))
    if filter:
        parts.append("$filter=" + filter)
    if orderby:
        items = [orderby] if isinstance(orderby, str) else orderby
        for item in items:
            col, _, direction = item.strip().partition(" ")
            odata.name(col)
            if direction.strip() not in ("", "asc", "desc"):
                raise ValueError(f"orderby '{item}': direction must be asc or desc")
        parts.append("$orderby=" + ",".join(i.strip() for i in items))
    if top is not None:
        parts.append(f"$top={int(top)}")
    if expand:
        parts.append("$expand=" + expand)
    if count:
        parts.append("$count=true")
    return "&".join(parts)


def iter_pages(
    transport: Transport, entity_set: str, query: str, page_size: int, headers: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield each page body, following ``@odata.nextLink`` with the same page size."""
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    hdrs = {"Prefer": f"odata.maxpagesize={page_size}", **(headers or {})}
    path: str = odata.name(entity_set)
    q: str | None = query or None
    while True:
        body = transport.json("GET", path, query=q, headers=hdrs)
        yield body
        nxt = body.get("@odata.nextLink")
        if not nxt:
            return
        path, q = nxt, None


def iter_rows(
    transport: Transport, entity_set: str, query: str, page_size: int, top: int | None = None
) -> Iterator[dict[str, Any]]:
    if top is not None:
        # $top is ignored together with odata.maxpagesize, so cap the page size and stop after top rows.
        page_size = min(page_size, max(1, top))
    n = 0
    for page in iter_pages(transport, entity_set, query, page_size):
        for row in page.get("value", []):
            if top is not None and n >= top:
                return
            n += 1
            yield row


def iter_changes(
    transport: Transport,
    entity_set: str,
    select: list[str],
    delta_link: str | None = None,
    save: Callable[[str], None] | None = None,
    page_size: int = MAX_PAGE_SIZE,
    primary_id: str | None = None,
) -> Iterator[Change]:
    """Yield changes since ``delta_link`` (or every row, first time). ``save(link)`` runs after each page has been
    fully yielded with the link to resume from; the last call carries the new ``@odata.deltaLink``.

    Raises :class:`DeltaTokenExpired` when Dataverse no longer knows the token: resynchronise from scratch
    (call again with ``delta_link=None``).
    """
    hdrs = {"Prefer": f"odata.track-changes,odata.maxpagesize={max(1, min(page_size, MAX_PAGE_SIZE))}"}
    if delta_link:
        path, q = delta_link, None
    else:
        if not select:
            raise ValueError("change tracking needs an explicit column list (select)")
        path, q = odata.name(entity_set), build_query(select=select)
    while True:
        try:
            body = transport.json("GET", path, query=q, headers=hdrs)
        except ValidationFailed as exc:
            if "expired" in exc.message.lower() or "full sync" in exc.message.lower():
                raise DeltaTokenExpired(
                    exc.message + " Resynchronise: run a full read (delta_link=None) and keep its new delta link.",
                    status=exc.status,
                    code=exc.code,
                    request_id=exc.request_id,
                ) from None
            raise
        for item in body.get("value", []):
            context = str(item.get("@odata.context", ""))
            if context.endswith("$deletedEntity") or item.get("reason") == "deleted":
                yield Change(id=str(item.get("id")), deleted=True)
            else:
                yield Change(id=_row_id(item, primary_id), deleted=False, record=item)
        nxt = body.get("@odata.nextLink")
        link = nxt or body.get("@odata.deltaLink")
        if link and save is not None:
            save(link)
        if not nxt:
            return
        path, q = nxt, None


def _row_id(row: dict[str, Any], primary_id: str | None) -> str:
    """The primary id of a returned row (the metadata's primary id column when known)."""
    if primary_id and isinstance(row.get(primary_id), str):
        return str(row[primary_id]).lower()
    for k, v in row.items():
        if k.endswith("id") and not k.startswith(("_", "@")) and isinstance(v, str) and odata.is_guid(v):
            return v.lower()
    return ""
