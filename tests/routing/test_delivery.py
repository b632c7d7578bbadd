"""Delivery guarantees of the outbox on SQLite and PostgreSQL, with a FixedClock: a channel
down for 10 minutes loses nothing, reorders nothing, sends nothing twice; a permanent error
fails over to the person's next channel and is recorded; rate limits queue; a provider's
retry_after is honoured; a crashed worker's lease stalls a channel for seconds, not minutes."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hotline_ops.notify import fake
from hotline_ops.services import incidents, outbox
from hotline_ops.store.models import IncidentEvent, OutboxMessage
from hotline_ops.store.routing import DeliveryAttempt
from tests.conftest import T0
from tests.support.content import write_content

CHANNELS = {
    "ops": {"kind": "fake"},
    "pager": {"kind": "fake"},
    "backup": {"kind": "fake"},
    "robot": {"kind": "fake", "rate_limit": [20, 60]},
}
ZHANG = {
    "name": "张伟",
    "phone": "13800001001",
    "email": None,
    "wecom_id": None,
    "dingtalk_id": None,
}


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def app(tmp_path, make_app, store_url):
    # Production backoff: 2 s doubling to 300 s, 12 attempts.
    root = write_content(tmp_path / "site", channels=CHANNELS, settings={"daemon": {}})
    return make_app(root, store_url)


def put(app, key: str, channel: str = "ops", **extra) -> None:
    with app.store.session() as session:
        outbox.enqueue(
            session,
            now=app.clock.now(),
            channel=channel,
            dedup_key=key,
            subject=key,
            text=key,
            data={},
            **extra,
        )


def sent(name: str) -> list[str]:
    return [m.dedup_key for m in fake.SENT.get(name, [])]


def log_of(app, key: str) -> list[tuple[int, str]]:
    """(seconds after T0, status) of every attempt at the message ``key``."""
    with app.store.session() as session:
        row_id = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == key))
        rows = session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.outbox_id == row_id)
            .order_by(DeliveryAttempt.id)
        ).all()
        return [(int((r.at - T0).total_seconds()), r.status) for r in rows]


def test_it_delivers_everything_in_order_once_after_a_ten_minute_outage(app):
    fake.outage("ops")
    keys = []
    for second in range(0, 1200):
        if second in (0, 1, 120, 300):  # new notifications keep arriving during the outage
            keys.append(f"n{len(keys)}")
            put(app, keys[-1])
        if second == 600:
            fake.restore("ops")
        outbox.deliver_due(app)
        app.clock.advance(1)
    assert sent("ops") == keys == ["n0", "n1", "n2", "n3"]


def test_it_backs_off_exponentially_while_a_channel_is_down(app):
    fake.outage("ops")
    put(app, "n0")
    for second in range(0, 1000):
        if second == 600:
            fake.restore("ops")
        outbox.deliver_due(app)
        app.clock.advance(1)
    retries = [(t, "retry") for t in (0, 2, 6, 14, 30, 62, 126, 254, 510)]
    assert log_of(app, "n0") == [*retries, (810, "sent")]


def test_it_fails_over_to_the_persons_next_channel_on_a_permanent_error(app):
    incident, _ = incidents.create(app, title="中继中断", actor="t", level=2)
    fake.outage("pager", permanent=True)
    put(
        app,
        "page",
        channel="pager",
        incident_id=incident.id,
        person="zhang-wei",
        recipient=ZHANG,
        failover=["backup"],
    )
    outbox.deliver_due(app)
    outbox.deliver_due(app)
    assert [(m.dedup_key, m.recipient.name) for m in fake.SENT["backup"]] == [
        ("page>backup", "张伟")
    ]


def test_it_records_the_failover_on_the_timeline_and_in_the_delivery_log(app):
    incident, _ = incidents.create(app, title="中继中断", actor="t", level=2)
    fake.outage("pager", permanent=True)
    put(
        app,
        "page",
        channel="pager",
        incident_id=incident.id,
        person="zhang-wei",
        recipient=ZHANG,
        failover=["backup"],
    )
    outbox.deliver_due(app)
    outbox.deliver_due(app)
    with app.store.session() as session:
        events = session.scalars(
            select(IncidentEvent.reason).where(IncidentEvent.kind == "notify.failover")
        ).all()
        log = [
            (a.channel, a.person, a.status) for a in outbox.log_of(session, incident.id) if a.person
        ]
    assert events == ["pager → backup: fake channel 'pager': down"]
    assert log == [("pager", "zhang-wei", "failover"), ("backup", "zhang-wei", "sent")]


def test_it_fails_over_when_transient_errors_outlast_the_attempts(app):
    fake.outage("pager")
    put(app, "page", channel="pager", person="zhang-wei", recipient=ZHANG, failover=["backup"])
    for _ in range(13):  # 12 attempts, 300 s apart at most, then the next channel
        outbox.deliver_due(app)
        app.clock.advance(300)
    assert (fake.ATTEMPTS["pager"], sent("backup")) == (12, ["page>backup"])


def test_it_marks_a_page_failed_when_no_channel_is_left(app):
    fake.outage("pager", permanent=True)
    put(app, "page", channel="pager", person="zhang-wei", recipient=ZHANG)
    stats = outbox.deliver_due(app)
    assert (stats.failed, log_of(app, "page")) == (1, [(0, "failed")])


def test_it_does_not_hold_an_urgent_page_behind_one_deferred_for_quiet_hours(app):
    put(app, "level2", channel="pager", person="zhao-min", not_before=T0 + timedelta(hours=8))
    put(app, "level1", channel="pager", person="zhao-min")
    outbox.deliver_due(app)
    assert sent("pager") == ["level1"]


def test_it_queues_messages_over_the_rate_limit_instead_of_dropping_them(app):
    for i in range(25):
        put(app, f"r{i:02d}", channel="robot")
    counts = []
    for step in (0, 2, 1, 12):  # 20 per 60 s: one token back every 3 s
        app.clock.advance(step)
        outbox.deliver_due(app)
        counts.append(len(sent("robot")))
    assert counts == [20, 20, 21, 25]
    assert sent("robot") == [f"r{i:02d}" for i in range(25)]


def test_it_waits_as_long_as_the_providers_retry_after_says(app):
    fake.outage("ops", retry_after=30)
    put(app, "n0")
    outbox.deliver_due(app)
    fake.restore("ops")
    app.clock.advance(29)
    outbox.deliver_due(app)
    app.clock.advance(1)
    outbox.deliver_due(app)
    assert log_of(app, "n0") == [(0, "retry"), (30, "sent")]


def test_it_leases_a_message_for_a_few_channel_timeouts(app):
    assert outbox.lease_s(app, "ops") == 20.0  # 3 × 5 s timeout + 5 s, not the old 60 s


def test_it_redelivers_after_a_crash_once_the_short_lease_expires(app):
    put(app, "n0")
    row = _row(app, "n0")
    assert outbox._claim(app, row.id, app.clock.now(), "ops")  # claimed, then the worker "crashes"
    app.clock.advance(19)
    outbox.deliver_due(app)
    before = sent("ops")
    app.clock.advance(1)
    outbox.deliver_due(app)
    assert (before, sent("ops")) == ([], ["n0"])


def test_it_releases_a_dead_workers_lease_at_start(app):
    put(app, "n0")
    dead = f"{socket.gethostname()}:999999999:1"
    with app.store.session() as session:
        session.execute(
            update(OutboxMessage).values(claimed_by=dead, claimed_until=T0 + timedelta(minutes=1))
        )
    assert outbox.recover(app) == 1
    outbox.deliver_due(app)
    assert sent("ops") == ["n0"]


def test_it_keeps_a_live_workers_lease_at_start(app):
    put(app, "n0")
    assert outbox._claim(app, _row(app, "n0").id, app.clock.now(), "ops")
    assert outbox.recover(app) == 0


def _row(app, key: str) -> OutboxMessage:
    with app.store.session() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key == key)).one()
