"""The incident lifecycle through the service, on SQLite and PostgreSQL: each transition stamps
exactly its milestone times, refused ones raise with the exact message and change nothing,
reopening restores the timers the resolution stopped, and every step lands on the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.notify import fake
from hotline_ops.services import incidents, outbox, timers
from tests.conftest import T0

STAMPS = ("acknowledged_at", "plan_started_at", "mitigated_at", "resolved_at", "closed_at")


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def app(site, make_app, store_url):
    return make_app(site, store_url)


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def open_incident(app, level: int, title: str = "ticket-api down") -> int:
    incident, _ = incidents.create(app, title=title, actor="t", level=level)
    return incident.id


def act(app, clock, minutes: float, incident_id: int, action: str, **kwargs):
    clock.set(at(minutes))
    kwargs.setdefault("actor", "alice")
    return incidents.act(app, incident_id=incident_id, action=action, **kwargs)


def stamps(app, incident_id: int) -> dict:
    with app.store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        return {name: getattr(incident, name) for name in STAMPS}


def only(**set_) -> dict:
    return {name: set_.get(name) for name in STAMPS}


def status(app, incident_id: int) -> tuple:
    with app.store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        return incident.status, incident.postmortem


def events(app, incident_id: int) -> list[tuple]:
    with app.store.session() as session:
        return [
            (e.at, e.actor, e.kind, e.reason, e.data)
            for e in incidents.events_of(session, incident_id)
        ]


def rows(app, incident_id: int) -> list[tuple]:
    with app.store.session() as session:
        found = incidents.deadlines_of(session, incident_id)
        return sorted(
            (d.due_at - T0, d.kind, d.purpose, d.met_at, d.fired_at, d.cancelled_at) for d in found
        )


def refusal(app, incident_id: int, action: str, **kwargs) -> str:
    with pytest.raises(IllegalTransition) as info:
        incidents.act(app, incident_id=incident_id, action=action, actor="alice", **kwargs)
    return str(info.value)


def sent_keys(app) -> list[str]:
    outbox.deliver_due(app)
    return [m.dedup_key for m in fake.SENT.get("ops", [])]


# --- stamps -------------------------------------------------------------------------------


def test_it_stamps_only_acknowledged_at_on_ack(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 5, incident_id, "ack")
    assert stamps(app, incident_id) == only(acknowledged_at=at(5))


def test_it_stamps_the_plan_and_the_acknowledgement_on_plan_from_open(app, clock):
    incident_id = open_incident(app, 1)
    act(app, clock, 5, incident_id, "plan")
    assert stamps(app, incident_id) == only(acknowledged_at=at(5), plan_started_at=at(5))


def test_it_keeps_an_earlier_acknowledgement_on_plan(app, clock):
    incident_id = open_incident(app, 1)
    act(app, clock, 3, incident_id, "ack")
    act(app, clock, 8, incident_id, "plan")
    assert stamps(app, incident_id) == only(acknowledged_at=at(3), plan_started_at=at(8))


def test_it_stamps_the_mitigation_and_the_acknowledgement_on_mitigate_from_open(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 12, incident_id, "mitigate")
    assert stamps(app, incident_id) == only(acknowledged_at=at(12), mitigated_at=at(12))


def test_it_keeps_an_earlier_acknowledgement_on_mitigate(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 4, incident_id, "ack")
    act(app, clock, 12, incident_id, "mitigate")
    assert stamps(app, incident_id) == only(acknowledged_at=at(4), mitigated_at=at(12))


def test_it_stamps_only_resolved_at_on_resolve_from_open(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 20, incident_id, "resolve")
    assert stamps(app, incident_id) == only(resolved_at=at(20))


def test_it_stamps_closed_at_on_close(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 20, incident_id, "resolve")
    act(app, clock, 50, incident_id, "close")
    assert stamps(app, incident_id) == only(resolved_at=at(20), closed_at=at(50))


def test_it_sets_the_status_each_transition_goes_to(app, clock):
    incident_id = open_incident(app, 1)
    seen = []
    for minutes, action in [(1, "ack"), (2, "plan"), (3, "mitigate"), (4, "resolve")]:
        seen.append(str(act(app, clock, minutes, incident_id, action).status))
    assert seen == ["acknowledged", "plan", "mitigated", "resolved"]


# --- refusals -----------------------------------------------------------------------------


def test_it_refuses_a_plan_on_a_level2_incident(app):
    incident_id = open_incident(app, 2)
    assert refusal(app, incident_id, "plan") == (
        "incident #1: an emergency plan is for level 1 incidents; this is level 2"
    )


def test_it_leaves_a_level2_incident_open_after_a_refused_plan(app):
    incident_id = open_incident(app, 2)
    refusal(app, incident_id, "plan")
    assert (status(app, incident_id), stamps(app, incident_id)) == (("open", None), only())


def test_it_refuses_to_close_a_level2_incident_without_a_postmortem(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 20, incident_id, "resolve")
    assert refusal(app, incident_id, "close") == (
        "incident #1: a level 2 incident needs a postmortem before it closes (--postmortem)"
    )


def test_it_refuses_to_close_a_level1_incident_without_a_postmortem(app, clock):
    incident_id = open_incident(app, 1)
    act(app, clock, 20, incident_id, "resolve")
    assert refusal(app, incident_id, "close") == (
        "incident #1: a level 1 incident needs a postmortem before it closes (--postmortem)"
    )


def test_it_closes_a_level2_incident_with_a_postmortem(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 20, incident_id, "resolve")
    act(app, clock, 90, incident_id, "close", postmortem="https://wiki/pm/1")
    assert (status(app, incident_id), stamps(app, incident_id)) == (
        ("closed", "https://wiki/pm/1"),
        only(resolved_at=at(20), closed_at=at(90)),
    )


def test_it_keeps_no_postmortem_from_a_refused_close(app):
    incident_id = open_incident(app, 2)
    assert refusal(app, incident_id, "close", postmortem="too early") == (
        "incident #1: cannot close an incident that is open (only resolved)"
    )
    assert status(app, incident_id) == ("open", None)


def test_it_refuses_to_mitigate_twice(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 5, incident_id, "mitigate")
    assert refusal(app, incident_id, "mitigate") == (
        "incident #1: cannot mitigate an incident that is mitigated (only acknowledged, open, plan)"
    )


def test_it_refuses_to_reopen_a_closed_incident(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 5, incident_id, "resolve")
    act(app, clock, 6, incident_id, "close")
    assert refusal(app, incident_id, "reopen") == (
        "incident #1: cannot reopen an incident that is closed (only resolved)"
    )


def test_it_adds_no_event_for_a_refused_transition(app):
    incident_id = open_incident(app, 2)
    refusal(app, incident_id, "plan")
    assert [e[2] for e in events(app, incident_id)] == ["opened"]


# --- reopen -------------------------------------------------------------------------------


def test_it_stops_every_timer_of_a_resolved_incident(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 10, incident_id, "resolve")
    assert {r[3] for r in rows(app, incident_id)} == {at(10)}


def test_it_restores_the_timers_the_resolution_stopped_on_reopen(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 10, incident_id, "resolve")
    act(app, clock, 12, incident_id, "reopen")
    assert [r[3:] for r in rows(app, incident_id)] == [(None, None, None)] * 6


def test_it_keeps_a_timer_met_before_the_resolution_met_on_reopen(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 5, incident_id, "ack")
    act(app, clock, 10, incident_id, "resolve")
    act(app, clock, 12, incident_id, "reopen")
    assert [(r[1], r[2], r[3]) for r in rows(app, incident_id)] == [
        ("response", "warning", at(5)),
        ("response", "warning", at(5)),
        ("response", "breach", at(5)),
        ("resolve", "warning", None),
        ("resolve", "warning", None),
        ("resolve", "breach", None),
    ]


def test_it_reopens_with_the_status_open_and_no_resolution(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 5, incident_id, "ack")
    act(app, clock, 10, incident_id, "resolve")
    act(app, clock, 12, incident_id, "reopen")
    assert (status(app, incident_id), stamps(app, incident_id)) == (
        ("open", None),
        only(acknowledged_at=at(5)),
    )


def test_it_fires_the_restored_timers_later(app, clock):
    incident_id = open_incident(app, 2)
    act(app, clock, 5, incident_id, "ack")
    act(app, clock, 10, incident_id, "resolve")
    act(app, clock, 12, incident_id, "reopen")
    assert timers.fire_due(app) == 0
    clock.set(at(120))
    assert timers.fire_due(app) == 3
    assert [(e[0], e[2], e[4]["kind"]) for e in events(app, incident_id)[-3:]] == [
        (at(120), "timer.warning", "resolve"),
        (at(120), "timer.warning", "resolve"),
        (at(120), "timer.breach", "resolve"),
    ]


def test_it_notifies_each_reopen_with_its_own_key(app, clock):
    incident_id = open_incident(app, 3)
    for minutes in (10, 20):
        act(app, clock, minutes, incident_id, "resolve")
        act(app, clock, minutes + 1, incident_id, "reopen")
    assert [k for k in sent_keys(app) if "reopened" in k] == [
        "incident:1:reopened:1:ops",
        "incident:1:reopened:2:ops",
    ]


# --- note and timeline --------------------------------------------------------------------


def test_it_appends_a_note_event(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(7))
    incidents.note(app, incident_id=incident_id, actor="bob", text="carrier says fibre cut")
    assert events(app, incident_id)[-1] == (at(7), "bob", "note", "carrier says fibre cut", {})


def test_it_refuses_an_empty_note(app):
    incident_id = open_incident(app, 2)
    with pytest.raises(BadRequest) as info:
        incidents.note(app, incident_id=incident_id, actor="bob", text="  ")
    assert str(info.value) == "note: the text is empty"


def test_it_notes_a_closed_incident_without_changing_it(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 5, incident_id, "resolve")
    act(app, clock, 6, incident_id, "close")
    clock.set(at(9))
    incidents.note(app, incident_id=incident_id, actor="bob", text="filed")
    assert (status(app, incident_id), events(app, incident_id)[-1]) == (
        ("closed", None),
        (at(9), "bob", "note", "filed", {}),
    )


def test_it_adds_one_timeline_event_per_transition_with_actor_and_reason(app, clock):
    incident_id = open_incident(app, 1, "core switch down")
    steps = [
        (1, "ack", "on it"),
        (2, "plan", "plan A"),
        (3, "mitigate", "failover"),
        (4, "resolve", "switch replaced"),
        (5, "reopen", "down again"),
        (6, "resolve", "cable reseated"),
        (7, "close", "done"),
    ]
    for minutes, action, reason in steps:
        act(app, clock, minutes, incident_id, action, reason=reason, postmortem="pm")
    assert [(e[0], e[1], e[2], e[3]) for e in events(app, incident_id)] == [
        (T0, "t", "opened", "core switch down"),
        (at(1), "alice", "acknowledged", "on it"),
        (at(2), "alice", "plan", "plan A"),
        (at(3), "alice", "mitigated", "failover"),
        (at(4), "alice", "resolved", "switch replaced"),
        (at(5), "alice", "reopened", "down again"),
        (at(6), "alice", "resolved", "cable reseated"),
        (at(7), "alice", "closed", "done"),
    ]


def test_it_notifies_each_transition_but_the_close(app, clock):
    incident_id = open_incident(app, 1)
    for minutes, action in [(1, "ack"), (2, "plan"), (3, "mitigate"), (4, "resolve")]:
        act(app, clock, minutes, incident_id, action)
    act(app, clock, 5, incident_id, "close", postmortem="pm")
    assert sent_keys(app) == [
        "incident:1:opened:ops",
        "incident:1:acknowledged:ops",
        "incident:1:plan:ops",
        "incident:1:mitigated:ops",
        "incident:1:resolved:ops",
    ]
