"""SQLite storage for the sandbox: rows as JSON, alternate-key index, row versions and deletion tombstones.

One connection guarded by one lock: the sandbox favours exact, serialisable behaviour over write concurrency, and
SQLite is fast enough that it is never the bottleneck of the connector's benchmarks.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connector.sandbox.limits import Meter

# Rows are stored as json.dumps output (no surrounding whitespace), so the decoder's raw_decode reads them directly:
# json.loads would add two calls and a whitespace regex per row, which is a tenth of a 5,000-row page read.
_DECODE = json.JSONDecoder().raw_decode


# One encoder for every write: json.dumps with non-default separators builds a new JSONEncoder per call.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def _row(data: str) -> dict[str, Any]:
    rec: dict[str, Any] = _DECODE(data)[0]
    return rec


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows(seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, id TEXT NOT NULL,
                                version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS rows_id ON rows(tbl, id);
CREATE INDEX IF NOT EXISTS rows_version ON rows(tbl, version);
CREATE TABLE IF NOT EXISTS keyidx(tbl TEXT, keyname TEXT, value TEXT, id TEXT, PRIMARY KEY(tbl, keyname, value))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keyidx_id ON keyidx(tbl, id);
CREATE TABLE IF NOT EXISTS tombstones(tbl TEXT, id TEXT, version INTEGER);
CREATE INDEX IF NOT EXISTS tombstones_version ON tombstones(tbl, version);
CREATE TABLE IF NOT EXISTS custom_schema(logical TEXT PRIMARY KEY, json TEXT NOT NULL);
"""


_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class DuplicateKey(Exception):
    def __init__(self, keyname: str, other_id: str) -> None:
        super().__init__(keyname)
        self.keyname = keyname
        self.other_id = other_id


def key_value(values: list[Any]) -> str:
    """Key lookups are case-insensitive for text, as Dataverse's SQL collation is."""
    return _ENCODE([v.casefold() if isinstance(v, str) else v for v in values])


class Store:
    def __init__(self, path: Path | None) -> None:
        self.lock = threading.RLock()
        target = str(path) if path else ":memory:"
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        row = self.db.execute(
            "SELECT max(v) FROM (SELECT max(version) v FROM rows UNION ALL SELECT max(version) FROM tombstones)"
        ).fetchone()
        self.version = int(row[0] or 0)
        self._depth = 0
        self._indexed: set[str] = set()
        self.meter = Meter()  # what the request being served executes, for the cost model

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Atomic unit (a request, a change set, a bulk call); nests with savepoints."""
        with self.lock:
            name = f"sp{self._depth}"
            self.db.execute(f"SAVEPOINT {name}")
            self._depth += 1
            saved_version = self.version
            try:
                yield
            except BaseException:
                self.db.execute(f"ROLLBACK TO {name}")
                self.db.execute(f"RELEASE {name}")
                self.version = saved_version
                raise
            else:
                self.db.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    def next_version(self) -> int:
        self.version += 1
        return self.version

    # ------------------------------------------------------------------ rows
    def get(self, tbl: str, rid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data, version FROM rows WHERE tbl=? AND id=?", (tbl, rid)).fetchone()
        if row is None:
            return None
        self.meter.read()
        data: dict[str, Any] = _row(row[0])
        data["versionnumber"] = row[1]
        return data

    def find_by_key(self, tbl: str, keyname: str, values: list[Any]) -> str | None:
        row = self.db.execute(
            "SELECT id FROM keyidx WHERE tbl=? AND keyname=? AND value=?", (tbl, keyname, key_value(values))
        ).fetchone()
        return row[0] if row else None

    def _index_keys(self, tbl: str, rid: str, keys: dict[str, list[Any]], fresh: bool = False) -> None:
        if not fresh:
            self.db.execute("DELETE FROM keyidx WHERE tbl=? AND id=?", (tbl, rid))
        for keyname, values in keys.items():
            if any(v is None for v in values):
                continue
            try:
                self.db.execute(
                    "INSERT INTO keyidx(tbl, keyname, value, id) VALUES (?,?,?,?)",
                    (tbl, keyname, key_value(values), rid),
                )
            except sqlite3.IntegrityError:
                other = self.find_by_key(tbl, keyname, values) or ""
                raise DuplicateKey(keyname, other) from None

    def insert(self, tbl: str, rid: str, data: dict[str, Any], keys: dict[str, list[Any]]) -> int:
        version = self.next_version()
        if "versionnumber" in data:
            data = {k: v for k, v in data.items() if k != "versionnumber"}
        try:
            self.db.execute(
                "INSERT INTO rows(tbl, id, version, data) VALUES (?,?,?,?)", (tbl, rid, version, _ENCODE(data))
            )
        except sqlite3.IntegrityError:
            raise DuplicateKey("primary", rid) from None
        self.meter.wrote(tbl, rid)
        if keys:
            self._index_keys(tbl, rid, keys, fresh=True)
        return version

    def replace(self, tbl: str, rid: str, data: dict[str, Any], keys: dict[str, list[Any]] | None) -> int:
        """Store a new version of a row; ``keys`` None means its alternate-key values did not change."""
        version = self.next_version()
        if "versionnumber" in data:
            data = {k: v for k, v in data.items() if k != "versionnumber"}
        self.db.execute("UPDATE rows SET version=?, data=? WHERE tbl=? AND id=?", (version, _ENCODE(data), tbl, rid))
        self.meter.wrote(tbl, rid)
        if keys is not None:
            self._index_keys(tbl, rid, keys)
        return version

    def delete(self, tbl: str, rid: str) -> None:
        self.meter.wrote(tbl, rid)
        self.db.execute("DELETE FROM rows WHERE tbl=? AND id=?", (tbl, rid))
        self.db.execute("DELETE FROM keyidx WHERE tbl=? AND id=?", (tbl, rid))
        self.db.execute("INSERT INTO tombstones(tbl, id, version) VALUES (?,?,?)", (tbl, rid, self.next_version()))

    def scan(self, tbl: str, after_seq: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
        cur = self.db.execute(
            "SELECT seq, data, version FROM rows WHERE tbl=? AND seq>? ORDER BY seq", (tbl, after_seq)
        )
        yield from self._metered(cur)

    def _metered(self, cur: Iterable[tuple[int, str, int]]) -> Iterator[tuple[int, dict[str, Any]]]:
        """Decode (seq, data, version) rows; every row loaded is metered, also when the caller stops early."""
        n = 0
        try:
            for seq, data, version in cur:
                n += 1
                rec = _DECODE(data)[0]
                rec["versionnumber"] = version
                yield seq, rec
        finally:
            self.meter.read(n)

    def scan_columns(self, tbl: str, cols: list[str], after_seq: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
        """Like scan, but only the named columns: SQLite's JSON functions pick them out of each stored row, so a
        `$select` read decodes a few values per row instead of the whole row (absent columns read as null)."""
        if not cols or not all(_COLUMN.match(c) for c in cols):
            yield from self.scan(tbl, after_seq)
            return
        picks = ", ".join(f"'{c}', data -> '$.{c}'" for c in cols)
        cur = self.db.execute(
            f"SELECT seq, json_object({picks}), version FROM rows WHERE tbl=? AND seq>? ORDER BY seq", (tbl, after_seq)
        )
        yield from self._metered(cur)

    def scan_eq(self, tbl: str, col: str, value: str, after_seq: int = 0) -> Iterator[tuple[int, dict[str, Any]]]:
        """Rows whose text column equals ``value`` ignoring ASCII case, through an index on that JSON column.

        A superset-safe prefilter for `$filter=col eq '...'` and the child-row lookups (parties of an email, notes
        of a case): without it each of those is a full scan with a json.loads per row.
        """
        if not _COLUMN.match(col):
            yield from ((q, r) for q, r in self.scan(tbl, after_seq) if r.get(col) == value)
            return
        expr = self._ensure_index(col)
        cur = self.db.execute(
            f"SELECT seq, data, version FROM rows WHERE tbl=? AND {expr} = lower(?) AND seq>? ORDER BY seq",
            (tbl, value, after_seq),
        )
        for seq, data, version in cur.fetchall():
            self.meter.read()
            rec = _row(data)
            rec["versionnumber"] = version
            yield seq, rec

    def scan_in(
        self, tbl: str, col: str, values: list[str], after_seq: int = 0
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """:meth:`scan_eq` for a list of values (``col eq 'a' or col eq 'b' ...``), through the same index."""
        if not _COLUMN.match(col):
            wanted = set(values)
            yield from ((q, r) for q, r in self.scan(tbl, after_seq) if r.get(col) in wanted)
            return
        expr = self._ensure_index(col)
        marks = ",".join("lower(?)" for _ in values)
        cur = self.db.execute(
            f"SELECT seq, data, version FROM rows WHERE tbl=? AND {expr} IN ({marks}) AND seq>? ORDER BY seq",
            (tbl, *values, after_seq),
        )
        for seq, data, version in cur.fetchall():
            self.meter.read()
            rec = _row(data)
            rec["versionnumber"] = version
            yield seq, rec

    def scan_where(
        self, tbl: str, where: str, params: list[Any], indexed: set[str], after_seq: int = 0, batch: int = 1000
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Rows matching a compiled `$filter` condition (connector/sandbox/odata_filter.py), in seq order.

        ``where`` is built by the filter compiler from validated column names, never from request text; values
        arrive as ``params``. Fetched in batches so no statement stays open between requests.
        """
        for col in indexed:
            self._ensure_index(col)
        last = after_seq
        while True:
            rows = self.db.execute(
                f"SELECT seq, data, version FROM rows WHERE tbl=? AND seq>? AND ({where}) ORDER BY seq LIMIT ?",
                (tbl, last, *params, batch),
            ).fetchall()
            for seq, data, version in rows:
                self.meter.read()
                rec = _row(data)
                rec["versionnumber"] = version
                yield seq, rec
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def _ensure_index(self, col: str) -> str:
        expr = f"lower(json_extract(data, '$.{col}'))"
        if col not in self._indexed:
            self.db.execute(f"CREATE INDEX IF NOT EXISTS rows_jx_{col} ON rows(tbl, {expr})")
            self._indexed.add(col)
        return expr

    def count(self, tbl: str) -> int:
        return int(self.db.execute("SELECT count(*) FROM rows WHERE tbl=?", (tbl,)).fetchone()[0])

    def changed_since(self, tbl: str, version: int) -> list[dict[str, Any]]:
        out = []
        for data, v in self.db.execute(
            "SELECT data, version FROM rows WHERE tbl=? AND version>? ORDER BY version", (tbl, version)
        ):
            self.meter.read()
            rec = _row(data)
            rec["versionnumber"] = v
            out.append(rec)
        return out

    def deleted_since(self, tbl: str, version: int) -> list[str]:
        rows = self.db.execute(
            "SELECT id FROM tombstones WHERE tbl=? AND version>? ORDER BY version", (tbl, version)
        ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ custom schema persistence
    def save_custom_table(self, logical: str, payload: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO custom_schema(logical, json) VALUES (?,?) ON CONFLICT(logical) DO UPDATE SET json=excluded.json",
            (logical, json.dumps(payload)),
        )

    def drop_custom_table(self, logical: str) -> None:
        self.db.execute("DELETE FROM custom_schema WHERE logical=?", (logical,))

    def drop_key_index(self, tbl: str, keyname: str) -> None:
        self.db.execute("DELETE FROM keyidx WHERE tbl=? AND keyname=?", (tbl, keyname))

    def custom_tables(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute("SELECT json FROM custom_schema ORDER BY rowid")]

    def close(self) -> None:
        self.db.close()
