"""One request, one case: the same message arriving through several addresses or channels is merged.

A requester who writes to foi@ and planning@ at once, or fills in the web form and emails the same text, made one
request. Two rows are the same arrival when they carry the same Message-ID, or when the same requester sent the same
text within :data:`NEAR_SAME_TIME` through a *different* source (another mailbox, the web form). The same text twice
through the same source is a second request (perhaps a s.14(2) repeat, which cross-referencing judges), not a
second arrival. The first arrival (earliest, then the order the sources are listed in) keeps the case; the others
are recorded on it (``FoiCase.other_arrivals``: source and row, never requester data) and get no case, so no second
acknowledgement and no link from the request to itself. The text rule applies to arrivals only (an email, a web
form: a file each); register rows, which carry the references officers gave them, are never merged by it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import numpy as np
import pandas as pd

from connector.intake.crossref import requester_key
from connector.intake.normalize import SOURCE
from connector.intake.sources import ROW

#: Copies of one message reach different mailboxes within seconds; a web form and an email of the same words
#: written together within minutes. Half an hour covers both without merging a genuine second request.
NEAR_SAME_TIME = timedelta(minutes=30)
_MESSAGE_ID = re.compile(r"^<?[^<>@\s]+@[^<>@\s]+>?$")


def _text_hash(subject: object, text: object) -> str:
    body = " ".join(str(text or "").casefold().split())
    return hashlib.sha256(body.encode()).hexdigest()[:16] if body else ""


def _source_name(value: object) -> str:
    return str(value).split("/", 1)[0]


def arrival_label(row: pd.Series) -> str:
    """How an arrival is named on the case: ``mailbox-planning/0412.eml`` or ``web-forms row 3``."""
    where = str(row[SOURCE])
    return where if "/" in where else f"{where} row {int(row[ROW])}"


def merge_arrivals(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """-> (the frame with one row per request, {kept row position in the new frame: other arrivals' labels})."""
    if len(frame) < 2:
        return frame, {}
    received = pd.to_datetime(frame["received_at"], utc=True, errors="coerce")
    keys = [
        requester_key(n, e)
        for n, e in zip(
            frame.get("requester_name", pd.Series([None] * len(frame))),
            frame.get("requester_email", pd.Series([None] * len(frame))),
            strict=True,
        )
    ]
    texts = [
        _text_hash(s, t)
        for s, t in zip(
            frame.get("subject", pd.Series([None] * len(frame))),
            frame.get("request_text", pd.Series([None] * len(frame))),
            strict=True,
        )
    ]
    ids = frame["source_id"] if "source_id" in frame else pd.Series([None] * len(frame))
    msg = [
        str(v).strip().strip("<>").casefold() if isinstance(v, str) and _MESSAGE_ID.match(v.strip()) else ""
        for v in ids
    ]
    sources = [_source_name(v) for v in frame[SOURCE]]
    # Only messages and form submissions (a file each: "mailbox/0412.eml") are arrivals; a register row with its own
    # reference is a case someone already logged, and two such rows stay two cases.
    arrival = ["/" in str(v) for v in frame[SOURCE]]

    # Earliest first (then source order): the first arrival of a group keeps the case.
    # As nanoseconds, one array read: received.iloc per row was most of this step's time at 100,000 rows.
    nat: list[bool] = received.isna().tolist()
    stamps = received.dt.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64)
    order = np.argsort(np.where(nat, np.iinfo(np.int64).max, stamps), kind="stable").tolist()
    ns: list[int] = stamps.tolist()
    near = pd.Timedelta(NEAR_SAME_TIME).value
    owner: dict[int, int] = {}
    by_msg: dict[str, int] = {}
    by_text: dict[tuple[str, str], list[int]] = {}
    for i in order:
        if msg[i] and msg[i] in by_msg:
            owner[i] = by_msg[msg[i]]
            continue
        found = None
        if texts[i] and keys[i] and arrival[i] and not nat[i]:
            for j in by_text.get((keys[i], texts[i]), []):
                if sources[j] != sources[i] and not nat[j] and ns[i] - ns[j] <= near:
                    found = j
                    break
        if found is not None:
            owner[i] = found
            continue
        if msg[i]:
            by_msg[msg[i]] = i
        by_text.setdefault((keys[i], texts[i]), []).append(i)
    if not owner:
        return frame, {}
    others: dict[int, list[str]] = {}
    for dup, first in owner.items():
        others.setdefault(first, []).append(arrival_label(frame.iloc[dup]))
    keep = np.array([i not in owner for i in range(len(frame))])
    new_pos = np.cumsum(keep) - 1
    out = frame.loc[keep].reset_index(drop=True)
    return out, {int(new_pos[k]): sorted(v) for k, v in others.items()}
