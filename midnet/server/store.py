"""The jobs of a server in SQLite: what was asked, by which browser, and how far it got.

One database file in the data folder, in WAL mode (readers never wait for the worker's
writes) with ``synchronous=FULL`` (a committed row survives a power cut). A row is committed
only after its files are in place (midnet/server/files.py), so every row a client sees has
its files; a file without a row is an upload that died half-way and is removed at start.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A server that
stops while a job runs finds it ``running`` at the next start and queues it again.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the queue's order
    id TEXT UNIQUE NOT NULL,                -- secrets.token_urlsafe: the only key a client can name
    client TEXT NOT NULL,
    name TEXT NOT NULL,                     -- the uploaded file's name, shown and offered on download only
    ext TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT,
    info TEXT NOT NULL,                     -- JSON: size, dtype, pages, focus score
    provenance TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    cancel INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_client ON jobs (client, seq);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


class JobStore:
    """Thread-safe access to the jobs table: the request threads and the worker share one connection."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            with self._db:  # one transaction, committed on leaving
                return self._db.execute(sql, args).fetchall()

    def add(self, job_id: str, client: str, name: str, ext: str, info: dict[str, Any]) -> None:
        self._run("INSERT INTO jobs (id, client, name, ext, state, info, created) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                  (job_id, client, name, ext, json.dumps(info), time.time()))

    def get(self, job_id: str) -> dict | None:
        rows = self._run("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _record(rows[0]) if rows else None

    def for_client(self, client: str) -> list[dict]:
        return [_record(r) for r in self._run("SELECT * FROM jobs WHERE client = ? ORDER BY seq", (client,))]

    def ahead_of(self, seq: int) -> int:
        """How many jobs, of any client, will run before the queued job ``seq``."""
        return self._run("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running') AND seq < ?", (seq,))[0][0]

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._run("SELECT state, COUNT(*) FROM jobs GROUP BY state")}

    def claim_next(self) -> dict | None:
        """The oldest queued job, now marked running; None when the queue is empty."""
        with self._lock:
            with self._db:
                row = self._db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
                if row is None:
                    return None
                self._db.execute("UPDATE jobs SET state = 'running', started = ? WHERE seq = ?", (time.time(), row["seq"]))
        return dict(_record(row), state="running")

    def finish(self, job_id: str, state: str, message: str | None = None, provenance: dict | None = None) -> None:
        self._run("UPDATE jobs SET state = ?, message = ?, provenance = ?, finished = ? WHERE id = ?",
                  (state, message, json.dumps(provenance) if provenance else None, time.time(), job_id))

    def cancel(self, job_id: str) -> str | None:
        """Cancel a job: a queued one at once, a running one when the worker next looks. Its state after, or None."""
        with self._lock:
            with self._db:
                self._db.execute("UPDATE jobs SET state = 'cancelled', finished = ?, message = 'cancelled' "
                                 "WHERE id = ? AND state = 'queued'", (time.time(), job_id))
                self._db.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,))
                row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def cancel_asked(self, job_id: str) -> bool:
        rows = self._run("SELECT cancel FROM jobs WHERE id = ?", (job_id,))
        return bool(rows and rows[0][0])

    def requeue_running(self) -> int:
        """At start: the jobs a stopped server left running are queued again, in their old places."""
        with self._lock:
            with self._db:
                return self._db.execute("UPDATE jobs SET state = 'queued', started = NULL WHERE state = 'running'").rowcount

    def expired(self, before: float) -> list[str]:
        """Remove the finished jobs older than ``before`` (seconds since the epoch); their ids, for their files."""
        with self._lock:
            with self._db:
                rows = self._db.execute("SELECT id FROM jobs WHERE state IN ('done', 'failed', 'cancelled') "
                                        "AND finished < ?", (before,)).fetchall()
                self._db.execute("DELETE FROM jobs WHERE state IN ('done', 'failed', 'cancelled') AND finished < ?",
                                 (before,))
        return [r[0] for r in rows]

    def ids(self) -> set[str]:
        return {r[0] for r in self._run("SELECT id FROM jobs")}


def _record(row: sqlite3.Row) -> dict:
    record = dict(row)
    record["info"] = json.loads(record["info"])
    record["provenance"] = json.loads(record["provenance"]) if record["provenance"] else None
    return record
