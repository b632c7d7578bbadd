"""Regressions found in review of the incident engine, on SQLite and PostgreSQL: breach
counts for /metrics count breaches only, a transition repeated after a reopen is notified
again, a level change keeps timers that already breached (and warnings already sent), and a
handling switch never brings back rows a level change replaced."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from hotline_ops.notify import fake
from hotline_ops.services import incidents, outbox, status, timers
from tests.conftest import T0
from tests.support.content import LEVELS, write_content

HANDLING_LEVELS = copy.deepcopy(LEVELS)
HANDLING_LEVELS["levels"][2]["timers"] = {
    "response": {"after": "30m", "clause": "M2.1b"},
    "remote_resolve": {"after": "2h", "clause": "M2.1c"},
    "onsite_resolve": {"after": "4h", "clause": "M2.1d"},
}


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def app(site, make_app, store_url):
    return make_app(site, store_url)


@pytest.fixture
def handling_app(tmp_path, make_app, store_url):
    return make_app(write_content(tmp_path / "handling", levels=HANDLING_LEVELS), store_url)


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def open_incident(app, level: int) -> int:
    incident, _ = incidents.create(app, title="ticket-api down", actor="t", level=level)
    return incident.id


def act(app, clock, minutes: float, incident_id: int, action: str) -> None:
    clock.set(at(minutes))
    incidents.act(app, incident_id=incident_id, action=action, actor="alice")


def regrade(app, clock, minutes: float, incident_id: int, level: int) -> None:
    clock.set(at(minutes))
    incidents.set_level(app, incident_id=incident_id, level=level, actor="bob", reason="why")


def sent_keys(app) -> list[str]:
    outbox.deliver_due(app)
    return [m.dedup_key for m in fake.SENT.get("ops", [])]


def rows(app, incident_id: int) -> list[tuple]:
    """(minutes after T0, kind, purpose, fraction, cancelled) of every row, in due order."""
    with app.store.session() as session:
        found = incidents.deadlines_of(session, incident_id)
        return sorted(
            (
                (d.due_at - T0) / timedelta(minutes=1),
                d.kind,
                d.purpose,
                d.fraction,
                d.cancelled_at is not None,
            )
            for d in found
        )


def running(app, incident_id: int) -> set[str]:
    """Kinds with a row still able to fire (not met, fired or cancelled)."""
    with app.store.session() as session:
        return {
            d.kind
            for d in incidents.deadlines_of(session, incident_id)
            if d.met_at is None and d.fired_at is None and d.cancelled_at is None
        }


def last_event(app, incident_id: int):
    with app.store.session() as session:
        return incidents.events_of(session, incident_id)[-1]


# --- 1. /metrics breaches -----------------------------------------------------------------


def test_it_counts_only_breach_rows_as_breaches(app, clock):
    open_incident(app, 2)
    clock.set(at(30))
    assert timers.fire_due(app) == 3  # the response warnings at 50 % and 80 %, its breach
    assert status.snapshot(app)["breaches_by_kind"] == {"response": 1}


# --- 2. dedup keys of repeated transitions ------------------------------------------------


def test_it_notifies_the_second_resolve_after_a_reopen(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 10, incident_id, "resolve")
    act(app, clock, 11, incident_id, "reopen")
    act(app, clock, 12, incident_id, "resolve")
    assert sent_keys(app) == [
        "incident:1:opened:ops",
        "incident:1:resolved:ops",
        "incident:1:reopened:1:ops",
        "incident:1:resolved:2:ops",
    ]


def test_it_notifies_the_second_ack_after_a_reopen(app, clock):
    incident_id = open_incident(app, 3)
    act(app, clock, 10, incident_id, "ack")
    act(app, clock, 11, incident_id, "resolve")
    act(app, clock, 12, incident_id, "reopen")
    act(app, clock, 13, incident_id, "ack")
    assert [k for k in sent_keys(app) if "acknowledged" in k] == [
        "incident:1:acknowledged:ops",
        "incident:1:acknowledged:2:ops",
    ]


# --- 3. a level change keeps what already fired -------------------------------------------


def test_it_does_not_replan_a_timer_whose_breach_fired_on_a_level_change(app, clock):
    incident_id = open_incident(app, 3)
    clock.set(at(31))
    timers.fire_due(app)
    regrade(app, clock, 40, incident_id, 2)
    assert [r for r in rows(app, incident_id) if r[1] == "response"] == [
        (15, "response", "warning", 0.5, False),
        (24, "response", "warning", 0.8, False),
        (30, "response", "breach", None, False),
    ]


def test_it_fires_no_second_breach_of_a_timer_breached_before_a_level_change(app, clock):
    incident_id = open_incident(app, 3)
    clock.set(at(31))
    timers.fire_due(app)
    regrade(app, clock, 40, incident_id, 2)
    assert timers.fire_due(app) == 0


def test_it_does_not_recreate_a_warning_already_sent_on_a_level_change(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(70))
    assert timers.fire_due(app) == 4  # response 50 %, 80 %, breach; resolve 50 % at 60 min
    regrade(app, clock, 75, incident_id, 3)
    assert [r for r in rows(app, incident_id) if r[1] == "resolve" and not r[4]] == [
        (60, "resolve", "warning", 0.5, False),
        (192, "resolve", "warning", 0.8, False),
        (240, "resolve", "breach", None, False),
    ]


def test_it_logs_why_timers_were_kept_on_a_level_change(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(70))
    timers.fire_due(app)
    regrade(app, clock, 75, incident_id, 3)
    event = last_event(app, incident_id)
    assert (event.kind, event.data["kept"]) == (
        "level",
        {"response": "breached", "resolve@0.5": "warned"},
    )


# --- 4. a handling switch restores only what a handling switch cancelled -----------------


def test_it_keeps_rows_a_level_change_cancelled_when_the_handling_goes_onsite(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    regrade(handling_app, clock, 10, incident_id, 3)
    clock.set(at(20))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    assert running(handling_app, incident_id) == {"response", "resolve"}


def test_it_keeps_rows_a_level_change_cancelled_when_the_handling_goes_back(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    regrade(handling_app, clock, 10, incident_id, 3)
    for minutes, handling in ((20, "onsite"), (30, "remote")):
        clock.set(at(minutes))
        incidents.set_handling(handling_app, incident_id=incident_id, handling=handling, actor="t")
    assert running(handling_app, incident_id) == {"response", "resolve"}


def test_it_marks_every_old_level_row_as_cancelled_by_the_level_change(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    clock.set(at(5))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    regrade(handling_app, clock, 10, incident_id, 3)
    with handling_app.store.session() as session:
        reasons = {
            (d.kind, d.purpose, d.fraction): d.cancel_reason
            for d in incidents.deadlines_of(session, incident_id)
            if d.kind in ("remote_resolve", "onsite_resolve")
        }
    assert reasons == {
        ("remote_resolve", "warning", 0.5): "level",
        ("remote_resolve", "warning", 0.8): "level",
        ("remote_resolve", "breach", None): "level",
        ("onsite_resolve", "warning", 0.5): "level",
        ("onsite_resolve", "warning", 0.8): "level",
        ("onsite_resolve", "breach", None): "level",
    }


def test_it_records_a_handling_switch_as_the_reason_of_what_it_cancelled(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    clock.set(at(5))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    with handling_app.store.session() as session:
        reasons = {
            (d.kind, d.cancel_reason)
            for d in incidents.deadlines_of(session, incident_id)
            if d.kind in ("remote_resolve", "onsite_resolve")
        }
    assert reasons == {("remote_resolve", "handling"), ("onsite_resolve", None)}
