"""An alert's first notice (services.first_notice): sent by the request that received the
alert when it surely opens a new incident, naming the incident's reserved id; the consumer
then opens that incident at that time and stores the notice as sent. Every other alert,
and every outcome the consumer cannot confirm, takes the ordinary path through the outbox,
under the same Idempotency-Key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select, text

from hotline_ops.core.alerts import AlertIn, dedup_key, fingerprint
from hotline_ops.core.matchers import Matcher
from hotline_ops.server import create_app
from hotline_ops.services import first_notice, incidents, journal, outbox, silences
from hotline_ops.store import ids
from hotline_ops.store.models import Incident, OutboxMessage
from hotline_ops.store.routing import DeliveryAttempt
from tests.alerts.helpers import ALERTS, BEARER, TOKENS, alerts_of, incidents_of, open_app
from tests.conftest import T0
from tests.support.content import write_content

DISK = {"alertname": "DiskFull", "host": "h1"}


@pytest.fixture
def app(tmp_path, store_url, clock, receiver, monkeypatch):
    """As under ``serve``: a consumer here (the test drains), first notices on, a block of
    ids reserved; the level's channel is a webhook to a real HTTP receiver. The reads get
    a budget a loaded CI machine cannot overrun (a read past it skips the first notice,
    which the skipped-read test checks on its own)."""
    monkeypatch.setattr(first_notice, "READ_BUDGET_S", 10.0)
    channels = {"ops": {"kind": "webhook", "url": receiver.url, "timeout_s": 2}}
    config = write_content(
        tmp_path / "site", channels=channels, settings={"api": {"tokens": TOKENS}}
    )
    (tmp_path / "site" / "incidents" / "alerts.yaml").write_text(yaml.safe_dump(ALERTS))
    app = open_app(config, store_url, clock)
    journal.state(app).consumers += 1
    first_notice.state(app).consumer = True
    first_notice.begin(app)
    first_notice.refill(app)
    yield app
    app.close()


def post(app, body: list[dict]) -> httpx.Response:
    """POST through the real ASGI app; returns once the first notices' sends ended."""

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(app))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://hotline-ops", headers=BEARER["ingest"]
        ) as http:
            response = await http.post("/api/v2/alerts", json=body)
        await asyncio.gather(*first_notice.state(app).tasks)
        return response

    return asyncio.run(main())


def outbox_rows(app) -> list[tuple[str, str, int]]:
    with app.store.read() as session:
        rows = session.execute(
            select(OutboxMessage.dedup_key, OutboxMessage.status, OutboxMessage.attempts).order_by(
                OutboxMessage.id
            )
        ).all()
    return [tuple(r) for r in rows]


def delivery_log(app) -> list[tuple[int, str, int]]:
    with app.store.read() as session:
        rows = session.execute(
            select(
                DeliveryAttempt.incident_id, DeliveryAttempt.status, DeliveryAttempt.attempt
            ).order_by(DeliveryAttempt.id)
        ).all()
    return [tuple(r) for r in rows]


def test_a_new_alert_is_noticed_by_its_request_and_the_consumer_opens_that_incident(
    app, receiver, clock
):
    first = first_notice.reserved(app)[0]
    response = post(app, [{"labels": DISK, "annotations": {"summary": "磁盘满"}}])
    assert response.status_code == 200
    # Sent before any incident is stored: the notice names the reserved id.
    assert receiver.keys() == [f"incident:{first}:opened:ops"]
    assert incidents_of(app) == []
    sent = receiver.posts[0]["body"]
    assert (sent["data"]["incident_id"], sent["data"]["labels"]) == (first, DISK)
    assert sent["data"]["opened_at"] == T0.isoformat()

    clock.advance(timedelta(seconds=3))  # the consumer runs later than the request
    journal.drain(app)
    (incident,) = incidents_of(app)
    assert (incident.id, incident.opened_at, incident.title) == (first, T0, "磁盘满")
    # Stored as sent, with its one attempt in the delivery log: the outbox sends nothing.
    assert outbox_rows(app) == [(f"incident:{first}:opened:ops", "sent", 1)]
    assert delivery_log(app) == [(first, "sent", 1)]
    outbox.deliver_due(app)
    assert receiver.keys() == [f"incident:{first}:opened:ops"]
    # What was sent is what the store keeps (same text, same deadlines).
    with app.store.read() as session:
        row = session.scalars(select(OutboxMessage)).one()
        stored = (row.subject, row.text, row.data)
    assert stored == (sent["subject"], sent["text"], sent["data"])
    assert first_notice.state(app).counts["sent"] == 1


def test_the_consumer_stores_a_notice_sent_here_as_sent_without_rendering_or_reading_again(
    app, receiver, monkeypatch
):
    """The notice this process sent is what the store keeps: the consumer neither renders
    the texts again nor reads the send's outcome back from the journal file."""
    post(app, [{"labels": DISK, "annotations": {"summary": "磁盘满"}}])
    sent = receiver.posts[0]["body"]
    calls = []
    monkeypatch.setattr(incidents.messages, "for_event", lambda *a, **k: calls.append(a))
    spool = journal.spool(app)
    monkeypatch.setattr(spool, "notices_for", lambda ids: calls.append(ids) or {})
    journal.drain(app)
    assert calls == []
    with app.store.read() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.status, row.subject, row.text, row.data) == (
            "sent", sent["subject"], sent["text"], sent["data"]
        )  # fmt: skip
    assert first_notice.state(app).in_flight == {}


def test_a_notice_rendered_for_other_channels_is_rendered_again_for_the_incidents(app, receiver):
    """levels.yaml reloaded between the request and the consumer: the incident's own level
    names the channels, so its notices are rendered for those (the outbox sends them)."""
    post(app, [{"labels": DISK}])
    flying = first_notice.state(app).in_flight
    ((incident_id, flight),) = flying.items()
    retired = [{**m, "channel": "retired"} for m in flight.messages]
    flying[incident_id] = flight._replace(messages=retired)
    journal.drain(app)
    assert outbox_rows(app) == [(f"incident:{incident_id}:opened:ops", "sent", 1)]
    with app.store.read() as session:
        assert session.scalars(select(OutboxMessage.channel)).all() == ["ops"]


def test_a_proxy_in_the_environment_keeps_first_notices_off_for_the_app(app, clock, monkeypatch):
    """httpx would send through the proxy, the kept connections cannot: the ordinary path.
    The environment is read once per app, as the channels' clients read it."""
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert (planned[0].notice, sends) == (None, [])
    monkeypatch.delenv("HTTPS_PROXY")
    other = AlertIn({**DISK, "host": "h2"})
    planned, sends = first_notice.plan(app, [other], "api", clock.now())
    assert (planned[0].notice, sends) == (None, [])


def test_a_request_leaves_topping_up_the_ids_to_the_consumer_until_they_run_nearly_dry(app, clock):
    """A request's refill would run on a worker thread beside the request itself (one
    interpreter lock): the consumer refills after its drain instead, below LOW; a request
    only below DRY (a burst outrunning the consumer)."""
    left = first_notice.reserved(app)

    def keep(n: int) -> None:  # as if incidents opened meanwhile had taken the others
        while len(left) > n:
            left.popleft()

    def receive(host: str) -> None:
        first_notice.plan(app, [AlertIn({**DISK, "host": host})], "api", clock.now())
        first_notice.appended(app)

    keep(first_notice.LOW)
    receive("a")  # takes one; LOW - 1 left is not dry: no refill
    assert len(left) == first_notice.LOW - 1
    journal.append_many(app, [("api", [AlertIn({**DISK, "host": "b"})], clock.now())])
    journal.drain(app)  # the consumer opens one (takes an id) and refills below LOW
    assert len(left) == first_notice.LOW - 2 + first_notice.BLOCK
    keep(first_notice.DRY)
    receive("c")  # DRY - 1 left: dry, the request refills (here at once: no loop runs)
    assert len(left) == first_notice.DRY - 1 + first_notice.BLOCK


def test_alerts_whose_incident_the_request_cannot_be_sure_of_take_the_ordinary_path(app, clock):
    post(app, [{"labels": {"alertname": "DiskFull", "host": "firing"}}])
    journal.drain(app)
    silences.add(
        app,
        matchers=[Matcher("host", "muted")],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_by="ops",
        comment="maintenance",
    )
    batch = [
        AlertIn({"alertname": "DiskFull", "host": "new"}),
        AlertIn({"alertname": "DiskFull", "host": "firing"}),  # already firing
        AlertIn({"alertname": "DiskFull", "host": "muted"}),  # a silence matches
        AlertIn({"alertname": "NumberDown", "trunk": "t1", "number": "1"}),  # grouped
        AlertIn({"alertname": "DiskFull", "host": "gone"}, status="resolved"),
        AlertIn({"alertname": "DiskFull", "host": "new"}),  # twice in one batch
    ]
    planned, sends = first_notice.plan(app, batch, "api", clock.now())
    assert [a.notice is not None for a in planned] == [True] + [False] * 5
    assert [s.incident_id for s in sends] == [planned[0].notice.incident_id]
    # The batch waits in the journal: the same alert again is not sure to be new.
    again, _ = first_notice.plan(app, [batch[0]], "api", clock.now())
    assert again[0].notice is None


def test_an_incident_resolved_within_the_reopen_window_is_reopened_not_noticed(app, clock):
    post(app, [{"labels": DISK}])
    journal.drain(app)
    clock.advance(timedelta(minutes=1))
    ended = (clock.now() - timedelta(seconds=1)).isoformat()
    post(app, [{"labels": DISK, "endsAt": ended}])  # resolved: auto-resolves the incident
    journal.drain(app)
    (incident,) = incidents_of(app)
    assert incident.resolved_at == clock.now()
    clock.advance(timedelta(seconds=app.levels.reopen_window_s))  # the window's last second
    planned, _ = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert planned[0].notice is None  # the consumer will reopen it: nothing new to notice
    first_notice.unplan(app, planned)
    clock.advance(timedelta(seconds=1))  # past the window: a new incident
    planned, _ = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert planned[0].notice is not None


def test_a_notice_whose_outcome_died_with_the_process_is_sent_again_under_its_key(
    app, receiver, clock
):
    """A SIGKILL after the send and before the consumer: the restarted consumer finds the
    reserved id in the journal but no outcome, stores the notice pending, and the outbox
    sends it under the same Idempotency-Key (the receiver drops the repeat)."""
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    journal.append_many(app, [("api", planned, clock.now())])
    # (no first_notice.start: the process died before the outcome was known)
    journal.drain(app)
    (incident,) = incidents_of(app)
    assert incident.id == sends[0].incident_id
    assert outbox_rows(app) == [(f"incident:{incident.id}:opened:ops", "pending", 0)]
    outbox.deliver_due(app)
    assert receiver.keys() == [f"incident:{incident.id}:opened:ops"]


def test_a_failed_first_notice_is_left_to_the_outbox(app, receiver, clock):
    receiver.status = 503
    post(app, [{"labels": DISK}])
    assert first_notice.state(app).counts["failed"] == 1
    journal.drain(app)
    (incident,) = incidents_of(app)
    assert outbox_rows(app) == [(f"incident:{incident.id}:opened:ops", "pending", 0)]
    receiver.status = 200
    outbox.deliver_due(app)
    assert receiver.keys() == [f"incident:{incident.id}:opened:ops"]


def test_a_notice_the_consumer_cannot_honour_is_counted_and_nothing_is_lost(app, clock):
    """Another process opened the same incident between the request and the consumer:
    the alert joins that incident, the reserved id stays unused, the miss is counted."""
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    journal.append_many(app, [("api", planned, clock.now())])
    with app.store.session() as session:
        other, created = incidents.open_incident(
            session,
            app,
            now=clock.now(),
            dedup_key=dedup_key(fingerprint(DISK)),
            title="opened elsewhere",
            source="cli",
            actor="ops",
            labels=DISK,
        )
    assert created and other.id != sends[0].incident_id
    journal.drain(app)
    assert [i.id for i in incidents_of(app)] == [other.id]
    assert [a.incident_id for a in alerts_of(app)] == [other.id]
    assert first_notice.state(app).counts["superseded"] == 1
    assert first_notice.state(app).fingerprints == {}  # nothing left waiting


def test_reserved_and_ordinary_ids_never_collide_and_stay_dense(app, clock):
    reserved = list(first_notice.reserved(app))
    assert reserved == list(range(1, first_notice.BLOCK + 1))
    opened = []
    for n in range(first_notice.BLOCK + 2):  # past the reserve: new ids from the store
        with app.store.session() as session:
            incident, _ = incidents.open_incident(
                session, app, now=clock.now(), dedup_key=f"k{n}", title="t", source="cli",
                actor="ops", labels={"n": str(n)},
            )  # fmt: skip
            opened.append(incident.id)
    assert opened == list(range(1, first_notice.BLOCK + 3))
    with app.store.session() as session:
        assert ids.incident_ids(session, 2) == [first_notice.BLOCK + 3, first_notice.BLOCK + 4]
    with app.store.read() as session:
        assert session.scalar(select(Incident.id).order_by(Incident.id.desc())) == opened[-1]


def test_without_a_consumer_here_nothing_is_noticed_early(app, clock):
    first_notice.state(app).consumer = False
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert (planned[0].notice, sends) == (None, [])


def test_the_consumer_steps_aside_while_an_alert_is_being_received(app):
    """Before each statement of a drain, it waits while the loop is urgent (bounded), and
    only while first notices can go out."""
    current = first_notice.state(app)
    current.overflowed = True  # a burst: nothing to step aside for
    with first_notice.urgent(app):
        assert current.calm.is_set()
    current.overflowed = False
    waited = []
    with first_notice.urgent(app):
        assert not current.calm.is_set()
        with first_notice.stepping_aside(app):
            first_notice.step_aside(app)
            waited.append(current.stepping.budget)
        first_notice.step_aside(app)  # outside a drain: never waits
    assert current.calm.is_set() and current.urgent == 0
    assert 0 < waited[0] <= first_notice.STEP_ASIDE_MAX_S - first_notice.STEP_ASIDE_S + 0.005


def test_reads_past_their_budget_skip_the_first_notice_and_lose_nothing(app, clock, monkeypatch):
    monkeypatch.setattr(first_notice, "READ_BUDGET_S", -1.0)  # every read is already late
    # SQLite's progress handler cuts the first statement off at once; PostgreSQL's budget
    # is a statement_timeout of at least 1 ms, which a warm read can beat: there the
    # bounded session first sleeps past it, as a slow read would.
    bounded = app.store.read_within

    @contextmanager
    def slow(budget_s: float) -> Iterator[Any]:
        with bounded(budget_s) as session:
            if app.store.dialect == "postgresql":
                session.execute(text("SELECT pg_sleep(0.05)"))
            yield session

    monkeypatch.setattr(app.store, "read_within", slow)
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert (planned[0].notice, sends) == (None, [])
    assert first_notice.state(app).counts["skipped"] == 1
    journal.append_many(app, [("api", planned, clock.now())])
    journal.drain(app)
    (incident,) = incidents_of(app)  # the ordinary path opens it
    assert outbox_rows(app) == [(f"incident:{incident.id}:opened:ops", "pending", 0)]


def test_a_burst_past_the_waiting_limit_stops_counting_until_the_journal_is_empty(app, clock):
    """Counting each waiting alert cost more than the rest of a request: past MAX_WAITING
    first notices stop and the counts start afresh once the consumer finds nothing left."""
    current = first_notice.state(app)
    burst = [AlertIn({"alertname": "Burst", "n": str(n)}) for n in range(first_notice.MAX_WAITING)]
    planned, _ = first_notice.plan(app, burst, "api", clock.now())
    first_notice.appended(app)
    assert not current.overflowed
    late, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    first_notice.appended(app)
    assert current.overflowed and sends == [] and late[0].notice is None
    assert fingerprint(DISK) not in current.fingerprints  # not counted one by one
    journal.append_many(app, [("api", planned, clock.now()), ("api", late, clock.now())])
    journal.drain_all(app)  # its last pass finds the journal empty
    assert (current.overflowed, current.waiting, dict(current.fingerprints)) == (False, 0, {})
    again, sends = first_notice.plan(app, [AlertIn({**DISK, "host": "h2"})], "api", clock.now())
    assert again[0].notice is not None and len(sends) == 1


def test_an_append_under_way_keeps_the_counts_when_the_journal_looks_empty(app, clock):
    current = first_notice.state(app)
    first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())  # planned, not committed
    journal.drain_all(app)  # empty journal, but a batch is under way: its count stays
    assert current.waiting == 1 and fingerprint(DISK) in current.fingerprints
    first_notice.appended(app)


def test_a_notice_recorded_before_a_crash_is_stored_as_sent_and_not_sent_again(
    app, receiver, clock
):
    """The send's outcome is kept in the journal file: after a SIGKILL (its memory gone)
    the consumer still knows the channel took the notice."""
    post(app, [{"labels": DISK}])
    (key,) = receiver.keys()
    incident_id = int(key.split(":")[1])
    assert journal.spool(app).notices_for([incident_id]) == {incident_id: {"ops": T0}}
    first_notice.state(app).in_flight.clear()  # what a restart forgets
    journal.drain(app)
    assert outbox_rows(app) == [(key, "sent", 1)]
    outbox.deliver_due(app)
    assert receiver.keys() == [key]
    assert journal.spool(app).notices_for([incident_id]) == {}  # forgotten once stored


def test_a_failing_decision_leaves_the_alert_to_the_ordinary_path(app, clock, monkeypatch):
    def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(first_notice, "_render", broken)
    planned, sends = first_notice.plan(app, [AlertIn(DISK)], "api", clock.now())
    assert (planned[0].notice, sends) == (None, [])
    assert first_notice.state(app).waiting == 1  # still counted as waiting
    first_notice.appended(app)
