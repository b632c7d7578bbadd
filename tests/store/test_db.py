"""The store on SQLite and PostgreSQL alike: migrations, UTC times, and the constraints
the services rely on (one open incident per key, an append-only timeline, outbox dedup)."""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DatabaseError, IntegrityError, StatementError
from sqlalchemy.pool import NullPool

from hotline_ops.errors import Overrun, StoreError
from hotline_ops.store.db import Store
from hotline_ops.store.models import Incident, IncidentEvent, OutboxMessage, TargetState
from tests.conftest import T0
from tests.support.migrations import HEAD
from tests.support.store import writer_held


@pytest.fixture
def store(store_url):
    store = Store(store_url)
    store.upgrade()
    yield store
    store.dispose()


def incident(key: str, *, open_key: str | None) -> Incident:
    return Incident(
        dedup_key=key,
        open_key=open_key,
        title="t",
        source="manual",
        level=2,
        status="open",
        labels={},
        policy={},
        opened_at=T0,
    )


def message(key: str) -> OutboxMessage:
    return OutboxMessage(
        dedup_key=key,
        channel="ops",
        subject="s",
        text="t",
        data={},
        status="pending",
        attempts=0,
        created_at=T0,
        next_attempt_at=T0,
        last_error="",
    )


def state(at: datetime) -> TargetState:
    return TargetState(
        target="api", kind="fake", status="up", fails=0, oks=1, changed_at=at, detail=""
    )


@pytest.fixture
def event_id(store) -> int:
    with store.session() as session:
        row = incident("k", open_key="k")
        session.add(row)
        session.flush()
        event = IncidentEvent(
            incident_id=row.id, at=T0, actor="t", kind="opened", reason="r", data={"level": 2}
        )
        session.add(event)
        session.flush()
        return event.id


def event_row(store, event_id: int) -> tuple:
    with store.session() as session:
        event = session.get(IncidentEvent, event_id)
        return (event.at, event.actor, event.kind, event.reason, event.data)


def test_it_migrates_to_head(store_url):
    store = Store(store_url)
    try:
        assert (store.upgrade(), store.revision()) == (HEAD, HEAD)
    finally:
        store.dispose()


def test_it_passes_check_migrated_after_upgrade(store):
    assert store.check_migrated() is None


def test_it_tells_how_to_migrate_a_fresh_store(store_url):
    store = Store(store_url)
    try:
        with pytest.raises(StoreError) as info:
            store.check_migrated()
    finally:
        store.dispose()
    assert str(info.value) == (
        f"store is at revision none, code needs {HEAD}: "
        "run 'hotline-ops db upgrade' (or 'hotline-ops init')"
    )


def test_it_runs_sqlite_in_wal_mode(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'var' / 'wal.db'}")
    try:
        store.upgrade()
        with store.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        store.dispose()
    assert mode == "wal"


def test_sqlite_checkpoints_come_from_serve_not_from_every_thousandth_page(tmp_path):
    """A commit no longer copies the WAL into the file past 1 000 pages (a sync inside a
    journal drain, once in 30 at 50 alerts/s); ``checkpoint`` does, and says when."""
    path = tmp_path / "var" / "ckpt.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.upgrade()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
        store.checkpoint(now=100.0)
        size = path.stat().st_size
        with store.session() as session:  # about 1 200 pages of WAL, past SQLite's default
            for n in range(1500):
                session.add(TargetState(target=f"t{n}", kind="sip", detail="x" * 3000))
        assert path.stat().st_size == size  # still in the WAL
        assert store.checkpoint_if_older(5.0, now=104.0) is False  # one ran 4 s ago
        assert store.checkpoint_if_older(5.0, now=105.0) is True
        assert store.checkpointed_at == 105.0
        assert path.stat().st_size > size  # copied into the file
    finally:
        store.dispose()


def test_a_postgresql_checkpoint_is_left_to_the_server(pg_url):
    store = Store(pg_url)
    try:
        store.checkpoint(now=7.0)  # no statement: PostgreSQL checkpoints on its own
        assert store.checkpointed_at == 7.0
    finally:
        store.dispose()


def test_it_gives_back_an_aware_utc_datetime_exactly(store):
    at = datetime(2026, 11, 28, 2, 0, 0, 123456, tzinfo=UTC)
    with store.session() as session:
        session.add(state(at))
    with store.session() as session:
        back = session.get(TargetState, "api").changed_at
    assert (back, back.tzinfo) == (at, UTC)


def test_it_stores_an_aware_non_utc_datetime_as_the_same_instant_in_utc(store):
    local = datetime(2026, 11, 28, 10, 0, 0, 1, tzinfo=timezone(timedelta(hours=8)))
    with store.session() as session:
        session.add(state(local))
    with store.session() as session:
        back = session.get(TargetState, "api").changed_at
    assert (back.replace(tzinfo=None), back.tzinfo) == (datetime(2026, 11, 28, 2, 0, 0, 1), UTC)


def test_it_refuses_a_naive_datetime(store):
    with pytest.raises(StatementError) as info, store.session() as session:
        session.add(state(datetime(2026, 11, 28, 2, 0)))
    assert str(info.value.orig) == "naive datetime given to the store; pass an aware UTC time"


def test_it_allows_only_one_open_incident_per_key(store):
    with store.session() as session:
        session.add(incident("probe:api", open_key="probe:api"))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(incident("probe:api", open_key="probe:api"))


def test_it_lets_resolved_incidents_repeat_a_key_beside_the_open_one(store):
    with store.session() as session:
        session.add_all(
            [
                incident("probe:api", open_key=None),
                incident("probe:api", open_key=None),
                incident("probe:api", open_key="probe:api"),
            ]
        )
    with store.session() as session:
        keys = session.execute(sa.select(Incident.dedup_key, Incident.open_key)).all()
    assert sorted(keys, key=lambda k: k[1] or "") == [
        ("probe:api", None),
        ("probe:api", None),
        ("probe:api", "probe:api"),
    ]


def test_it_refuses_to_update_a_timeline_event(store, event_id):
    with (
        pytest.raises(DatabaseError, match="incident_events is append-only"),
        store.session() as session,
    ):
        session.execute(sa.update(IncidentEvent).values(reason="edited"))
    assert event_row(store, event_id) == (T0, "t", "opened", "r", {"level": 2})


def test_it_refuses_to_delete_a_timeline_event(store, event_id):
    with (
        pytest.raises(DatabaseError, match="incident_events is append-only"),
        store.session() as session,
    ):
        session.execute(sa.delete(IncidentEvent))
    assert event_row(store, event_id) == (T0, "t", "opened", "r", {"level": 2})


def test_it_keeps_outbox_dedup_keys_unique(store):
    with store.session() as session:
        session.add(message("incident:1:opened:ops"))
    with pytest.raises(IntegrityError), store.session() as session:
        session.add(message("incident:1:opened:ops"))


def test_it_refuses_to_truncate_the_timeline_on_postgresql(pg_url):
    store = Store(pg_url)
    store.upgrade()
    with (
        pytest.raises(DatabaseError, match="incident_events is append-only"),
        store.engine.begin() as conn,
    ):
        conn.exec_driver_sql("TRUNCATE incident_events")
    store.dispose()


def test_it_migrates_down_and_up_again(store_url):
    from alembic import command

    from hotline_ops.store.db import _alembic_config

    store = Store(store_url)
    store.upgrade()
    with store.engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert store.revision() is None
    assert store.upgrade() == HEAD
    store.dispose()


def test_it_has_models_that_match_the_migrations(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hotline_ops.store.models import Base

    store = Store(store_url)
    store.upgrade()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    store.dispose()
    assert diff == []


def test_a_postgresql_read_holds_no_transaction_between_statements(pg_url):
    # Autocommit reads (one round trip a statement): each statement is its own transaction,
    # where a read session used to keep one open from BEGIN to ROLLBACK.
    store = Store(pg_url)
    try:
        with store.read() as session:
            ids = [session.scalar(sa.text("SELECT pg_current_xact_id()::text")) for _ in "ab"]
        with store.session() as session:
            same = [session.scalar(sa.text("SELECT pg_current_xact_id()::text")) for _ in "ab"]
    finally:
        store.dispose()
    assert (ids[0] != ids[1], same[0] == same[1]) == (True, True)


def _backend_pids(store: Store, sessions: int) -> set[int]:
    """Opens ``sessions`` pooled connections at once; their server processes."""
    with ExitStack() as stack:
        opened = [stack.enter_context(store.read()) for _ in range(sessions)]
        return {s.scalar(sa.text("SELECT pg_backend_pid()")) for s in opened}


def _terminate(url: str, pids: set[int]) -> None:
    """What a server restart or an administrator does to a pooled connection: its backend
    sends FATAL and closes the socket. Waits until each backend has exited."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        for pid in pids:
            ended = conn.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            assert ended is True
    admin.dispose()


def test_a_postgresql_store_survives_its_connections_ended_by_the_server(pg_url):
    # No pre-ping round trip per checkout: a pooled connection the server closed is seen
    # at checkout (its socket is readable) and replaced before any statement fails.
    store = Store(pg_url)
    store.upgrade()
    try:
        before = _backend_pids(store, 3)
        _terminate(pg_url, before)
        with store.read() as session:
            read = session.scalar(sa.text("SELECT pg_backend_pid()"))
        with store.session() as session:
            session.add(incident("after", open_key="after"))
        after = _backend_pids(store, 3)
    finally:
        store.dispose()
    assert (len(before), read in before, before & after) == (3, False, set())


def test_a_postgresql_store_sends_no_ping_before_a_statement(pg_url, tmp_path):
    # What the client sends the server (libpq's protocol trace of the pooled connection):
    # the read's statement alone, no pre-ping SELECT before it.
    store = Store(pg_url)
    trace = tmp_path / "trace"
    try:
        pooled = store.engine.raw_connection()
        with trace.open("w") as out:
            pooled.driver_connection.pgconn.trace(out.fileno())
            pooled.close()  # back to the pool, traced
            with store.read() as session:
                session.scalar(sa.text("SELECT 41 + 1"))
            store.engine.raw_connection().driver_connection.pgconn.untrace()
    finally:
        store.dispose()
    lines = [line.split("\t") for line in trace.read_text().splitlines()]
    sent = [" ".join(f.strip() for f in fields[3:]) for fields in lines if fields[1] == "F"]
    assert sent == ['Query "SELECT 41 + 1"']


def test_a_postgresql_store_reads_in_utc_whatever_the_server_zone(pg_url):
    # The session zone is UTC (psycopg's fast timestamptz path) even on a server set to
    # another zone; the instants stored and read are the same either way.
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            f"ALTER DATABASE \"{admin.url.database}\" SET TimeZone = 'Asia/Shanghai'"
        )
    with admin.connect() as conn:
        server_zone = conn.scalar(sa.text("SELECT current_setting('TimeZone')"))
    admin.dispose()
    store = Store(pg_url)
    store.upgrade()
    try:
        with store.session() as session:
            session.add(state(T0))
        with store.read() as session:
            zone = session.scalar(sa.text("SELECT current_setting('TimeZone')"))
            at = session.get(TargetState, "api").changed_at
            text_at = session.scalar(sa.text("SELECT changed_at::text FROM target_states"))
    finally:
        store.dispose()
    assert server_zone == "Asia/Shanghai"  # what a plain new connection gets
    assert (zone, at, at.tzinfo is UTC) == ("UTC", T0, True)
    assert text_at == "2026-11-28 02:00:00+00"


def _page_cost(url: str) -> str:
    store = Store(url)
    try:
        with store.read() as session:
            return session.scalar(sa.text("SELECT current_setting('random_page_cost')"))
    finally:
        store.dispose()


def test_a_postgresql_store_plans_for_ssd_unless_the_server_was_tuned(pg_url):
    # With the default 4.0 the planner walked the primary key for a page of closed tickets
    # (23-35 ms at 3 M) instead of the (status, district, id) index; a value set on purpose
    # (the URL's options, the database, the server's file) is kept.
    untuned = _page_cost(pg_url)
    from_url = _page_cost(pg_url + "?options=-c%20random_page_cost%3D2.5")
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{admin.url.database}" SET random_page_cost = 3')
        plain = conn.scalar(sa.text("SELECT current_setting('random_page_cost')"))
    admin.dispose()
    from_database = _page_cost(pg_url)
    assert (untuned, from_url, plain, from_database) == ("1.1", "2.5", "4", "3")


def test_a_store_keeps_twenty_connections_for_the_next_requests(store_url):
    # SQLAlchemy's default pool kept 5 and closed the rest on return: a busy API opened a
    # new server process (PostgreSQL), or reopened the file, ran the PRAGMAs and prepared
    # its statements again (SQLite), for a fifth of its requests.
    store = Store(store_url)
    held = _backend_pids if store.dialect == "postgresql" else _sqlite_connections
    try:
        opened = held(store, 25)
        kept = store.engine.pool.checkedin()
        again = held(store, 20)
    finally:
        store.dispose()
    assert (len(opened), kept, again <= opened) == (25, 20, True)


def _sqlite_connections(store: Store, sessions: int) -> set[int]:
    """Opens ``sessions`` pooled connections at once; the ids of their sqlite3 objects."""
    with ExitStack() as stack:
        opened = [stack.enter_context(store.read()) for _ in range(sessions)]
        return {id(s.connection().connection.driver_connection) for s in opened}


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
COUNT_TO = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < :n)"
    " SELECT count(*) FROM c"
)


def test_a_bounded_sqlite_read_is_cut_off_at_its_budget_and_leaves_no_bound(tmp_path):
    # A search run on the event loop must not stall it: SQLite's progress handler stops
    # the statement; the pooled connection then reads without any bound.
    store = Store(f"sqlite:///{tmp_path / 'bound.db'}")
    try:
        t0 = time.monotonic()
        with pytest.raises(Overrun) as cut, store.read_within(0.05) as session:
            session.execute(sa.text(ENDLESS))
        took = time.monotonic() - t0
        with store.read() as session:  # the same, only pooled connection
            counted = session.execute(sa.text(COUNT_TO), {"n": 300_000}).scalar()
    finally:
        store.dispose()
    assert (str(cut.value), took < 2.0, counted) == (
        "cut off at its 50 ms budget: interrupted",
        True,
        300_000,
    )


def test_a_bounded_read_within_its_budget_gives_its_rows(store):
    with store.read_within(5.0) as session:
        counted = session.execute(sa.text(COUNT_TO), {"n": 1000}).scalar()
    assert counted == 1000


def test_a_bounded_read_passes_other_errors_through(store):
    with pytest.raises(DatabaseError) as failed, store.read_within(5.0) as session:
        session.execute(sa.text("SELECT * FROM no_such_table"))
    assert (failed.type is not Overrun, "no_such_table" in str(failed.value)) == (True, True)


def test_a_bounded_postgresql_read_is_cut_off_on_connections_of_its_own(pg_url):
    # The loop's reads have connections whose statement_timeout is the budget (no SET and
    # RESET round trips a read); the store's other connections keep the server's value.
    store = Store(pg_url)
    try:
        with pytest.raises(Overrun) as cut, store.read_within(0.05) as session:
            pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
            session.execute(sa.text("SELECT pg_sleep(5)"))
        with store.read_within(0.05) as session:  # the same connection, usable again
            bounded = session.execute(SETTING).one()
        with store.read() as session:
            ordinary = session.execute(SETTING).one()
    finally:
        store.dispose()
    assert (type(cut.value.__cause__.orig).__name__, tuple(bounded), ordinary[1]) == (
        "QueryCanceled",
        (pid, "50ms"),
        "0",
    )


SETTING = sa.text("SELECT pg_backend_pid(), current_setting('statement_timeout')")
WRITE = "INSERT INTO alembic_version (version_num) VALUES ('probe')"
PROBES = "SELECT count(*) FROM alembic_version WHERE version_num = 'probe'"


def test_a_bounded_write_within_its_budget_commits(store):
    with store.session_within(5.0) as session:
        session.execute(sa.text(WRITE))
    with store.read() as session:
        assert session.scalar(sa.text(PROBES)) == 1


def test_a_bounded_sqlite_write_gives_up_at_once_while_another_thread_writes(tmp_path):
    # The event loop must not queue behind the daemon's writer: it hands the work on.
    # (PostgreSQL's writers do not take turns; a row lock there: the test below.)
    store = Store(f"sqlite:///{tmp_path / 'turns.db'}")
    store.upgrade()
    with writer_held(store):
        t0 = time.monotonic()
        with pytest.raises(Overrun) as cut, store.session_within(5.0) as session:
            session.execute(sa.text(WRITE))
        took = time.monotonic() - t0
    with store.read() as session:
        written = session.scalar(sa.text(PROBES))
    store.dispose()
    assert (str(cut.value), took < 1.0, written) == ("another thread is writing", True, 0)


def test_a_bounded_sqlite_write_gives_up_on_another_processs_lock_and_keeps_nothing(tmp_path):
    # Another process (the CLI) holds SQLite's write lock: no 30 s busy wait on the loop.
    path = tmp_path / "locked.db"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        with pytest.raises(Overrun) as cut, store.session_within(5.0) as session:
            session.execute(sa.text(WRITE))
        took = time.monotonic() - t0
        other.execute("ROLLBACK")
        with store.read() as session:  # the same pooled connection: its busy wait is back
            after = (
                session.scalar(sa.text("PRAGMA busy_timeout")),
                session.scalar(sa.text(PROBES)),
            )
    finally:
        other.close()
        store.dispose()
    assert (str(cut.value), took < 1.0, after) == (
        "cut off at its 5000 ms budget: database is locked",
        True,
        (30_000, 0),
    )


def test_a_bounded_postgresql_write_gives_up_on_a_row_lock_and_keeps_nothing(pg_url):
    # The loop's writes, like its reads, have connections whose timeouts are the budget
    # from their start (no SET LOCAL round trip a create); the store's other connections
    # keep the server's values.
    store = Store(pg_url)
    store.upgrade()
    other = sa.create_engine(pg_url, poolclass=NullPool)
    try:
        with other.begin() as locker:
            locker.execute(sa.text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            t0 = time.monotonic()
            with pytest.raises(Overrun) as cut, store.session_within(0.1) as session:
                pid = session.scalar(sa.text("SELECT pg_backend_pid()"))
                session.execute(sa.text(WRITE))
            took = time.monotonic() - t0
        with store.session_within(0.1) as session:  # the same connection, usable again
            bounded = session.execute(sa.text(f"SELECT pg_backend_pid(), {TIMEOUTS}")).one()
        with store.session() as session:
            after = session.execute(sa.text(f"SELECT {TIMEOUTS}, ({PROBES})")).one()
    finally:
        other.dispose()
        store.dispose()
    # Both timeouts are the budget; whichever the server checks first cancels the wait.
    cause = type(cut.value.__cause__.orig).__name__
    assert (
        cause in {"LockNotAvailable", "QueryCanceled"},
        took < 2.0,
        tuple(bounded),
        tuple(after),
    ) == (True, True, (pid, "100ms", "100ms"), ("0", "0", 0))


TIMEOUTS = "current_setting('lock_timeout'), current_setting('statement_timeout')"
