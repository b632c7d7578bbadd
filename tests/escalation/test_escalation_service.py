"""The escalation service on SQLite and PostgreSQL: the chain is snapshotted at the opening,
every run is a stored deadline claimed exactly once, each run notifies through the outbox
with its own dedup key and stores the next run at its exact time, and stop() cancels what
is pending. The claim is done here exactly as services/timers.py does it."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hotline_ops.core import escalation as core
from hotline_ops.escalation_content import load_escalation
from hotline_ops.notify import fake
from hotline_ops.services import escalation, incidents, timers
from hotline_ops.store.models import Deadline, Incident, OutboxMessage
from tests.conftest import T0
from tests.support.content import write_content

CHAINS = """\
chains:
  default:
    steps:
      - {wait: 0m, notify: [ops]}
      - {wait: 10m, notify: [ops]}
      - {wait: 20m, notify: [ops], repeat: 2, every: 15m}
  level1:
    steps:
      - {wait: 0m, notify: [ops]}
      - {wait: 5m, people: [duty-manager], channels: [ops, duty]}
routes:
  - {match: {level: 1}, chain: level1}
  - {chain: default}
"""


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def app(tmp_path, make_app, store_url):
    channels = {"ops": {"kind": "fake"}, "duty": {"kind": "fake"}}
    root = write_content(tmp_path / "site", channels=channels)
    return make_app(root, store_url)


@pytest.fixture
def policy(app, tmp_path):
    path = tmp_path / "site" / "incidents" / "escalation.yaml"
    path.write_text(CHAINS, encoding="utf-8")
    return load_escalation(path, set(app.channels))


def open_and_start(app, policy, level: int = 2) -> int:
    """Open an incident and start its escalation (the lead wires start() into opening)."""
    incident, _ = incidents.create(app, title="ticket-api down", actor="t", level=level)
    with app.store.session() as session:
        row = incidents.get(session, incident_id=incident.id)
        escalation.start(session, app, row, now=app.clock.now(), policy=policy)
    return incident.id


def claim_and_run(app, deadline_id: int) -> int:
    """One timer-loop claim, as services/timers.py does it: run only if exactly one row changed."""
    now = app.clock.now()
    with app.store.session() as session:
        claimed = session.execute(
            update(Deadline).where(Deadline.id == deadline_id, *timers.PENDING).values(fired_at=now)
        ).rowcount
        if claimed != 1:
            return 0
        deadline = session.get(Deadline, deadline_id)
        incident = incidents.get(session, incident_id=deadline.incident_id)
        escalation.run_step(session, app, incident, deadline, now=now)
        return 1


def rows(app) -> list[tuple]:
    with app.store.session() as session:
        found = session.scalars(
            select(Deadline).where(Deadline.purpose == "escalation").order_by(Deadline.id)
        )
        return [(d.step, d.due_at, d.fired_at, d.cancelled_at) for d in found]


def pending_id(app) -> int:
    with app.store.session() as session:
        return session.scalar(
            select(Deadline.id).where(Deadline.purpose == "escalation", *timers.PENDING)
        )


def keys(app) -> list[str]:
    with app.store.session() as session:
        found = session.scalars(select(OutboxMessage.dedup_key).order_by(OutboxMessage.id))
        return [k for k in found if ":escalation:" in k]


def events(app, incident_id: int, prefix: str = "escalation") -> list[tuple]:
    with app.store.session() as session:
        return [
            (e.at, e.actor, e.kind, e.reason, e.data)
            for e in incidents.events_of(session, incident_id)
            if e.kind.startswith(prefix)
        ]


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def test_it_snapshots_the_chain_and_stores_the_first_run(app, policy):
    incident_id = open_and_start(app, policy)
    with app.store.session() as session:
        snapshot = session.get(Incident, incident_id).escalation
    assert core.from_snapshot(snapshot) == policy.chains["default"]
    assert rows(app) == [(0, T0, None, None)]
    assert events(app, incident_id) == [
        (
            T0,
            "escalation",
            "escalation.started",
            "升级链 default，共 3 级",
            {"chain": "default", "first_due": T0.isoformat()},
        )
    ]


def test_it_picks_the_chain_by_the_incident_level(app, policy):
    incident_id = open_and_start(app, policy, level=1)
    with app.store.session() as session:
        assert session.get(Incident, incident_id).escalation["name"] == "level1"


def test_it_stores_every_next_run_at_its_exact_time(app, policy, clock):
    open_and_start(app, policy)
    for minutes in (0, 10, 20, 35, 50):
        clock.set(at(minutes))
        assert claim_and_run(app, pending_id(app)) == 1
    assert rows(app) == [
        (0, at(0), at(0), None),
        (1, at(10), at(10), None),
        (2, at(20), at(20), None),
        (2, at(35), at(35), None),
        (2, at(50), at(50), None),
    ]
    assert pending_id(app) is None


def test_it_notifies_each_run_with_its_own_dedup_key(app, policy, clock):
    open_and_start(app, policy)
    for minutes in (0, 10, 20, 35, 50):
        clock.set(at(minutes))
        claim_and_run(app, pending_id(app))
    assert keys(app) == [
        "incident:1:escalation:0:0:ops",
        "incident:1:escalation:1:0:ops",
        "incident:1:escalation:2:0:ops",
        "incident:1:escalation:2:1:ops",
        "incident:1:escalation:2:2:ops",
    ]


def test_it_records_each_run_on_the_timeline(app, policy, clock):
    incident_id = open_and_start(app, policy)
    first = pending_id(app)
    claim_and_run(app, first)
    clock.set(at(10))
    second = pending_id(app)
    claim_and_run(app, second)
    assert events(app, incident_id, "escalation")[1:] == [
        (
            at(0),
            "escalation",
            "escalation",
            "第 1/3 级升级",
            {
                "deadline_id": first,
                "step": 0,
                "repeat": 0,
                "channels": ["ops"],
                "next_due": at(10).isoformat(),
            },
        ),
        (
            at(10),
            "escalation",
            "escalation",
            "第 2/3 级升级",
            {
                "deadline_id": second,
                "step": 1,
                "repeat": 0,
                "channels": ["ops"],
                "next_due": at(20).isoformat(),
            },
        ),
    ]


def test_it_writes_the_message_in_chinese_with_local_times(app, policy, clock):
    open_and_start(app, policy)
    claim_and_run(app, pending_id(app))
    clock.set(at(10))
    claim_and_run(app, pending_id(app))
    with app.store.session() as session:
        message = session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedup_key.like("%:escalation:1:0:ops"))
        )
        subject, text, data = message.subject, message.text, message.data
    assert subject == "【测试热线·故障升级】ticket-api down"
    assert text.splitlines() == [
        "【测试热线·故障升级】ticket-api down",
        "事件编号：#1",
        "故障等级：二级（核心功能故障）",
        "发生时间：2026-11-28 10:00:00",
        "已持续 10m 仍未响应",
        "响应时限（M2.1b）：2026-11-28 10:30:00 前",
        "升级：第 2/3 级升级（升级链 default）",
    ]
    assert (data["event"], data["escalation"]) == (
        "escalation",
        {"chain": "default", "step": 1, "repeat": 0, "people": [], "roster": None},
    )


def test_it_notifies_the_fallback_channels_of_people(app, policy, clock):
    open_and_start(app, policy, level=1)
    claim_and_run(app, pending_id(app))
    clock.set(at(5))
    claim_and_run(app, pending_id(app))
    assert keys(app) == [
        "incident:1:escalation:0:0:ops",
        "incident:1:escalation:1:0:ops",
        "incident:1:escalation:1:0:duty",
    ]


def test_it_catches_up_after_downtime_without_a_burst_of_stale_repeats(app, policy, clock):
    open_and_start(app, policy)
    claim_and_run(app, pending_id(app))
    clock.set(at(55))  # the timer loop was down from +0 to +55 min
    while (due := pending_id(app)) is not None:
        claim_and_run(app, due)
    assert [(step, due_at) for step, due_at, _, _ in rows(app)] == [
        (0, at(0)),
        (1, at(10)),
        (2, at(20)),
        (2, at(50)),
    ]
    assert keys(app)[-1] == "incident:1:escalation:2:2:ops"


def test_it_runs_a_step_once_when_two_workers_race_for_it(
    app, policy, make_app, tmp_path, store_url, monkeypatch
):
    open_and_start(app, policy)
    other = make_app(tmp_path / "site" / "hotline-ops.yaml", store_url)
    calls = []
    real = escalation.run_step
    monkeypatch.setattr(
        escalation, "run_step", lambda *a, **kw: calls.append(a[3].id) or real(*a, **kw)
    )
    deadline_id = pending_id(app)
    barrier = threading.Barrier(2)

    def work(worker):
        barrier.wait()
        return claim_and_run(worker, deadline_id)

    with ThreadPoolExecutor(2) as pool:
        claimed = sorted(pool.map(work, [app, other]))
    assert (claimed, calls) == ([0, 1], [deadline_id])
    assert keys(app) == ["incident:1:escalation:0:0:ops"]
    assert rows(app) == [(0, at(0), at(0), None), (1, at(10), None, None)]


def test_it_changes_no_row_when_a_fired_step_is_claimed_again(app, policy):
    open_and_start(app, policy)
    deadline_id = pending_id(app)
    assert [claim_and_run(app, deadline_id), claim_and_run(app, deadline_id)] == [1, 0]
    assert keys(app) == ["incident:1:escalation:0:0:ops"]


def test_it_cancels_the_pending_run_when_stopped(app, policy, clock):
    incident_id = open_and_start(app, policy)
    claim_and_run(app, pending_id(app))
    clock.set(at(4))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")  # stops the escalation
    with app.store.session() as session:
        row = incidents.get(session, incident_id=incident_id)
        assert escalation.stop(session, row, now=at(5)) == 0  # nothing left to cancel
    assert rows(app) == [(0, at(0), at(0), None), (1, at(10), None, at(4))]
    assert events(app, incident_id, "escalation.stopped") == [
        (
            at(4),
            "escalation",
            "escalation.stopped",
            "已响应，停止升级",
            {"cancelled": 1, "status": "acknowledged"},
        )
    ]


def test_it_never_fires_a_stopped_run(app, policy, clock):
    incident_id = open_and_start(app, policy)
    claim_and_run(app, pending_id(app))
    with app.store.session() as session:
        escalation.stop(session, incidents.get(session, incident_id=incident_id), now=at(1))
    clock.set(at(10))
    with app.store.session() as session:
        second = session.scalar(select(Deadline.id).where(Deadline.step == 1))
    assert claim_and_run(app, second) == 0
    assert keys(app) == ["incident:1:escalation:0:0:ops"]


def test_it_does_nothing_for_a_run_claimed_after_the_incident_was_acknowledged(app, policy, clock):
    incident_id = open_and_start(app, policy)
    claim_and_run(app, pending_id(app))
    clock.set(at(10))
    # The acknowledgement raced the insert of this row, so stop() never saw it: the status
    # changes without the stop, as in that race.
    with app.store.session() as session:
        incidents.get(session, incident_id=incident_id).status = "acknowledged"
    assert claim_and_run(app, pending_id(app)) == 1
    assert keys(app) == ["incident:1:escalation:0:0:ops"]
    assert len(rows(app)) == 2
    assert len(events(app, incident_id, "escalation")) == 2  # started + the first run


def test_it_fires_through_the_timer_loop(app, policy, clock):
    open_and_start(app, policy)
    assert timers.fire_due(app) == 1
    assert keys(app) == ["incident:1:escalation:0:0:ops"]
    assert rows(app)[-1] == (1, at(10), None, None)


def test_it_starts_from_the_app_content_when_an_incident_opens(app, policy):
    app.content = dataclasses.replace(app.content, escalation=policy)
    incident, _ = incidents.create(app, title="ticket-api down", actor="t", level=2)
    with app.store.session() as session:
        row = incidents.get(session, incident_id=incident.id)
        assert row.escalation is not None
        assert escalation.start(session, app, row, now=T0) is None  # never re-snapshotted
    assert rows(app) == [(0, T0, None, None)]


def test_it_does_nothing_without_a_policy(app):
    incident, _ = incidents.create(app, title="ticket-api down", actor="t", level=2)
    with app.store.session() as session:
        row = incidents.get(session, incident_id=incident.id)
        assert escalation.start(session, app, row, now=T0) is None
        assert row.escalation is None
    assert rows(app) == []
