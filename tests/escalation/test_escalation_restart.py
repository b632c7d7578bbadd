"""Escalation across a reopen and a level change, on SQLite and PostgreSQL: a reopened
incident starts its chain again from the reopen (fresh snapshot, own dedup keys), and a
level change moves an unanswered incident to the chain of its new level, on the timeline."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from hotline_ops.escalation_content import load_escalation
from hotline_ops.notify import fake
from hotline_ops.services import incidents, timers
from hotline_ops.store.models import Deadline, Incident, OutboxMessage
from tests.conftest import T0
from tests.support.content import write_content

CHAINS = """\
chains:
  default:
    steps:
      - {wait: 5m, notify: [ops]}
      - {wait: 10m, notify: [ops]}
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
    path = tmp_path / "site" / "incidents" / "escalation.yaml"
    path.write_text(CHAINS, encoding="utf-8")
    built = make_app(root, store_url)
    policy = load_escalation(path, set(built.channels))
    built.content = dataclasses.replace(built.content, escalation=policy)
    return built


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def open_incident(app, level: int = 2) -> int:
    incident, _ = incidents.create(app, title="ticket-api down", actor="t", level=level)
    return incident.id


def act(app, clock, minutes: float, incident_id: int, action: str) -> None:
    clock.set(at(minutes))
    incidents.act(app, incident_id=incident_id, action=action, actor="alice")


def pending(app) -> list[tuple]:
    """(step, due) of the escalation rows that can still fire."""
    with app.store.session() as session:
        found = session.scalars(
            select(Deadline)
            .where(Deadline.purpose == "escalation", *timers.PENDING)
            .order_by(Deadline.id)
        )
        return [(d.step, d.due_at) for d in found]


def keys(app) -> list[str]:
    with app.store.session() as session:
        found = session.scalars(select(OutboxMessage.dedup_key).order_by(OutboxMessage.id))
        return [k for k in found if ":escalation" in k]


def chain_of(app, incident_id: int) -> tuple:
    with app.store.session() as session:
        snap = session.get(Incident, incident_id).escalation
        return snap["name"], snap["since"], snap["run"]


def last_escalation_event(app, incident_id: int) -> tuple:
    with app.store.session() as session:
        found = [
            e for e in incidents.events_of(session, incident_id) if e.kind.startswith("escalation")
        ]
        return found[-1].at, found[-1].kind, found[-1].reason, found[-1].data


def test_it_restarts_the_chain_from_the_reopen(app, clock):
    incident_id = open_incident(app)
    act(app, clock, 2, incident_id, "resolve")
    act(app, clock, 30, incident_id, "reopen")
    assert pending(app) == [(0, at(35))]
    assert chain_of(app, incident_id) == ("default", at(30).isoformat(), 2)


def test_it_logs_the_restart_on_the_timeline(app, clock):
    incident_id = open_incident(app)
    act(app, clock, 2, incident_id, "resolve")
    act(app, clock, 30, incident_id, "reopen")
    assert last_escalation_event(app, incident_id) == (
        at(30),
        "escalation.restarted",
        "升级链 default，共 2 级",
        {"chain": "default", "first_due": at(35).isoformat()},
    )


def test_it_notifies_the_restarted_chain_under_its_own_keys(app, clock):
    incident_id = open_incident(app)
    clock.set(at(5))
    timers.fire_due(app)
    act(app, clock, 6, incident_id, "resolve")
    act(app, clock, 30, incident_id, "reopen")
    clock.set(at(35))
    timers.fire_due(app)
    assert keys(app) == ["incident:1:escalation:0:0:ops", "incident:1:escalation#2:0:0:ops"]


def test_it_runs_the_next_step_of_a_restarted_chain_from_the_reopen(app, clock):
    incident_id = open_incident(app)
    act(app, clock, 2, incident_id, "resolve")
    act(app, clock, 30, incident_id, "reopen")
    clock.set(at(35))
    timers.fire_due(app)
    assert pending(app) == [(1, at(40))]


def test_it_reroutes_an_unanswered_incident_to_the_new_level_chain(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(3))
    incidents.set_level(app, incident_id=incident_id, level=1, actor="bob", reason="all down")
    assert pending(app) == [(0, at(3))]
    assert chain_of(app, incident_id) == ("level1", at(3).isoformat(), 2)


def test_it_logs_the_reroute_on_the_timeline(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(3))
    incidents.set_level(app, incident_id=incident_id, level=1, actor="bob", reason="all down")
    assert last_escalation_event(app, incident_id) == (
        at(3),
        "escalation.rerouted",
        "升级链 level1，共 2 级",
        {"from": "default", "level": 1, "chain": "level1", "first_due": at(3).isoformat()},
    )


def test_it_cancels_the_old_chain_pending_step_on_a_reroute(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(3))
    incidents.set_level(app, incident_id=incident_id, level=1, actor="bob", reason="all down")
    clock.set(at(5))
    assert timers.fire_due(app) == 1
    assert keys(app) == ["incident:1:escalation#2:0:0:ops"]


def test_it_keeps_the_running_chain_when_the_new_level_routes_to_the_same_chain(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(3))
    incidents.set_level(app, incident_id=incident_id, level=3, actor="bob", reason="minor")
    assert pending(app) == [(0, at(5))]
    assert chain_of(app, incident_id) == ("default", T0.isoformat(), 1)


def test_it_starts_no_chain_on_a_level_change_of_an_acknowledged_incident(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 1, incident_id, "ack")
    clock.set(at(3))
    incidents.set_level(app, incident_id=incident_id, level=1, actor="bob", reason="all down")
    assert pending(app) == []
