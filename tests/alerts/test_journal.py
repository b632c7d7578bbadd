"""The alert ingest journal: a 2xx means the alerts are committed to ``alert_journal``;
concurrent requests share one commit; a bad body stores nothing; the consumer acts on the
entries in order and exactly once (its deletion commits with the incidents it opens)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from hotline_ops.core.alerts import AlertIn, fingerprint
from hotline_ops.server import create_app
from hotline_ops.services import journal
from hotline_ops.store.models import AlertJournalEntry, IncidentEvent
from tests.alerts import helpers
from tests.alerts.helpers import BEARER, alerts_of, am_alert, counts, incidents_of, webhook
from tests.conftest import T0

TRUNK = {"alertname": "TrunkDown", "trunk": "ct-1"}


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


@pytest.fixture
def consumer(app):
    """As under `serve`: a consumer is registered, so requests answer once journaled and
    the test drains the journal itself (the daemon's loop does the same call)."""
    journal.state(app).consumers += 1
    yield
    journal.state(app).consumers -= 1


def entries(app) -> list[tuple[str, int, str]]:
    with app.store.session() as session:
        rows = session.execute(
            select(
                AlertJournalEntry.source, AlertJournalEntry.count, AlertJournalEntry.alerts
            ).order_by(AlertJournalEntry.id)
        )
        return [tuple(row) for row in rows]


async def post_all(app, bodies: list[list[dict]]) -> tuple[list[httpx.Response], list[bool]]:
    """POST every body concurrently (one event loop, as uvicorn runs them); returns the
    responses and, for each, whether its entry was committed when it was answered."""
    api = create_app(app)
    seen: list[bool] = []
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://hotline-ops", headers=BEARER["ingest"]
    ) as http:

        async def one(body: list[dict]) -> httpx.Response:
            response = await http.post("/api/v2/alerts", json=body)
            mine = journal_json(AlertIn(body[0]["labels"]))
            seen.append(mine in [e[2] for e in await asyncio.to_thread(entries, app)])
            return response

        return list(await asyncio.gather(*(one(b) for b in bodies))), seen


def test_concurrent_requests_share_a_commit_and_each_answers_after_it(app, consumer):
    commits: list[int] = []
    unsubscribe = journal.on_append(lambda: commits.append(len(entries(app))))
    try:
        bodies = [[{"labels": {"alertname": "NumberDown", "number": str(n)}}] for n in range(20)]
        responses, seen = asyncio.run(post_all(app, bodies))
    finally:
        unsubscribe()
    assert [(r.status_code, r.json()) for r in responses] == [
        (200, {"received": 1, "stored": "journal"})
    ] * 20
    stored = entries(app)
    assert sorted(e[2] for e in stored) == sorted(
        journal_json(AlertIn({"alertname": "NumberDown", "number": str(n)})) for n in range(20)
    )
    # Fewer commits than requests (group commit), each answer after its entry committed.
    assert 1 <= len(commits) < 20
    assert commits[-1] == 20
    assert seen == [True] * 20
    assert counts(app)[:2] == (0, 0)  # nothing ingested yet: that is the consumer's job


def journal_json(alert: AlertIn) -> str:
    return json.dumps([journal.encode(alert)], separators=(",", ":"))


def test_a_bad_body_is_400_naming_the_field_and_leaves_the_journal_unchanged(app, consumer):
    http = helpers.client(app, "ingest")
    assert http.post("/api/v2/alerts", json=[{"labels": TRUNK}]).status_code == 200
    before = entries(app)
    bad = [{"labels": TRUNK}, {"labels": {"alertname": "A"}, "endsAt": "yesterday"}]
    response = http.post("/api/v2/alerts", json=bad)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "1.endsAt: Input should be a valid datetime or date, input is too short",
    )
    hook = http.post("/api/alertmanager", json=webhook(am_alert(TRUNK, status="pending")))
    assert (hook.status_code, hook.json()["error"]) == (
        400,
        "alerts.0.status: Input should be 'firing' or 'resolved'",
    )
    assert entries(app) == before and len(before) == 1


def test_the_role_is_checked_before_anything_is_journaled(app, consumer):
    viewer = helpers.client(app, "viewer").post("/api/v2/alerts", json=[{"labels": TRUNK}])
    nobody = helpers.client(app, None).post("/api/alertmanager", json=webhook(am_alert(TRUNK)))
    assert (viewer.status_code, nobody.status_code) == (403, 401)
    assert entries(app) == []


def test_the_consumer_opens_the_incident_and_deletes_the_entry_together(app, consumer, clock):
    http = helpers.client(app, "ingest")
    assert http.post("/api/alertmanager", json=webhook(am_alert(TRUNK))).status_code == 200
    clock.advance(timedelta(seconds=3))  # the consumer runs later: times are the receipt's
    drained = journal.drain(app)
    assert (drained.entries, drained.result.new, drained.result.opened) == (1, 1, [1])
    assert entries(app) == []
    (incident,) = incidents_of(app)
    (alert,) = alerts_of(app)
    assert (incident.opened_at, alert.received_at, alert.incident_id) == (T0, T0, 1)
    assert journal.drain(app).entries == 0  # nothing left: nothing acted on twice
    assert len(incidents_of(app)) == 1


def test_firing_then_resolved_for_one_fingerprint_are_acted_on_in_order(app, consumer, clock):
    http = helpers.client(app, "ingest")
    http.post("/api/alertmanager", json=webhook(am_alert(TRUNK)))
    clock.advance(timedelta(seconds=30))
    resolved = am_alert(TRUNK, status="resolved", endsAt="2026-11-28T02:00:20Z")
    http.post("/api/alertmanager", json=webhook(resolved))
    assert [(source, n) for source, n, _ in entries(app)] == [("alertmanager", 1)] * 2
    assert journal.drain_all(app).entries == 2  # both in one transaction, in order
    (incident,) = incidents_of(app)
    (alert,) = alerts_of(app)
    assert (alert.fingerprint, alert.status) == (fingerprint(TRUNK), "resolved")
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + timedelta(seconds=30))
    with app.store.session() as session:
        kinds = session.scalars(
            select(IncidentEvent.kind)
            .where(IncidentEvent.kind.like("alert.%"))
            .order_by(IncidentEvent.id)
        ).all()
    assert kinds == ["alert.firing", "alert.resolved"]


def test_resolved_then_firing_again_reopens_in_order_one_entry_at_a_time(app, consumer, clock):
    http = helpers.client(app, "ingest")
    http.post("/api/alertmanager", json=webhook(am_alert(TRUNK)))
    http.post("/api/alertmanager", json=webhook(am_alert(TRUNK, status="resolved")))
    http.post("/api/alertmanager", json=webhook(am_alert(TRUNK, startsAt="2026-11-28T02:00:00Z")))
    steps = [journal.drain(app, limit=1).entries for _ in range(4)]
    assert steps == [1, 1, 1, 0]
    assert [a.status for a in alerts_of(app)] == ["resolved", "firing"]
    (incident,) = incidents_of(app)
    assert incident.status != "resolved"


def test_without_a_consumer_the_request_drains_before_answering(app):
    response = helpers.client(app, "ingest").post("/api/v2/alerts", json=[{"labels": TRUNK}])
    assert response.status_code == 200
    assert (response.json()["received"], response.json()["opened"]) == (1, [1])
    assert entries(app) == [] and counts(app)[:2] == (1, 1)


def test_a_failed_ingest_keeps_the_entry_for_the_next_drain(app, consumer):
    helpers.client(app, "ingest").post("/api/v2/alerts", json=[{"labels": TRUNK}])
    with app.store.session() as session:  # an entry the consumer cannot read
        session.add(AlertJournalEntry(source="api", alerts="[{", count=1, received_at=T0))
    with pytest.raises(ValueError, match="Expecting property name"):
        journal.drain(app)
    assert len(entries(app)) == 2 and counts(app)[:2] == (0, 0)  # rolled back whole


def test_it_stores_times_in_utc_and_reads_them_back():
    alert = AlertIn(
        {"a": "b"}, starts_at=T0, ends_at=T0 + timedelta(minutes=5), fingerprint="f" * 16
    )
    assert journal.decode(journal.encode(alert)) == alert
    assert journal.encode(alert)["startsAt"] == "2026-11-28T02:00:00+00:00"
