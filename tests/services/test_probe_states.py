"""Probe results -> incidents: flapping keeps one incident, maintenance suppresses but
records, a fault back within the reopen window continues its incident, rollups and state
changes are the stored history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from hotline_ops.probes import fake
from hotline_ops.probes.base import ProbeResult
from hotline_ops.services import incidents, probing
from hotline_ops.store.models import IncidentEvent, ProbeRollup, StateChange
from tests.conftest import T0
from tests.support.content import write_content

STEP = timedelta(seconds=30)
TARGET = {
    "name": "trunk-a",
    "kind": "fake",
    "interval": "30s",
    "timeout": "5s",
    "attempts": 1,
    "rise": 1,
    "labels": {"impact": "core", "segment": "carrier"},
}


@pytest.fixture
def build(tmp_path, make_app, store_url):
    def make(maintenance: list | None = None, **target):
        root = write_content(tmp_path / "site", targets=[{**TARGET, **target}])
        if maintenance is not None:
            (root.parent / "incidents" / "maintenance.yaml").write_text(
                yaml.safe_dump({"windows": maintenance}), encoding="utf-8"
            )
        app = make_app(root, store_url)
        return app, probing.Recorder(app), app.targets["trunk-a"]

    return make


def feed(app, recorder, target, clock, outcomes: str) -> list[probing.Outcome]:
    """One result per 30 s: "1" ok, "0" failed."""
    out = []
    for ch in outcomes:
        clock.advance(STEP)
        ok = ch == "1"
        out.append(
            recorder.record(
                target, ProbeResult(ok, 0.01 if ok else None, "200 OK" if ok else "no reply")
            )
        )
    return out


def all_incidents(app):
    with app.store.session() as session:
        return incidents.get_all(session)


def test_it_opens_a_single_incident_for_a_flapping_target(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "10" * 15)
    assert [(i.id, i.status) for i in all_incidents(app)] == [(1, "open")]


def test_it_keeps_the_flapping_incident_open_while_it_flaps(build, clock):
    app, recorder, target = build()
    outcomes = feed(app, recorder, target, clock, "10" * 15 + "1")
    assert outcomes[-1].state.flapping is True
    assert all_incidents(app)[0].status == "open"


def test_it_resolves_once_flapping_has_calmed_down(build, clock):
    app, recorder, target = build()
    outcomes = feed(app, recorder, target, clock, "10" * 15 + "1" * 21)
    stop = [i for i, o in enumerate(outcomes) if o.verdict.flap == "stop"]
    assert len(stop) == 1
    (incident,) = all_incidents(app)
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + STEP * (stop[0] + 1))


def test_it_records_flips_and_flapping_as_state_changes(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "1001")
    with app.store.session() as session:
        rows = session.execute(
            select(StateChange.at, StateChange.kind, StateChange.new).order_by(StateChange.id)
        ).all()
    assert rows == [
        (T0 + STEP, "flip", "up"),
        (T0 + 2 * STEP, "flip", "down"),
        (T0 + 4 * STEP, "flip", "up"),
    ]


def test_it_reopens_the_same_incident_when_the_fault_returns_within_the_window(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "101" + "1" * 10 + "0")  # back after 5.5 min
    (incident,) = all_incidents(app)
    with app.store.session() as session:
        kinds = [e.kind for e in incidents.events_of(session, incident.id)]
    assert (incident.status, kinds) == ("open", ["opened", "resolved", "reopened"])


def test_it_opens_a_new_incident_when_the_fault_returns_after_the_window(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "101" + "1" * 61 + "0")  # back after 31 min
    assert [(i.id, i.status) for i in all_incidents(app)] == [(2, "open"), (1, "resolved")]


WINDOW = {
    "name": "电信割接",
    "targets": ["trunk-a"],
    "start": "2026-11-28 10:00:00",
    "end": "2026-11-28 10:10:00",
}


def test_it_opens_nothing_for_a_fault_inside_a_maintenance_window(build, clock):
    app, recorder, target = build(maintenance=[WINDOW])
    feed(app, recorder, target, clock, "1000")
    assert all_incidents(app) == []


def test_it_still_records_results_inside_a_maintenance_window(build, clock):
    app, recorder, target = build(maintenance=[WINDOW])
    feed(app, recorder, target, clock, "1000")
    recorder.flush(final=True)
    with app.store.session() as session:
        row = session.get(ProbeRollup, ("trunk-a", T0))
        kinds = session.scalars(select(StateChange.kind).order_by(StateChange.id)).all()
    assert (row.count, row.failures) == (4, 3)
    assert kinds == ["flip", "flip", "maintenance"]


def test_it_opens_the_incident_when_maintenance_ends_and_the_target_is_still_down(build, clock):
    app, recorder, target = build(maintenance=[WINDOW])
    feed(app, recorder, target, clock, "10" + "0" * 19)  # window ends at T0 + 10 min
    (incident,) = all_incidents(app)
    assert incident.opened_at == T0 + timedelta(minutes=10)


def test_it_writes_five_minute_rollups_with_exact_figures(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "1101111111")  # T0+30s … T0+5min
    assert recorder.flush() == 1  # the 10:00 bucket closed, the 10:05 one is still open
    with app.store.session() as session:
        row = session.get(ProbeRollup, ("trunk-a", T0))
    assert (row.count, row.failures, row.rtt_p50, row.rtt_p95, row.rtt_max) == (
        9,
        1,
        0.01,
        0.01,
        0.01,
    )


def test_it_merges_a_partial_bucket_written_before_a_restart(build, clock):
    app, recorder, target = build()
    feed(app, recorder, target, clock, "11")
    recorder.flush(final=True)  # shutdown mid-bucket
    again = probing.Recorder(app)
    feed(app, again, target, clock, "10")
    again.flush(final=True)
    with app.store.session() as session:
        row = session.get(ProbeRollup, ("trunk-a", T0))
    assert (row.count, row.failures) == (4, 1)


def test_it_adds_a_flapping_event_to_an_incident_already_open(build, clock):
    app, recorder, target = build(attempts=1)
    feed(app, recorder, target, clock, "1" + "0" * 3 + "10" * 12)
    with app.store.session() as session:
        kinds = session.scalars(select(IncidentEvent.kind).order_by(IncidentEvent.id)).all()
    assert kinds == ["opened", "resolved", *["reopened", "resolved"] * 3, "reopened", "flapping"]
    assert len(all_incidents(app)) == 1


@pytest.fixture(autouse=True)
def _fake_reset():
    fake.FAKE_STATES.clear()
    yield
    fake.FAKE_STATES.clear()


def test_it_stores_a_new_target_checked_twice_in_one_batch_once(build, clock):
    # The engine batches 0.5 s of results; a short-interval target that fails twice in its
    # first batch gives two state rows, and both used to be INSERTed (the batch was lost).
    app, recorder, target = build(attempts=3)
    clock.advance(STEP)
    recorder.record_many([(target, ProbeResult(False, None, "no reply"))] * 2)
    with app.store.session() as session:
        state = probing.states(session)["trunk-a"]
    assert (state.status, state.fails, state.detail) == ("unknown", 2, "no reply")
