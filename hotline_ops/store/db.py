"""Engine, sessions and migrations.

SQLite is the embedded default (WAL, so the CLI can read while ``serve`` writes);
PostgreSQL (``postgresql+psycopg://``) is the scaled store. Everything above this module
speaks SQLAlchemy and never branches on the backend.
"""

from __future__ import annotations

import ast
import json
import select
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import inspect as inspect_db
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hotline_ops.errors import Overrun, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic's default version table, which migrations/env.py keeps.
VERSION_TABLE = "alembic_version"


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"database_url: not a database URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(url)
    return create_engine(url, pool_pre_ping=True)


POOL_SIZE = 20


def _postgresql_engine(url: str, pool_size: int = POOL_SIZE) -> Engine:
    # No pool pre-ping: its SELECT 1 on every checkout was a round trip per request. A
    # pooled connection the server ended is caught without one: see _closed_by_server.
    # Pool: SQLAlchemy's default of 5 kept, up to 15, closed every connection past the fifth
    # when it came back, so under 200 users a fifth of the requests opened a new one (a
    # server process forked, authenticated, its caches and prepared statements empty: the
    # database's CPU per request doubled). 20 are kept, opened only as needed; up to 20 more
    # for a burst, as many as the API's worker threads (40) could hold at once.
    engine = create_engine(
        url, json_deserializer=_json_from_bytes, pool_size=pool_size, max_overflow=pool_size
    )
    event.listen(engine, "connect", _session_settings)
    event.listen(engine, "checkout", _closed_by_server)
    return engine


_decode_json = json.JSONDecoder().decode


def _json_from_bytes(data: bytes | str) -> Any:
    # psycopg hands a JSON column's bytes over; json.loads(bytes) first sniffs the encoding
    # in Python, which made it ~2× a decode to str and a parse (3 JSON columns a search row).
    return _decode_json(data.decode() if isinstance(data, bytes) else data)


def _session_settings(dbapi_conn: Any, _record: Any) -> None:
    """What each new connection sets once, before its first statement.

    TimeZone 'UTC': psycopg then gives timestamptz values with Python's own UTC (its fast
    path) instead of converting each through a ZoneInfo of the server's zone (a cluster set
    up on an 'Etc/UTC' host: 30-40 % of a search row's decoding). The instants are the same;
    no SQL here depends on the session's zone.

    random_page_cost 1.1 (SSD), unless the server or the URL's ``options`` set it: with the
    default 4.0 (spinning disks) the planner walked the primary key backwards for a page of
    closed tickets in one district — filtering ~30 000 rows, 23-35 ms at 3 M tickets —
    rather than the (status, district, id) index (0.6-2.4 ms), because that index's heap
    order is scattered. A server tuned on purpose keeps its own value."""
    dbapi_conn.execute("SET TimeZone TO 'UTC'")
    dbapi_conn.execute(
        "SELECT set_config(name, %s, false) FROM pg_settings"
        " WHERE name = 'random_page_cost' AND source = 'default'",
        (RANDOM_PAGE_COST,),
    )
    dbapi_conn.commit()


RANDOM_PAGE_COST = "1.1"


def _closed_by_server(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection is idle: the server has nothing to say to it until it sends a
    statement. If its socket is readable, the server ended it (a restart, a failover,
    pg_terminate_backend, an idle timeout: PostgreSQL sends its FATAL message, then closes),
    so the pool is told to open a new one (DisconnectionError) before any statement fails.
    One poll() of the socket, no round trip. Not covered, as with a pre-ping that passes
    the instant before: the server going away between this check and the statement; the
    statement then fails and the pool drops every connection opened before it."""
    if dbapi_conn.closed:
        raise DisconnectionError("connection closed")
    # poll(), not select(): select() refuses descriptors past 1023, common in a busy server.
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN)
    if poller.poll(0):
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_engine(url: str, database: str | None) -> Engine:
    pool: dict[str, int] = {}
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # As on PostgreSQL: the default pool (5 kept, up to 15) closed every connection
        # past the fifth when it came back, so under 200 API users each request in ~5
        # opened the file anew, ran the four PRAGMAs and re-prepared its statements.
        pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE}
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


BUSY_TIMEOUT_MS = 30_000
# SQLite copies the WAL into the database file (and syncs it: tens of milliseconds here)
# inside whichever commit passes this many pages. At SQLite's default, 1 000, that was one
# journal drain in 30 under a steady 50 alerts/s, and the alerts arriving meanwhile waited
# on the disk. ``serve`` checkpoints every CHECKPOINT_S instead (Store.checkpoint); this
# bound only keeps the WAL finite when nothing does (about 40 MB).
WAL_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_S = 5.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (CLI, /metrics) run beside the daemon's writer; busy_timeout makes a
    # second writer wait instead of failing; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.close()


# How many SQLite VM instructions run between two looks at the clock: ~0.1 ms of work, so a
# cut-off comes that late at most and the look costs nothing measurable.
PROGRESS_STEPS = 5_000


@contextmanager
def _sqlite_bound(raw: Any, budget_s: float) -> Iterator[None]:
    deadline = time.monotonic() + budget_s
    # A true return makes SQLite abandon the statement: OperationalError "interrupted".
    raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _bounded_postgresql_engine(url: str, budget_s: float) -> Engine:
    """Connections for ``Store.read_within`` and ``Store.session_within`` alone, whose
    ``statement_timeout`` and ``lock_timeout`` are the budget from their start: the server
    cancels a statement past it (QueryCanceled) or a wait for a lock (LockNotAvailable).
    Setting them around each request on the ordinary connections cost a round trip or two
    (a create on the loop was six: BEGIN, SET LOCAL, three statements, COMMIT), made while
    the event loop waits. Only the loop uses them, one request at a time."""
    engine = _postgresql_engine(url, pool_size=2)
    ms = _timeout_ms(budget_s)

    def bounded(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false)",
            (ms, ms),
        )
        dbapi_conn.commit()

    event.listen(engine, "connect", bounded)
    return engine


def _timeout_ms(budget_s: float) -> str:
    """A PostgreSQL timeout setting in ms; never 0, which would mean no timeout at all."""
    return str(max(1, round(budget_s * 1000)))


@contextmanager
def _sqlite_write_bound(raw: Any, budget_s: float) -> Iterator[None]:
    # No busy handler: a lock another process holds fails the statement at once
    # ("database is locked") instead of sleeping on the event loop.
    raw.execute("PRAGMA busy_timeout=0")
    try:
        with _sqlite_bound(raw, budget_s):
            yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


@contextmanager
def _overrun(budget_s: float) -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if not _cut_off(exc):
            raise
        raise Overrun(f"cut off at its {budget_s * 1000:g} ms budget: {exc.orig}") from exc


# What a bound above makes the database raise; a lost connection, a full disk … pass on.
CUT_OFF = {
    "QueryCanceled": None,  # PostgreSQL's statement_timeout
    "LockNotAvailable": None,  # PostgreSQL's lock_timeout
    "OperationalError": ("interrupted", "database is locked"),  # SQLite
}


def _cut_off(exc: OperationalError) -> bool:
    name = type(exc.orig).__name__
    if name not in CUT_OFF:
        return False
    messages = CUT_OFF[name]
    return messages is None or str(exc.orig) in messages


class _Unlocked:
    """PostgreSQL's writers need no lock in the process: the server orders them."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None

    def acquire(self, blocking: bool = True) -> bool:
        return True

    def release(self) -> None:
        return None


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL reads run in autocommit: a search is then one round trip instead of
        # BEGIN, SELECT and ROLLBACK. Nothing is lost: under READ COMMITTED (the default)
        # each statement already read its own snapshot. SQLite's driver opens no
        # transaction for a SELECT, and switching its isolation level costs a PRAGMA.
        readers = self.engine
        if self.dialect == "postgresql":
            readers = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers = sessionmaker(readers, expire_on_commit=False)
        # SQLite has one writer: threads of this process (API requests, the outbox, the timer
        # loop, the recorder) take turns on a lock, which hands over at once, instead of
        # meeting on SQLite's lock, whose busy handler sleeps 1-100 ms between retries.
        # Other processes (the CLI) still wait through busy_timeout.
        self._writer = threading.RLock() if self.dialect == "sqlite" else _Unlocked()
        # read_within and session_within on PostgreSQL: per budget, its engine and sessions
        self._bounded: dict[float, _BoundedSessions] = {}
        self._bounded_lock = threading.Lock()
        self.checkpointed_at = float("-inf")  # monotonic seconds (see checkpoint)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def sqlite_file(self) -> str | None:
        """The database file on a SQLite file store; None on PostgreSQL or in memory (one
        shared connection), where a read on the event loop may wait."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return database

    def checkpoint(self, now: float | None = None) -> None:
        """Copy the WAL into the database file (SQLite, PASSIVE: it waits for no writer or
        reader and blocks none); nothing on PostgreSQL. ``now``: a monotonic reading."""
        if self.dialect == "sqlite":
            with self.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        self.checkpointed_at = time.monotonic() if now is None else now

    def checkpoint_if_older(self, age_s: float, now: float | None = None) -> bool:
        """``checkpoint`` unless one ran in the last ``age_s`` seconds; True if it ran."""
        now = time.monotonic() if now is None else now
        if now - self.checkpointed_at < age_s:
            return False
        self.checkpoint(now)
        return True

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._writer, self._sessions.begin() as session:
            yield session

    @contextmanager
    def session_if_free(self) -> Iterator[Session | None]:
        """A transaction as ``session()``, or None at once when another thread of this
        process is writing (SQLite), for work that can as well be done a little later."""
        if not self._writer.acquire(blocking=False):
            yield None
            return
        try:
            with self._sessions.begin() as session:
                yield session
        finally:
            self._writer.release()

    @contextmanager
    def session_within(self, budget_s: float) -> Iterator[Session]:
        """``session()`` for a short write run on the event loop itself, which must never
        wait: ``Overrun`` at once when another thread of this process is writing, and when
        a statement runs past ``budget_s`` or meets another process's lock (SQLite's busy
        handler is off for it; PostgreSQL's lock_timeout). The transaction is then rolled
        back: nothing is written, and the caller runs the work again on a worker thread."""
        if self.dialect == "postgresql":
            with _overrun(budget_s), self._bounded_sessions(budget_s).writing.begin() as session:
                yield session
                session.flush()  # the last statements run inside the bound
            return
        with self.session_if_free() as session:
            if session is None:
                raise Overrun("another thread is writing")
            raw = session.connection().connection.driver_connection
            with _overrun(budget_s), _sqlite_write_bound(raw, budget_s):
                yield session
                session.flush()

    @contextmanager
    def loop_read(self) -> Iterator[Connection | None]:
        """A connection for a short Core read on the event loop itself, or None where a read
        may wait (PostgreSQL: a round trip on the network; an in-memory SQLite store: one
        shared connection). A SQLite WAL reader never waits for the writer, and a read here
        spares a worker thread, which would share the interpreter lock with the requests.
        Nothing is written: the connection is rolled back as it is returned."""
        if self.sqlite_file is None:
            yield None
            return
        with self.engine.connect() as connection:
            yield connection

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session that skips the writer lock: a SQLite WAL reader never waits
        for the writer, so searches need not queue behind creates. Rolled back at the end;
        use ``session()`` for anything that writes."""
        with self._readers() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def read_within(self, budget_s: float) -> Iterator[Session]:
        """``read()`` for work run on the event loop itself: a statement still running
        ``budget_s`` after the session began is cut off and ``Overrun`` raised, so a heavy
        read stalls every other request for at most that long (its caller then runs it
        again on a worker thread). Nothing is written either way."""
        if self.dialect == "postgresql":
            with _overrun(budget_s), self._bounded_sessions(budget_s).reading() as session:
                try:
                    yield session
                finally:
                    session.rollback()
            return
        with self.read() as session:
            raw = session.connection().connection.driver_connection
            with _overrun(budget_s), _sqlite_bound(raw, budget_s):
                yield session

    def _bounded_sessions(self, budget_s: float) -> _BoundedSessions:
        with self._bounded_lock:
            if budget_s not in self._bounded:
                self._bounded[budget_s] = _BoundedSessions(
                    _bounded_postgresql_engine(self.url, budget_s)
                )
            return self._bounded[budget_s]

    def upgrade(self) -> str:
        # Alembic takes 0.5 s to import: only upgrading loads it, not every CLI command.
        from alembic import command

        with self.engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return self.revision() or ""

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return _current_revision(conn)
        except OperationalError as exc:
            raise StoreError(f"cannot open the store: {exc.orig}") from exc

    def check_migrated(self) -> None:
        head = head_revision()
        current = self.revision()
        if current != head:
            raise StoreError(
                f"store is at revision {current or 'none'}, code needs {head}: "
                "run 'hotline-ops db upgrade' (or 'hotline-ops init')"
            )

    def dispose(self) -> None:
        self.engine.dispose()
        with self._bounded_lock:
            for bounded in self._bounded.values():
                bounded.engine.dispose()
            self._bounded.clear()


class _BoundedSessions:
    """One budget's bounded engine: reads in autocommit (one round trip, as ``read``),
    writes in a transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        readers = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reading = sessionmaker(readers, expire_on_commit=False)
        self.writing = sessionmaker(engine, expire_on_commit=False)


def _current_revision(conn: Connection) -> str | None:
    """What Alembic's MigrationContext.get_current_revision reads, without importing Alembic
    for every CLI command that checks the store: no version table or no row is None."""
    if not inspect_db(conn).has_table(VERSION_TABLE):
        return None
    rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise StoreError(f"store has more than one revision: {', '.join(sorted(rows))}")
    return rows[0] if rows else None


@cache
def head_revision(versions: Path = MIGRATIONS / "versions") -> str:
    """The one revision no migration names as its down_revision, read from the migration
    files' literal ``revision``/``down_revision`` assignments (Alembic's ScriptDirectory
    would import Alembic and every migration; tests check both agree)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        names = _literal_assignments(path)
        revisions.add(names["revision"])
        down = names.get("down_revision")
        parents.update([down] if isinstance(down, str) else down or ())
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise StoreError(f"migrations must have one head, found {heads or 'none'}")
    return heads[0]


def _literal_assignments(path: Path) -> dict[str, Any]:
    """Module-level ``name = <literal>`` (annotated or not) of one migration file."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg
