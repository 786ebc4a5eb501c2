"""Local sync state in SQLite (WAL): what was pushed, the run ledger, dead letters, delta tokens, reminders sent.

Crash safety rests on one rule: a row is written here only after the CRM confirmed the write. Pushes are
idempotent upserts by alternate key with deterministic ids, so a run killed between the CRM's answer and this
file's commit simply repeats that write next time.

Personal data: the state holds no requester data. Requesters are known by a pseudonymous reference (a hash),
payloads by their hash, and dead letters keep where the record came from (source file and row, reference) plus the
error - not the record. Retrying a dead letter re-reads it from its source, which is also what makes a retry after a
mapping fix work (the record is mapped again with the fixed mapping). The file is created readable by its owner only.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    table_name   TEXT NOT NULL,
    source_key   TEXT NOT NULL,
    dataverse_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    field_hashes TEXT NOT NULL DEFAULT '{}',
    stage        TEXT,
    pushed_at    TEXT NOT NULL,
    run_id       TEXT,
    PRIMARY KEY (table_name, source_key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    pid         INTEGER,
    counts      TEXT NOT NULL DEFAULT '{}',
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name      TEXT NOT NULL,
    source_key      TEXT NOT NULL,
    origin          TEXT NOT NULL,
    error_code      TEXT NOT NULL,
    message         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    status          TEXT NOT NULL DEFAULT 'open',
    first_failed_at TEXT NOT NULL,
    last_failed_at  TEXT NOT NULL,
    run_id          TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_open ON dead_letters (table_name, source_key) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS delta_tokens (name TEXT PRIMARY KEY, token TEXT NOT NULL, saved_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reminders (
    source_key TEXT NOT NULL,
    gate       TEXT NOT NULL,
    due_date   TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (source_key, gate, due_date)
);
CREATE TABLE IF NOT EXISTS mapping_checks (
    environment TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    checked_at  TEXT NOT NULL,
    problems    TEXT NOT NULL DEFAULT '[]',
    metadata    TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (environment, fingerprint)
);
CREATE TABLE IF NOT EXISTS lookups (
    environment  TEXT NOT NULL,
    target       TEXT NOT NULL,
    match_column TEXT NOT NULL,
    value        TEXT NOT NULL,
    bind         TEXT,
    resolved_at  TEXT NOT NULL,
    PRIMARY KEY (environment, target, match_column, value)
);
CREATE TABLE IF NOT EXISTS letters_done (marker TEXT PRIMARY KEY, source_key TEXT NOT NULL, done_at TEXT NOT NULL);
-- Letters never to create for a case (e.g. the acknowledgement of a case loaded by `foi-sync migrate`), and why.
CREATE TABLE IF NOT EXISTS letters_waived (
    source_key  TEXT NOT NULL,
    letter_type TEXT NOT NULL,
    reason      TEXT NOT NULL,
    waived_at   TEXT NOT NULL,
    PRIMARY KEY (source_key, letter_type)
);
-- Audit (connector/sync/audit.py): the last decisions the connector pushed per case (regime, grade, routing; no
-- requester data), so the next run can say "from X to Y", and the local ledger of what each run recorded on a case.
CREATE TABLE IF NOT EXISTS case_facts (source_key TEXT PRIMARY KEY, facts TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS case_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    source_key TEXT NOT NULL,
    run_id     TEXT,
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS case_events_key ON case_events (source_key);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class RecordState:
    table_name: str
    source_key: str
    dataverse_id: str
    payload_hash: str
    field_hashes: dict[str, str]
    stage: str | None
    pushed_at: str


@dataclass
class DeadLetter:
    id: int
    table_name: str
    source_key: str
    origin: dict[str, Any]
    error_code: str
    message: str
    attempts: int
    status: str
    first_failed_at: str
    last_failed_at: str
    run_id: str | None


def _create_private(path: Path) -> None:
    """Create the file (and its folder) so that only the owner can read it, before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)
    if os.name == "posix":
        os.chmod(path, 0o600)


class StateStore:
    """One SQLite file per deployment; safe to open from the CLI while no run holds the lock."""

    def __init__(self, path: Path | str) -> None:
        memory = str(path) == ":memory:"
        self.path = Path(path)
        if not memory:
            _create_private(self.path)
        old_umask = os.umask(0o077) if os.name == "posix" else None
        try:
            self._db = sqlite3.connect(
                ":memory:" if memory else self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        finally:
            if old_umask is not None:
                os.umask(old_umask)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, tuple(args)))

    # ------------------------------------------------------------------ records
    def get(self, table_name: str, source_key: str) -> RecordState | None:
        rows = self._query("SELECT * FROM records WHERE table_name = ? AND source_key = ?", (table_name, source_key))
        return _record(rows[0]) if rows else None

    def records(self, table_name: str) -> dict[str, RecordState]:
        return {
            r["source_key"]: _record(r)
            for r in self._query("SELECT * FROM records WHERE table_name = ?", (table_name,))
        }

    def save_records(self, table_name: str, items: Iterable[RecordState], run_id: str | None = None) -> None:
        """Record confirmed writes (call only after the CRM answered success); resolves their open dead letters."""
        items = list(items)
        stamp = now_iso()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO records VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (table_name, source_key) DO UPDATE SET "
                "dataverse_id=excluded.dataverse_id, payload_hash=excluded.payload_hash, "
                "field_hashes=excluded.field_hashes, stage=excluded.stage, pushed_at=excluded.pushed_at, "
                "run_id=excluded.run_id",
                [
                    (
                        table_name,
                        i.source_key,
                        i.dataverse_id,
                        i.payload_hash,
                        json.dumps(i.field_hashes, sort_keys=True),
                        i.stage,
                        stamp,
                        run_id,
                    )
                    for i in items
                ],
            )
            # A duplicate_reference dead letter belongs to the *other* source row with the same key-safe reference:
            # this row landing does not fix it, so it stays open until that row is retried or discarded.
            db.executemany(
                "UPDATE dead_letters SET status = 'resolved' WHERE table_name = ? AND source_key = ? AND status = 'open' "
                "AND error_code <> 'duplicate_reference'",
                [(table_name, i.source_key) for i in items],
            )

    def count_records(self, table_name: str) -> int:
        return int(self._query("SELECT count(*) FROM records WHERE table_name = ?", (table_name,))[0][0])

    # ------------------------------------------------------------------ runs
    def start_run(self, kind: str, detail: dict[str, Any] | None = None) -> tuple[str, list[dict[str, Any]]]:
        """-> (new run id, earlier runs that never finished: killed or crashed, now marked 'interrupted')."""
        run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        with self.transaction() as db:
            stale = [dict(r) for r in db.execute("SELECT run_id, kind, started_at FROM runs WHERE status = 'running'")]
            db.execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'")
            db.execute(
                "INSERT INTO runs (run_id, kind, started_at, status, pid, detail) VALUES (?,?,?,?,?,?)",
                (run_id, kind, now_iso(), "running", os.getpid(), json.dumps(detail or {}, default=str)),
            )
        return run_id, stale

    def finish_run(self, run_id: str, status: str, counts: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, counts = ? WHERE run_id = ?",
                (now_iso(), status, json.dumps(counts, default=str), run_id),
            )

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))
        return [{**dict(r), "counts": json.loads(r["counts"]), "detail": json.loads(r["detail"])} for r in rows]

    # ------------------------------------------------------------------ dead letters
    def add_dead_letter(
        self,
        table_name: str,
        source_key: str,
        origin: dict[str, Any],
        error_code: str,
        message: str,
        run_id: str | None = None,
    ) -> int:
        """One open dead letter per record: a repeat failure bumps attempts and keeps the latest error."""
        stamp = now_iso()
        with self.transaction() as db:
            row = db.execute(
                "SELECT id FROM dead_letters WHERE table_name = ? AND source_key = ? AND status = 'open'",
                (table_name, source_key),
            ).fetchone()
            if row:
                db.execute(
                    "UPDATE dead_letters SET attempts = attempts + 1, error_code = ?, message = ?, origin = ?, "
                    "last_failed_at = ?, run_id = ? WHERE id = ?",
                    (error_code, message[:2000], json.dumps(origin, default=str), stamp, run_id, row[0]),
                )
                return int(row[0])
            cur = db.execute(
                "INSERT INTO dead_letters (table_name, source_key, origin, error_code, message, first_failed_at, "
                "last_failed_at, run_id) VALUES (?,?,?,?,?,?,?,?)",
                (
                    table_name,
                    source_key,
                    json.dumps(origin, default=str),
                    error_code,
                    message[:2000],
                    stamp,
                    stamp,
                    run_id,
                ),
            )
            return int(cur.lastrowid or 0)

    def dead_letter_codes(self, run_id: str) -> dict[str, int]:
        """Open dead letters a run left, counted by error code (for the run's log line; no record data)."""
        rows = self._query(
            "SELECT error_code, COUNT(*) AS n FROM dead_letters WHERE run_id = ? AND status = 'open' GROUP BY 1",
            (run_id,),
        )
        return {str(r["error_code"] or "unknown"): int(r["n"]) for r in rows}

    def dead_letters(self, status: str | None = "open", ids: Iterable[int] | None = None) -> list[DeadLetter]:
        sql, args = "SELECT * FROM dead_letters WHERE 1=1", list[Any]()
        if status:
            sql += " AND status = ?"
            args.append(status)
        id_list = list(ids or [])
        if id_list:
            sql += f" AND id IN ({','.join('?' * len(id_list))})"
            args += id_list
        return [_dead(r) for r in self._query(sql + " ORDER BY id", args)]

    def resolve_dead_letter(self, table_name: str, source_key: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE dead_letters SET status = 'resolved' WHERE table_name = ? AND source_key = ? AND status = 'open'",
                (table_name, source_key),
            )

    def discard_dead_letters(self, ids: Iterable[int]) -> int:
        id_list = list(ids)
        if not id_list:
            return 0
        with self.transaction() as db:
            cur = db.execute(
                f"UPDATE dead_letters SET status = 'discarded' WHERE status = 'open' AND id IN ({','.join('?' * len(id_list))})",
                id_list,
            )
            return cur.rowcount

    def open_dead_letter_keys(self, table_name: str) -> set[str]:
        rows = self._query(
            "SELECT source_key FROM dead_letters WHERE table_name = ? AND status = 'open'", (table_name,)
        )
        return {r[0] for r in rows}

    # ------------------------------------------------------------------ delta tokens
    def get_delta_token(self, name: str) -> str | None:
        rows = self._query("SELECT token FROM delta_tokens WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def save_delta_token(self, name: str, token: str | None) -> None:
        with self.transaction() as db:
            if token is None:
                db.execute("DELETE FROM delta_tokens WHERE name = ?", (name,))
            else:
                db.execute("INSERT OR REPLACE INTO delta_tokens VALUES (?,?,?)", (name, token, now_iso()))

    # ------------------------------------------------------------------ reminders
    def reminder_sent(self, source_key: str, gate: str, due_date: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM reminders WHERE source_key = ? AND gate = ? AND due_date = ?",
                (source_key, gate, due_date),
            )
        )

    def mark_reminder(self, source_key: str, gate: str, due_date: str, task_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO reminders VALUES (?,?,?,?,?)", (source_key, gate, due_date, task_id, now_iso())
            )

    def count_reminders(self) -> int:
        return int(self._query("SELECT count(*) FROM reminders")[0][0])

    # ------------------------------------------------------------------ mapping check cache
    def passing_check(self, environment: str, fingerprint: str, max_age_hours: float) -> dict[str, Any] | None:
        """The last passing live mapping check for this environment and mapping, if younger than ``max_age_hours``.

        -> ``{"checked_at", "problems" (warnings, as dicts), "metadata" (table definitions it read)}`` or None."""
        if max_age_hours <= 0:
            return None
        rows = self._query(
            "SELECT * FROM mapping_checks WHERE environment = ? AND fingerprint = ?", (environment, fingerprint)
        )
        if not rows or not _fresh(rows[0]["checked_at"], max_age_hours):
            return None
        r = rows[0]
        return {
            "checked_at": r["checked_at"],
            "problems": json.loads(r["problems"]),
            "metadata": json.loads(r["metadata"]),
        }

    def save_check(
        self, environment: str, fingerprint: str, problems: list[dict[str, Any]], metadata: dict[str, Any]
    ) -> None:
        """Remember a passing live check (call only when it found no error)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO mapping_checks VALUES (?,?,?,?,?)",
                (environment, fingerprint, now_iso(), json.dumps(problems), json.dumps(metadata, default=str)),
            )

    def invalidate_checks(self, environment: str | None = None) -> None:
        """Forget cached checks and lookups: the next run checks the mapping live (after a metadata-shaped error)."""
        with self.transaction() as db:
            if environment is None:
                db.execute("DELETE FROM mapping_checks")
                db.execute("DELETE FROM lookups")
            else:
                db.execute("DELETE FROM mapping_checks WHERE environment = ?", (environment,))
                db.execute("DELETE FROM lookups WHERE environment = ?", (environment,))

    # ------------------------------------------------------------------ lookup cache (team / queue names, not people)
    def cached_lookup(
        self, environment: str, target: str, match_column: str, value: str, max_age_hours: float
    ) -> tuple[bool, str | None]:
        """-> (hit, bind path or None for "no match") for a name resolved less than ``max_age_hours`` ago."""
        if max_age_hours <= 0:
            return False, None
        rows = self._query(
            "SELECT bind, resolved_at FROM lookups WHERE environment = ? AND target = ? AND match_column = ? "
            "AND value = ?",
            (environment, target, match_column, value),
        )
        if not rows or not _fresh(rows[0]["resolved_at"], max_age_hours):
            return False, None
        return True, rows[0]["bind"]

    def save_lookup(self, environment: str, target: str, match_column: str, value: str, bind: str | None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO lookups VALUES (?,?,?,?,?,?)",
                (environment, target, match_column, value, bind, now_iso()),
            )

    # ------------------------------------------------------------------ letters known to be in the CRM
    def letters_done(self, markers: Iterable[str]) -> set[str]:
        """Which of these letter markers (activity ids) a run already saw created and finished in the CRM."""
        wanted = list(markers)
        found: set[str] = set()
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            rows = self._query(f"SELECT marker FROM letters_done WHERE marker IN ({','.join('?' * len(part))})", part)
            found |= {r[0] for r in rows}
        return found

    def mark_letters(self, items: Iterable[tuple[str, str]]) -> None:
        """Record (marker, source_key) pairs for letters the CRM confirmed exist and need nothing more."""
        stamp = now_iso()
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO letters_done VALUES (?,?,?)", [(m, k, stamp) for m, k in items])

    def waive_letters(self, items: Iterable[tuple[str, str, str]]) -> None:
        """(source key, letter type, reason): that letter is never created for that case."""
        stamp = now_iso()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO letters_waived VALUES (?,?,?,?)", [(k, t, r, stamp) for k, t, r in items]
            )

    def waived_letters(self) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for key, kind in self._query("SELECT source_key, letter_type FROM letters_waived", []):
            out.setdefault(key, set()).add(kind)
        return {k: frozenset(v) for k, v in out.items()}

    def forget_letters(self, source_key: str | None = None) -> int:
        """Make the next run ask the CRM again (e.g. after an officer deleted a letter to get a fresh copy)."""
        with self.transaction() as db:
            if source_key is None:
                return db.execute("DELETE FROM letters_done").rowcount
            return db.execute("DELETE FROM letters_done WHERE source_key = ?", (source_key,)).rowcount

    # ------------------------------------------------------------------ audit facts and the per-case ledger
    def case_facts(self, source_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The decisions last recorded for these cases (connector/sync/audit.py): {source_key: facts}."""
        wanted = list(source_keys)
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            sql = f"SELECT source_key, facts FROM case_facts WHERE source_key IN ({','.join('?' * len(part))})"
            out.update({r[0]: json.loads(r[1]) for r in self._query(sql, part)})
        return out

    def save_case_audit(
        self,
        facts: Iterable[tuple[str, dict[str, Any]]],
        events: Iterable[tuple[str, str, str]],
        run_id: str | None,
    ) -> None:
        """Facts (source_key, facts) and events (source_key, kind, text) the CRM confirmed, in one commit."""
        stamp = now_iso()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO case_facts VALUES (?,?,?) ON CONFLICT (source_key) DO UPDATE SET "
                "facts=excluded.facts, updated_at=excluded.updated_at",
                [(k, json.dumps(f, sort_keys=True, default=str), stamp) for k, f in facts],
            )
            db.executemany(
                "INSERT INTO case_events (source_key, run_id, at, kind, text) VALUES (?,?,?,?,?)",
                [(k, run_id, stamp, kind, text) for k, kind, text in events],
            )

    def case_events(self, source_key: str) -> list[dict[str, Any]]:
        """What runs recorded on one case, oldest first."""
        rows = self._query("SELECT * FROM case_events WHERE source_key = ? ORDER BY id", (source_key,))
        return [dict(r) for r in rows]

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return {**dict(rows[0]), "counts": json.loads(rows[0]["counts"])} if rows else None

    def meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value", (key, value)
            )


def _fresh(stamp: str, max_age_hours: float) -> bool:
    try:
        at = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    age = datetime.now(UTC) - at
    return timedelta(0) <= age < timedelta(hours=max_age_hours)


def _record(r: sqlite3.Row) -> RecordState:
    return RecordState(
        r["table_name"],
        r["source_key"],
        r["dataverse_id"],
        r["payload_hash"],
        json.loads(r["field_hashes"] or "{}"),
        r["stage"],
        r["pushed_at"],
    )


def _dead(r: sqlite3.Row) -> DeadLetter:
    return DeadLetter(
        r["id"],
        r["table_name"],
        r["source_key"],
        json.loads(r["origin"]),
        r["error_code"],
        r["message"],
        r["attempts"],
        r["status"],
        r["first_failed_at"],
        r["last_failed_at"],
        r["run_id"],
    )
