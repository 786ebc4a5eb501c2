"""Field hashes are stored in every council's state file: a faster field_hash must give the very same strings, or
the next sync after an upgrade would see every field of every case as changed and rewrite them all."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from connector.sync.plan import field_hash


def _as_stored(value: object) -> str:
    # The form state files hold since the first release: sha256 of json.dumps(sort_keys, default=str), 16 hex.
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def test_field_hashes_are_the_ones_state_files_already_hold() -> None:
    values: list[object] = [
        "Highways",
        "Ffordd Ŵyn – “quoted”",
        "",
        0,
        1,
        True,
        False,
        1.0,
        2.5,
        None,
        date(2026, 3, 29),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        ["s40", "s43(2)"],
        {"b": 1, "a": [1, None]},
    ]
    for value in values * 2:  # the second pass comes from the cache of repeated values
        assert field_hash(value) == _as_stored(value), value
    assert field_hash(True) != field_hash(1) and field_hash(1) != field_hash(1.0)
