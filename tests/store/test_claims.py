"""Claims on SQLite and PostgreSQL: a due timer fires exactly once however many workers race
for it, and the outbox retries with exact backoff, keeps channel order and recovers leases."""

from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from hotline_ops.notify import fake
from hotline_ops.services import incidents, outbox, timers
from hotline_ops.services.outbox import DeliveryStats
from hotline_ops.store.models import Deadline, IncidentEvent, OutboxMessage
from hotline_ops.store.routing import DeliveryAttempt
from tests.conftest import T0
from tests.support.content import LEVELS, write_content
from tests.support.store import writer_held

TRANSIENT = "fake channel 'ops': scripted transient failure"
PERMANENT = "fake channel 'ops': scripted permanent failure"


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def site(tmp_path):
    """The shared site without timer warnings: these tests count breach claims."""
    return write_content(tmp_path / "site", levels={**LEVELS, "warn_at": []})


@pytest.fixture
def scripted(tmp_path, make_app, store_url):
    """An App whose `ops` fake channel fails as scripted, then succeeds."""

    def build(*outcomes: str):
        channels = {"ops": {"kind": "fake", "fail": list(outcomes)}}
        return make_app(write_content(tmp_path / "scripted", channels=channels), store_url)

    return build


def open_incident(app, title: str = "ticket-api down") -> int:
    incident, _ = incidents.create(app, title=title, actor="t", level=2)
    return incident.id


def race(apps, work):
    """Run ``work(app)`` for every app in its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(apps))

    def run(app):
        barrier.wait()
        return work(app)

    with ThreadPoolExecutor(len(apps)) as pool:
        return list(pool.map(run, apps))


def breaches(app) -> list[tuple]:
    with app.store.session() as session:
        rows = session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.kind == "timer.breach")
            .order_by(IncidentEvent.id)
        )
        return [(e.incident_id, e.at, e.data["kind"]) for e in rows]


def messages(app) -> list[OutboxMessage]:
    with app.store.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def sent_keys() -> list[str]:
    return [m.dedup_key for m in fake.SENT.get("ops", [])]


def test_it_fires_a_due_timer_exactly_once_when_two_workers_race(site, store_url, make_app, clock):
    apps = [make_app(site, store_url), make_app(site, store_url)]
    open_incident(apps[0])
    clock.advance(timedelta(minutes=31))
    assert sum(race(apps, timers.fire_due)) == 1
    assert breaches(apps[0]) == [(1, T0 + timedelta(minutes=31), "response")]


def test_it_fires_many_due_timers_once_each_when_two_workers_race(site, store_url, make_app, clock):
    apps = [make_app(site, store_url), make_app(site, store_url)]
    for n in range(12):
        open_incident(apps[0], f"target-{n} down")
    clock.advance(timedelta(minutes=31))
    assert sum(race(apps, timers.fire_due)) == 12
    assert sorted(b[0] for b in breaches(apps[0])) == list(range(1, 13))


def test_it_never_fires_a_deadline_met_before_it_was_due(site, store_url, make_app, clock):
    app = make_app(site, store_url)
    incident_id = open_incident(app)
    clock.advance(timedelta(minutes=10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    clock.set(T0 + timedelta(hours=3))
    assert timers.fire_due(app) == 1
    assert breaches(app) == [(incident_id, T0 + timedelta(hours=3), "resolve")]


def test_it_stamps_the_met_deadline_with_the_acknowledge_time(site, store_url, make_app, clock):
    app = make_app(site, store_url)
    incident_id = open_incident(app)
    clock.advance(timedelta(minutes=10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    clock.set(T0 + timedelta(hours=3))
    timers.fire_due(app)
    with app.store.session() as session:
        rows = session.scalars(select(Deadline).order_by(Deadline.due_at))
        stamps = [(d.kind, d.met_at, d.fired_at) for d in rows]
    assert stamps == [
        ("response", T0 + timedelta(minutes=10), None),
        ("resolve", None, T0 + timedelta(hours=3)),
    ]


def test_it_backs_off_exactly_between_transient_failures(scripted, clock):
    app = scripted("transient", "transient", "transient", "transient")
    open_incident(app)
    seen = []
    for _ in range(4):
        outbox.deliver_due(app)
        (row,) = messages(app)
        seen.append((row.attempts, row.next_attempt_at, row.last_error))
        clock.set(row.next_attempt_at)
    assert seen == [
        (1, T0 + timedelta(seconds=1), TRANSIENT),
        (2, T0 + timedelta(seconds=3), TRANSIENT),
        (3, T0 + timedelta(seconds=7), TRANSIENT),
        (4, T0 + timedelta(seconds=11), TRANSIENT),
    ]


def test_it_does_not_retry_before_next_attempt_at(scripted, clock):
    app = scripted("transient")
    open_incident(app)
    outbox.deliver_due(app)
    clock.set(T0 + timedelta(seconds=1) - timedelta(microseconds=1))
    assert outbox.deliver_due(app) == DeliveryStats()
    assert [(m.status, m.attempts) for m in messages(app)] == [("pending", 1)]


def test_it_sends_on_the_retry_after_the_transient_failures(scripted, clock):
    app = scripted("transient", "transient")
    open_incident(app)
    outbox.deliver_due(app)
    clock.set(T0 + timedelta(seconds=1))
    outbox.deliver_due(app)
    clock.set(T0 + timedelta(seconds=3))
    assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    (row,) = messages(app)
    assert (row.status, row.attempts, row.sent_at, row.last_error, row.claimed_until) == (
        "sent",
        3,
        T0 + timedelta(seconds=3),
        "",
        None,
    )


def test_it_marks_a_message_failed_on_a_permanent_failure(scripted):
    app = scripted("permanent")
    open_incident(app)
    assert outbox.deliver_due(app) == DeliveryStats(failed=1)
    (row,) = messages(app)
    assert (row.status, row.attempts, row.last_error, row.claimed_until) == (
        "failed",
        1,
        PERMANENT,
        None,
    )


def test_it_adds_a_notify_failed_event_on_a_permanent_failure(scripted):
    app = scripted("permanent")
    incident_id = open_incident(app)
    outbox.deliver_due(app)
    with app.store.session() as session:
        events = [
            (e.at, e.actor, e.kind, e.reason, e.data)
            for e in incidents.events_of(session, incident_id)
        ]
    assert events[-1] == (
        T0,
        "outbox",
        "notify.failed",
        PERMANENT,
        {"channel": "ops", "outbox_id": 1},
    )


def test_it_holds_later_messages_of_a_channel_while_an_earlier_one_backs_off(scripted, clock):
    app = scripted("transient")
    incident_id = open_incident(app)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    assert outbox.deliver_due(app) == DeliveryStats(retried=1)
    clock.advance(timedelta(milliseconds=500))
    assert outbox.deliver_due(app) == DeliveryStats()
    assert [(m.dedup_key, m.status, m.attempts) for m in messages(app)] == [
        ("incident:1:opened:ops", "pending", 1),
        ("incident:1:acknowledged:ops", "pending", 0),
    ]
    assert sent_keys() == []


def test_it_sends_held_messages_in_id_order_once_the_backoff_ends(scripted, clock):
    app = scripted("transient")
    incident_id = open_incident(app)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    outbox.deliver_due(app)
    clock.advance(timedelta(seconds=1))
    assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    assert sent_keys() == ["incident:1:opened:ops", "incident:1:acknowledged:ops"]


def test_it_leaves_a_claimed_message_alone_until_its_lease_expires(scripted, clock):
    app = scripted()
    open_incident(app)
    (row,) = messages(app)
    assert outbox._claim(app, row.id, T0, "ops")  # a worker claims it, then crashes
    # The lease is 3 × the channel's 5 s timeout + 5 s: a crash stalls the channel 20 s.
    clock.advance(timedelta(seconds=19))
    assert outbox.deliver_due(app) == DeliveryStats()
    assert sent_keys() == []


def test_it_redelivers_a_claimed_message_once_its_lease_expired(scripted, clock):
    app = scripted()
    open_incident(app)
    (row,) = messages(app)
    assert outbox._claim(app, row.id, T0, "ops")  # a worker claims it, then crashes
    clock.advance(timedelta(seconds=20))
    assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    assert sent_keys() == ["incident:1:opened:ops"]


def test_it_keeps_channel_order_while_an_earlier_message_is_leased(scripted, clock):
    app = scripted()
    incident_id = open_incident(app)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    first, _ = messages(app)
    assert outbox._claim(app, first.id, T0, "ops")  # another worker is sending the first one
    assert outbox.deliver_due(app) == DeliveryStats()
    clock.advance(timedelta(seconds=20))
    assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    assert sent_keys() == ["incident:1:opened:ops", "incident:1:acknowledged:ops"]


def leases(app) -> list[tuple[str, object]]:
    return [(m.status, m.claimed_until) for m in messages(app)]


def test_a_pass_leases_its_messages_together_and_gives_back_what_a_failure_held_up(scripted, clock):
    app = scripted("transient")  # the first send fails, the rest would succeed
    incident_id = open_incident(app)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    rows = messages(app)
    assert len(rows) == 2
    assert outbox.deliver_due(app) == DeliveryStats(retried=1)
    # The failed one waits for its retry; the ones behind it were leased in the same claim
    # and given back at the end of the pass, so nothing is held for a lease.
    assert [m.claimed_until for m in messages(app)] == [None, None]
    assert sent_keys() == []
    clock.advance(timedelta(seconds=60))
    assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    assert sent_keys() == [m.dedup_key for m in rows]  # in order


def test_a_pass_stops_when_its_lease_would_not_cover_one_more_send(scripted, clock, monkeypatch):
    app = scripted()
    incident_id = open_incident(app)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    first, second = messages(app)
    # One lease is 20 s (3 × the 5 s timeout + 5 s); the pass may hold 30 s in all, and a
    # send needs 15 s of it (its timeouts).
    monkeypatch.setattr(outbox, "PASS_LEASE_S", 30.0)
    real_send = outbox.send_now

    def slow_send(app_, channel, message):
        clock.advance(timedelta(seconds=16))  # each send takes 16 s
        return real_send(app_, channel, message)

    monkeypatch.setattr(outbox, "send_now", slow_send)
    assert outbox.deliver_due(app) == DeliveryStats(sent=1)  # 14 s left < 15 s: stop
    assert sent_keys() == [first.dedup_key]
    assert leases(app) == [("sent", None), ("pending", None)]  # the second given back
    assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    assert sent_keys() == [first.dedup_key, second.dedup_key]


# --------------------------------------------------------------------------- hand-off


@contextmanager
def outbox_writes(app):
    """The UPDATE statements on the outbox table while the block runs (a claim, a mark, a
    release each show up as one)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE OUTBOX"):
            seen.append(statement)

    event.listen(app.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(app.store.engine, "before_cursor_execute", record)


@contextmanager
def delivering(app):
    """As inside `serve`: this process runs a delivery loop, so new notices are handed to it."""
    stop = outbox.deliver_here(app, lambda: None)
    try:
        yield
    finally:
        stop()


def test_a_new_incidents_notice_is_handed_to_this_processs_loop_and_sent_without_a_claim(
    scripted, clock
):
    app = scripted()
    with delivering(app):
        open_incident(app)
    (row,) = messages(app)
    worker = outbox.state(app)
    # Leased to this worker for one send (3 × 5 s + 5 s), and known to its loop.
    assert (row.claimed_by, row.claimed_until) == (worker.worker, T0 + timedelta(seconds=20))
    assert worker.handed == {row.id: T0 + timedelta(seconds=20)}
    with outbox_writes(app) as updates:
        assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    assert len(updates) == 1  # the mark only: no claim, nothing to give back
    assert sent_keys() == ["incident:1:opened:ops"]
    assert worker.handed == {}
    (row,) = messages(app)
    assert (row.status, row.claimed_by, row.claimed_until) == ("sent", None, None)


def test_without_a_delivery_loop_here_a_notice_is_left_unleased_for_the_daemon(scripted, clock):
    app = scripted()  # e.g. `hotline-ops incident open` in its own process
    open_incident(app)
    (row,) = messages(app)
    assert (row.claimed_by, row.claimed_until) == (None, None)
    assert outbox.state(app).handed == {}
    with outbox_writes(app) as updates:
        assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    assert len(updates) == 2  # the pass's claim, then the mark


def test_a_handed_notice_waits_behind_an_earlier_message_of_its_queue_in_retry(scripted, clock):
    app = scripted("transient")
    first = open_incident(app, "first")  # not handed: its first send fails
    assert outbox.deliver_due(app) == DeliveryStats(retried=1)
    with delivering(app):
        open_incident(app, "second")
    assert outbox.deliver_due(app) == DeliveryStats()  # order: the retry goes first
    assert sent_keys() == []
    clock.advance(timedelta(seconds=60))  # the retry is due; the hand-off's lease has run out
    assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    assert sent_keys() == [f"incident:{first}:opened:ops", f"incident:{first + 1}:opened:ops"]
    assert outbox.state(app).handed == {}


def test_a_handed_notice_taken_over_by_another_worker_is_not_sent_twice(scripted, clock):
    app = scripted()
    with delivering(app):
        open_incident(app)
    assert len(messages(app)) == 1
    clock.advance(timedelta(seconds=20))  # the loop never got to it: the lease expired …
    with app.store.session() as session:  # … and another worker claimed it
        session.execute(
            update(OutboxMessage).values(
                claimed_by="elsewhere:1:1", claimed_until=T0 + timedelta(seconds=40)
            )
        )
    assert outbox.deliver_due(app) == DeliveryStats()
    assert sent_keys() == []
    assert outbox.state(app).handed == {}  # expired: forgotten, claimed like any message


def test_a_crashed_workers_handed_notices_are_released_at_the_next_start(scripted, clock):
    app = scripted()
    with delivering(app):
        open_incident(app)
    dead = f"{socket.gethostname()}:999999999:1"  # the worker that handed them, killed
    with app.store.session() as session:
        session.execute(update(OutboxMessage).values(claimed_by=dead))
    outbox.state(app).handed.clear()  # a new process: nothing handed to it
    assert outbox.recover(app) == 1
    assert outbox.deliver_due(app) == DeliveryStats(sent=1)
    assert sent_keys() == ["incident:1:opened:ops"]


def test_a_handed_notice_that_waited_past_its_slack_is_renewed_by_the_pass_and_sent(
    scripted, clock
):
    app = scripted()
    with delivering(app):
        first = open_incident(app, "first")
    clock.advance(timedelta(seconds=6))  # a backlog: 14 s of lease left, a send needs 15 s
    with delivering(app):
        open_incident(app, "second")  # handed with a fresh lease
    with outbox_writes(app) as updates:
        assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    # One claim renews the first (still leased to this worker), then one mark each.
    assert len(updates) == 3
    assert sent_keys() == [f"incident:{first}:opened:ops", f"incident:{first + 1}:opened:ops"]
    assert outbox.state(app).handed == {}


# --------------------------------------------------------------------------- marks


def statuses(app) -> list[str]:
    """The outbox's statuses, read without the writer (another thread may hold it)."""
    with app.store.read() as session:
        return list(session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


def delivery_log(app) -> list[tuple[int, str]]:
    with app.store.read() as session:
        rows = session.execute(
            select(DeliveryAttempt.outbox_id, DeliveryAttempt.status).order_by(DeliveryAttempt.id)
        )
        return [tuple(row) for row in rows]


def two_handed_notices(app) -> list[int]:
    with delivering(app):
        open_incident(app, "first")
        open_incident(app, "second")
    return [row.id for row in messages(app)]


def sending(monkeypatch, app, at_send):
    """Call ``at_send(n)`` (1-based) before each send of the pass."""
    real_send, count = outbox.send_now, []

    def send(app_, channel, message):
        count.append(1)
        at_send(len(count))
        return real_send(app_, channel, message)

    monkeypatch.setattr(outbox, "send_now", send)


def test_a_pass_stores_each_sent_message_right_after_its_send_when_nobody_else_writes(
    scripted, clock, monkeypatch
):
    app = scripted()
    first, second = two_handed_notices(app)
    seen = []
    sending(monkeypatch, app, lambda n: seen.append(statuses(app)))
    assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    assert seen == [["pending", "pending"], ["sent", "pending"]]
    assert delivery_log(app) == [(first, "sent"), (second, "sent")]


def test_while_another_thread_writes_a_pass_sends_on_and_stores_its_marks_after(
    scripted, clock, monkeypatch
):
    app = scripted()
    first, second = two_handed_notices(app)
    seen = []
    with writer_held(app.store) as release:

        def at_send(n):
            seen.append(statuses(app))
            if n == 2:
                release()

        sending(monkeypatch, app, at_send)
        assert outbox.deliver_due(app) == DeliveryStats(sent=2)
    # SQLite: the first mark waited for the other writer instead of holding up the second
    # send. PostgreSQL orders writers itself: nothing waits in the process, marked at once.
    waited = app.store.dialect == "sqlite"
    assert seen == [["pending", "pending"], ["pending" if waited else "sent", "pending"]]
    assert statuses(app) == ["sent", "sent"]
    assert delivery_log(app) == [(first, "sent"), (second, "sent")]
    assert sent_keys() == [f"incident:{i}:opened:ops" for i in (1, 2)]


def test_a_failure_after_a_waiting_mark_keeps_the_delivery_log_in_order(
    scripted, clock, monkeypatch
):
    app = scripted("ok", "transient")
    first, second = two_handed_notices(app)
    with writer_held(app.store) as release:
        sending(monkeypatch, app, lambda n: release() if n == 2 else None)
        assert outbox.deliver_due(app) == DeliveryStats(sent=1, retried=1)
    assert delivery_log(app) == [(first, "sent"), (second, "retry")]
    assert statuses(app) == ["sent", "pending"]


def test_an_error_escaping_the_pass_still_stores_what_was_sent_and_gives_back_the_rest(
    scripted, clock, monkeypatch
):
    app = scripted()
    first, _ = two_handed_notices(app)

    def at_send(n):
        if n == 2:
            release()
            raise RuntimeError("the channel's library broke")

    with writer_held(app.store) as release:
        sending(monkeypatch, app, at_send)
        with pytest.raises(RuntimeError):
            outbox.deliver_due(app)
    assert delivery_log(app) == [(first, "sent")]
    assert leases(app) == [("sent", None), ("pending", None)]


def test_a_pass_waits_for_the_writer_once_marks_waiting_reach_the_bound(
    scripted, clock, monkeypatch
):
    # A crash re-sends the pages whose marks wait: at most MARKS_WAITING of them.
    monkeypatch.setattr(outbox, "MARKS_WAITING", 2)
    app = scripted()
    with delivering(app):
        for title in ("first", "second", "third"):
            open_incident(app, title)
    seen = []
    with writer_held(app.store) as release:

        def at_send(n):
            seen.append(statuses(app))
            if n == 2:  # let go a little later: the pass must wait for it, not go on
                threading.Timer(0.3, release).start()

        sending(monkeypatch, app, at_send)
        assert outbox.deliver_due(app) == DeliveryStats(sent=3)
    waited = app.store.dialect == "sqlite"
    assert seen == [
        ["pending"] * 3,
        ["pending" if waited else "sent", "pending", "pending"],
        ["sent", "sent", "pending"],
    ]
    assert statuses(app) == ["sent"] * 3
