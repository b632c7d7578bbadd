"""The alert journal's file: a SQLite database of its own beside the store.

Why a file of its own: SQLite has one writer per database. With the journal in the store,
every POST of alerts waited for the store's write lock, which the consumer holds while it
opens incidents (milliseconds per alert), so under sustained load the answers were paced by
the incidents, not by the journal. Here the only writers are the journal commits and the
trims, each a fraction of a millisecond, and the consumer only reads this file.

Entries are numbered by AUTOINCREMENT: ids only grow, even after a trim deletes every row,
and SQLite's single writer commits them in id order, so "ingested up to id N" is a complete
description of the consumer's progress. That position is kept in the store (table
``alert_journal_position``), keyed by this file's random id: a new or replaced file starts
from 0 instead of skipping entries under an old file's position.

Durability matches the store's: WAL with ``synchronous=NORMAL`` (a commit survives the
process being killed; the OS crashing may lose the last commits). Checkpoints run from the
consumer's side (``checkpoint``), not inside the commits the answers wait for.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

FILE_NAME = "alert-journal.db"
# Ingested entries are trimmed (and the file checkpointed) once this many have accumulated
# or this long after the last trim, whichever comes first: a checkpoint syncs the file to
# disk (milliseconds), too slow to pay per drain while alerts trickle in one by one.
TRIM_ENTRIES, TRIM_S = 1000, 5.0
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL, alerts TEXT NOT NULL,"
    " count INTEGER NOT NULL, received_at TEXT NOT NULL)",
    # Entries the consumer gave up on (services.journal.QUARANTINE_AFTER failures): kept
    # whole, with the error, for an engineer to read and re-post.
    "CREATE TABLE IF NOT EXISTS dead ("
    " id INTEGER PRIMARY KEY, source TEXT NOT NULL, alerts TEXT NOT NULL,"
    " count INTEGER NOT NULL, received_at TEXT NOT NULL, failed_at TEXT NOT NULL,"
    " error TEXT NOT NULL)",
    # First notices their channels took (services.first_notice), until the consumer has
    # stored them as sent: a crash in between then does not send them again.
    "CREATE TABLE IF NOT EXISTS notices ("
    " incident_id INTEGER NOT NULL, channel TEXT NOT NULL, sent_at TEXT NOT NULL,"
    " PRIMARY KEY (incident_id, channel))",
)


@dataclass(frozen=True)
class Entry:
    id: int
    source: str
    alerts: str  # the validated alerts as normalised JSON (services.journal.encode)
    count: int
    received_at: datetime


INSERT = "INSERT INTO entries (source, alerts, count, received_at) VALUES (?, ?, ?, ?)"


class Spool:
    """One journal file. Writes (append, trim) go through one connection under a lock;
    each reading thread has its own connection (WAL readers never wait for the writer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._writer = self._connect()
        # The commits the answers wait for must not also checkpoint (fsync): see checkpoint.
        self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self.id = self._prepare()
        self._trimmed, self._trimmed_at = 0, float("-inf")  # position, monotonic seconds
        self._forgotten: list[int] = []  # incident ids whose notice records go at the trim

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _prepare(self) -> str:
        """Create the tables and this file's id (once, for the file's whole life)."""
        with self._transaction() as conn:
            for statement in SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'id'").fetchone()
            if row is not None:
                return row[0]
            new = uuid.uuid4().hex
            conn.execute("INSERT INTO meta (key, value) VALUES ('id', ?)", (new,))
            return new

    def _transaction(self) -> _Transaction:
        return _Transaction(self._lock, self._writer)

    def append(self, rows: list[tuple[str, str, int, datetime]]) -> None:
        """Journal (source, alerts JSON, count, received_at) rows in one commit, in order."""
        values = [(source, text, count, at.isoformat()) for source, text, count, at in rows]
        if len(values) == 1:
            # One statement is its own transaction (autocommit): one call into the driver
            # where BEGIN, INSERT and COMMIT were three, on the path of every answer.
            with self._lock:
                self._writer.execute(INSERT, values[0])
            return
        with self._transaction() as conn:
            conn.executemany(INSERT, values)

    def after(self, position: int, limit: int) -> list[Entry]:
        """The first ``limit`` entries after ``position``, oldest first."""
        rows = self._reader().execute(
            "SELECT id, source, alerts, count, received_at FROM entries"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (position, limit),
        )
        return [Entry(i, s, a, c, datetime.fromisoformat(r)) for i, s, a, c, r in rows]

    def count_after(self, position: int) -> int:
        return (
            self._reader()
            .execute("SELECT count(*) FROM entries WHERE id > ?", (position,))
            .fetchone()[0]
        )

    def tidy(self, position: int, now: float, stale: datetime) -> bool:
        """Now and then (TRIM_ENTRIES, TRIM_S) forget the entries up to ``position``
        (ingested: the store says so) and the notice records forgotten or sent before
        ``stale``, and checkpoint; ``now`` is a monotonic reading. True if it did."""
        if position - self._trimmed < TRIM_ENTRIES and now - self._trimmed_at < TRIM_S:
            return False
        self._trimmed, self._trimmed_at = position, now
        with self._lock:
            forgotten, self._forgotten = self._forgotten, []
        # Checkpoint first: the first commit after a complete checkpoint starts the WAL
        # over and syncs its header (synchronous=NORMAL does). Made by this trim, that sync
        # is the consumer's; made by the next request's append, it waited 15-25 ms behind
        # the store's checkpoint, which the consumer runs right after this.
        self.checkpoint()
        with self._transaction() as conn:
            conn.execute("DELETE FROM entries WHERE id <= ?", (position,))
            conn.executemany("DELETE FROM notices WHERE incident_id = ?", [(i,) for i in forgotten])
            # Records a crash left behind (their forgetting was in memory): long stored.
            conn.execute("DELETE FROM notices WHERE sent_at < ?", (stale.isoformat(),))
        return True

    def quarantine(self, entry: Entry, failed_at: datetime, error: str) -> None:
        """Keep ``entry`` in the ``dead`` table (again: the same row, if it was already)."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dead VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id,
                    entry.source,
                    entry.alerts,
                    entry.count,
                    entry.received_at.isoformat(),
                    failed_at.isoformat(),
                    error,
                ),
            )

    def record_notices(self, rows: list[tuple[int, str, datetime]]) -> None:
        """(incident id, channel, sent_at) of first notices their channels took."""
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO notices (incident_id, channel, sent_at) VALUES (?, ?, ?)",
                [(incident_id, channel, at.isoformat()) for incident_id, channel, at in rows],
            )

    def notices_for(self, ids: list[int]) -> dict[int, dict[str, datetime]]:
        """Incident id -> channel -> sent_at, of the recorded first notices among ``ids``."""
        out: dict[int, dict[str, datetime]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._reader().execute(
                f"SELECT incident_id, channel, sent_at FROM notices WHERE incident_id IN ({marks})",
                chunk,
            )
            for incident_id, channel, at in rows:
                out.setdefault(incident_id, {})[channel] = datetime.fromisoformat(at)
        return out

    def forget_notices(self, ids: list[int]) -> None:
        """The consumer stored these incidents' notices: their records are not needed. They
        are deleted at the next trim: a commit per drain here would take the file's writer
        from the requests' journal commits as often as alerts arrive."""
        with self._lock:
            self._forgotten += ids

    def dead(self) -> int:
        """How many entries were quarantined, ever (the table is never trimmed)."""
        return self._reader().execute("SELECT count(*) FROM dead").fetchone()[0]

    def checkpoint(self) -> None:
        """Copy the WAL into the file (PASSIVE: never waits for, nor blocks, a commit)."""
        self._reader().execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in [*self._readers, self._writer]:
                conn.close()
            self._readers.clear()


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT on the writer, under the writer lock (ROLLBACK on error)."""

    def __init__(self, lock: threading.Lock, conn: sqlite3.Connection) -> None:
        self.lock, self.conn = lock, conn

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        return self.conn

    def __exit__(self, kind: type | None, *_rest: object) -> None:
        try:
            self.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.lock.release()
