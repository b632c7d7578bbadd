"""The alert ingest journal: a 2xx means the alerts are committed to the journal file;
concurrent requests share one commit; a bad body stores nothing; the consumer acts on the
entries in order and exactly once (its position commits with the incidents it opens)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hotline_ops.core.alerts import AlertIn, fingerprint
from hotline_ops.server import create_app
from hotline_ops.services import journal, spool
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
    """The entries not yet ingested, oldest first."""
    rows = journal.spool(app).after(journal.position(app), 10_000)
    return [(row.source, row.count, row.alerts) for row in rows]


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
    assert {r.headers["content-type"] for r in responses} == {"application/json"}
    stored = entries(app)
    assert sorted(e[2] for e in stored) == sorted(
        journal_json(AlertIn({"alertname": "NumberDown", "number": str(n)})) for n in range(20)
    )
    # Fewer commits than requests (group commit), each answer after its entry committed.
    assert 1 <= len(commits) < 20
    assert commits[-1] == 20
    assert seen == [True] * 20
    assert counts(app)[:2] == (0, 0)  # nothing ingested yet: that is the consumer's job


def test_a_lone_request_on_a_quiet_journal_commits_in_its_own_step(app, clock):
    """With no commit in the last BURST_S a request commits without a turn of the loop (its
    coroutine ends in its first step); one closer behind a commit waits for the group
    writer, as a burst's requests do."""
    alert = [AlertIn({"alertname": "NumberDown", "number": "1"})]

    def in_one_step(writer: journal.GroupCommit) -> int:
        with pytest.raises(StopIteration):
            writer.append("api", alert, clock.now()).send(None)
        return len(entries(app))

    async def run() -> list[object]:
        writer = journal.committer(app)
        seen: list[object] = [in_one_step(writer)]  # quiet since the start
        clock.advance(journal.BURST_S / 2)
        behind = asyncio.ensure_future(writer.append("api", alert, clock.now()))
        await asyncio.sleep(0)  # its first step: queued for the writer's commit
        seen.append((writer.writer is not None, len(entries(app))))
        await behind
        seen.append(len(entries(app)))
        clock.advance(journal.BURST_S * 2)
        seen.append(in_one_step(writer))  # quiet again
        return seen

    assert asyncio.run(run()) == [1, (True, 1), 2, 3]


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


def test_the_consumer_opens_the_incident_and_advances_its_position_together(app, consumer, clock):
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
    journal.spool(app).append([("api", "[{", 1, T0)])  # an entry the consumer cannot read
    with pytest.raises(ValueError, match="Expecting property name"):
        journal.drain(app)
    assert len(entries(app)) == 2 and counts(app)[:2] == (0, 0)  # rolled back whole
    assert journal.position(app) == 0


def test_it_stores_times_in_utc_and_reads_them_back():
    alert = AlertIn(
        {"a": "b"}, starts_at=T0, ends_at=T0 + timedelta(minutes=5), fingerprint="f" * 16
    )
    assert journal.decode(journal.encode(alert)) == alert
    assert journal.encode(alert)["startsAt"] == "2026-11-28T02:00:00+00:00"


def rows_in_file(app) -> list[int]:
    """Every entry id still in the journal file, ingested or not."""
    return [row.id for row in journal.spool(app).after(0, 10_000)]


def test_ingested_entries_are_trimmed_from_the_file_now_and_then_and_never_read_again(
    app, consumer, clock, monkeypatch
):
    monkeypatch.setattr(spool, "TRIM_ENTRIES", 3)
    # The store is checkpointed at each trim (both files' syncs at one moment).
    checkpoints = []
    store_checkpoint = app.store.checkpoint
    monkeypatch.setattr(app.store, "checkpoint", lambda: checkpoints.append(store_checkpoint()))
    http = helpers.client(app, "ingest")
    for n in range(5):
        http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": str(n)}}])
    assert rows_in_file(app) == [1, 2, 3, 4, 5]
    assert journal.drain(app, limit=1).entries == 1  # the first drain of a process trims
    assert (journal.position(app), rows_in_file(app), journal.pending(app)) == (1, [2, 3, 4, 5], 4)
    assert len(checkpoints) == 1
    assert journal.drain(app, limit=2).entries == 2  # 2 since the trim, 0 s: kept for now
    assert (journal.position(app), rows_in_file(app), journal.pending(app)) == (3, [2, 3, 4, 5], 2)
    assert len(checkpoints) == 1
    assert journal.drain(app, limit=1).entries == 1  # 3 since the trim
    assert (journal.position(app), rows_in_file(app)) == (4, [5])
    clock.advance(timedelta(seconds=spool.TRIM_S))
    assert journal.drain(app).entries == 1  # one more, but TRIM_S since the last trim
    assert (journal.position(app), rows_in_file(app), journal.pending(app)) == (5, [], 0)
    assert len(checkpoints) == 3
    # Ids keep growing after the file was emptied: the position still describes it.
    http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": "5"}}])
    assert rows_in_file(app) == [6]
    assert journal.drain_all(app).entries == 1 and len(incidents_of(app)) == 1
    assert len(alerts_of(app)) == 6


def test_notice_records_are_deleted_at_the_next_trim_and_stale_ones_with_it(tmp_path):
    """Forgetting a first notice's record waits for the trim (no commit per drain); a
    record a crash left behind goes once it is older than the cut-off."""
    file = spool.Spool(tmp_path / spool.FILE_NAME)
    day = timedelta(days=1)
    file.record_notices([(1, "ops", T0), (2, "ops", T0), (3, "ops", T0 - day - day)])
    file.tidy(0, 0.0, T0 - day)  # the first trim: only the stale record goes
    assert file.notices_for([1, 2, 3]) == {1: {"ops": T0}, 2: {"ops": T0}}
    file.forget_notices([1])
    assert file.notices_for([1, 2]) == {1: {"ops": T0}, 2: {"ops": T0}}  # until the trim
    file.tidy(0, spool.TRIM_S - 1, T0 - day)  # not yet due
    assert file.notices_for([1]) == {1: {"ops": T0}}
    file.tidy(0, spool.TRIM_S, T0 - day)
    assert file.notices_for([1, 2]) == {2: {"ops": T0}}
    file.close()


def test_the_trim_itself_starts_the_journal_wal_over(tmp_path):
    """A trim checkpoints the file and then commits its deletes: that commit starts the
    WAL over (and syncs its header), so the next request's append does not."""
    file = spool.Spool(tmp_path / spool.FILE_NAME)
    for n in range(20):
        file.append([("api", f'[{{"n":{n}}}]', 1, T0)])
    started_over = wal_restarts(file.path)
    file.tidy(20, 0.0, T0)
    assert wal_restarts(file.path) == started_over + 1  # by the trim's own commit
    file.append([("api", "[]", 1, T0)])
    assert wal_restarts(file.path) == started_over + 1  # not by the append after it
    file.close()


def wal_restarts(path) -> int:
    """The WAL header's checkpoint sequence number: +1 each time the WAL starts over."""
    header = Path(f"{path}-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


def test_a_drain_with_nothing_new_since_its_last_commit_opens_no_store_session(
    app, consumer, monkeypatch
):
    """The consumer wakes as often as alerts come: once it knows its position, an empty
    wake-up reads only the journal file (no session, so not the store's writer lock)."""
    http = helpers.client(app, "ingest")
    http.post("/api/v2/alerts", json=[{"labels": TRUNK}])
    opened, session = [], app.store.session
    monkeypatch.setattr(app.store, "session", lambda: opened.append(1) or session())
    assert journal.drain(app).entries == 1 and len(opened) == 1
    assert journal.drain(app).entries == 0 and len(opened) == 1
    http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": "2"}}])
    assert journal.drain(app).entries == 1 and len(opened) == 2
    assert len(alerts_of(app)) == 2


def test_a_replaced_journal_file_is_read_from_its_start_not_from_the_old_position(
    app, consumer, tmp_path
):
    http = helpers.client(app, "ingest")
    for n in range(2):
        http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": str(n)}}])
    journal.drain_all(app)
    old = journal.spool(app)
    old.close()
    old.path.unlink()  # the operator deleted the file (its WAL went with the checkpoint)
    del app.__dict__["_journal_spool"]
    http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": "new"}}])
    assert journal.spool(app).id != old.id and rows_in_file(app) == [1]
    assert (journal.pending(app), journal.drain_all(app).entries) == (1, 1)
    assert len(alerts_of(app)) == 3


def test_a_drain_that_finds_the_position_moved_keeps_nothing(app, consumer):
    http = helpers.client(app, "ingest")
    http.post("/api/v2/alerts", json=[{"labels": TRUNK}])
    http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "n": "2"}}])
    journal.drain(app, limit=1)
    with pytest.raises(journal.Raced), app.store.session() as session:
        # Another process advanced the position after this drain read it.
        journal._advance(session, journal.spool(app).id, 0, 2, T0)
    assert (journal.position(app), counts(app)[:2]) == (1, (1, 1))


def test_entries_left_in_the_stores_table_by_an_older_version_are_adopted_in_order(app):
    with app.store.session() as session:
        for n, status in enumerate(("firing", "resolved")):
            alert = AlertIn(TRUNK, status=status, starts_at=T0)
            text = json.dumps([journal.encode(alert)], separators=(",", ":"))
            at = T0 + timedelta(seconds=n)
            session.add(AlertJournalEntry(source="api", alerts=text, count=1, received_at=at))
    assert [(s, n) for s, n, _ in entries(app)] == [("api", 1)] * 2  # opening the file adopts
    with app.store.session() as session:
        assert session.scalars(select(AlertJournalEntry)).all() == []
    assert journal.drain_all(app).entries == 2
    (alert,) = alerts_of(app)
    assert alert.status == "resolved"


def test_an_entry_that_keeps_failing_is_quarantined_and_the_alerts_after_it_go_through(
    app, consumer, clock, caplog
):
    http = helpers.client(app, "ingest")
    http.post("/api/v2/alerts", json=[{"labels": TRUNK}])
    journal.spool(app).append([("api", "[{", 1, T0)])  # an entry the ingest cannot read
    http.post("/api/v2/alerts", json=[{"labels": {**TRUNK, "trunk": "ct-2"}}])
    assert journal.drain(app, limit=1).entries == 1  # the good one before it
    for _ in range(journal.QUARANTINE_AFTER):  # the batch it leads fails, whole
        with pytest.raises(ValueError, match="Expecting property name"):
            journal.drain(app)
        assert (journal.position(app), counts(app)[:2]) == (1, (1, 1))
    clock.advance(timedelta(seconds=7))
    quarantined = journal.drain(app)  # tried alone, failed again: set aside
    assert (quarantined.entries, journal.position(app), journal.quarantined(app)) == (1, 2, 1)
    assert "entry 2 (1 alerts from api" in caplog.text and "quarantined" in caplog.text
    assert journal.drain(app).entries == 1  # the alert after it went through
    assert counts(app)[:2] == (2, 2) and journal.pending(app) == 0
    dead = sqlite3.connect(journal.spool(app).path).execute("SELECT * FROM dead").fetchall()
    assert dead == [
        (
            2, "api", "[{", 1, T0.isoformat(), (T0 + timedelta(seconds=7)).isoformat(),
            "JSONDecodeError: Expecting property name enclosed in double quotes: "
            "line 1 column 3 (char 2)",
        )
    ]  # fmt: skip


def test_a_failing_batch_whose_oldest_entry_is_good_moves_on_without_quarantine(app, consumer):
    http = helpers.client(app, "ingest")
    http.post("/api/v2/alerts", json=[{"labels": TRUNK}])
    journal.spool(app).append([("api", "[{", 1, T0)])
    for _ in range(journal.QUARANTINE_AFTER):
        with pytest.raises(ValueError):
            journal.drain(app)
    assert journal.drain(app).entries == 1  # the good oldest entry alone
    assert (journal.position(app), journal.quarantined(app), counts(app)[:2]) == (1, 0, (1, 1))
