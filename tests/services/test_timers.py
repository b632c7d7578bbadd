"""Contract timers as rows, on SQLite and PostgreSQL: what each level plans (breach, warnings at
50 % and 80 %, the P9.4 budget), what milestones meet, what the timer loop fires, remote and
on-site handling (M2.1c/d), regrading, and firing exactly once across a restart."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.notify import fake
from hotline_ops.services import incidents, outbox, timers
from tests.conftest import T0
from tests.support.content import LEVELS, write_content

W50, W80 = ("warning", 0.5), ("warning", 0.8)
BREACH = ("breach", None)
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


def open_incident(app, level: int, title: str = "ticket-api down") -> int:
    incident, _ = incidents.create(app, title=title, actor="t", level=level)
    return incident.id


def deadline_rows(app, incident_id: int) -> list:
    with app.store.session() as session:
        return sorted(
            incidents.deadlines_of(session, incident_id),
            key=lambda d: (d.due_at, d.kind, d.purpose, d.id),
        )


def planned(app, incident_id: int) -> list[tuple]:
    """(minutes after T0, kind, purpose, fraction, clause) of every row."""
    return [
        ((d.due_at - T0) / timedelta(minutes=1), d.kind, d.purpose, d.fraction, d.clause)
        for d in deadline_rows(app, incident_id)
    ]


def state(app, incident_id: int) -> list[tuple]:
    """(kind, purpose, fraction, met_at, fired_at, cancelled_at) of every row."""
    return [
        (d.kind, d.purpose, d.fraction, d.met_at, d.fired_at, d.cancelled_at)
        for d in deadline_rows(app, incident_id)
    ]


def timer_events(app, incident_id: int) -> list[tuple]:
    with app.store.session() as session:
        return [
            (e.at, e.kind, e.reason, e.data)
            for e in incidents.events_of(session, incident_id)
            if e.kind.startswith("timer.")
        ]


def last_event(app, incident_id: int) -> tuple:
    with app.store.session() as session:
        e = incidents.events_of(session, incident_id)[-1]
        return e.at, e.actor, e.kind, e.reason, e.data


def sent_keys(app) -> list[str]:
    outbox.deliver_due(app)
    return [m.dedup_key for m in fake.SENT.get("ops", [])]


# --- planning -----------------------------------------------------------------------------


def test_it_plans_a_level2_incident_with_warnings_at_half_and_four_fifths(app):
    incident_id = open_incident(app, 2)
    assert planned(app, incident_id) == [
        (15, "response", "warning", 0.5, "M2.1b"),
        (24, "response", "warning", 0.8, "M2.1b"),
        (30, "response", "breach", None, "M2.1b"),
        (60, "resolve", "warning", 0.5, "M2.3b"),
        (96, "resolve", "warning", 0.8, "M2.3b"),
        (120, "resolve", "breach", None, "M2.3b"),
    ]


def test_it_plans_a_level1_incident_with_the_plan_timer_and_the_fault_duration_budget(app):
    incident_id = open_incident(app, 1)
    assert planned(app, incident_id) == [
        (15, "response", "warning", 0.5, "M2.1b"),
        (24, "response", "warning", 0.8, "M2.1b"),
        (30, "plan", "warning", 0.5, "M2.3a"),
        (30, "response", "breach", None, "M2.1b"),
        (45, "fault_duration", "budget", None, "P9.4"),
        (48, "plan", "warning", 0.8, "M2.3a"),
        (60, "plan", "breach", None, "M2.3a"),
    ]


def test_it_plans_warnings_at_a_level_own_fractions(tmp_path, make_app, store_url):
    levels = copy.deepcopy(LEVELS)
    levels["levels"][3]["warn_at"] = [0.9]
    app = make_app(write_content(tmp_path / "own", levels=levels), store_url)
    incident_id = open_incident(app, 3)
    assert planned(app, incident_id) == [
        (27, "response", "warning", 0.9, "M2.1b"),
        (30, "response", "breach", None, "M2.1b"),
        (216, "resolve", "warning", 0.9, "M2.3c"),
        (240, "resolve", "breach", None, "M2.3c"),
    ]


def test_it_plans_no_warnings_when_the_file_sets_none(tmp_path, make_app, store_url):
    app = make_app(write_content(tmp_path / "none", levels={**LEVELS, "warn_at": []}), store_url)
    incident_id = open_incident(app, 2)
    assert [(p[0], p[2]) for p in planned(app, incident_id)] == [(30, "breach"), (120, "breach")]


# --- meeting ------------------------------------------------------------------------------


def test_it_meets_the_response_timer_and_its_warnings_on_ack(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    assert state(app, incident_id) == [
        ("response", *W50, at(10), None, None),
        ("response", *W80, at(10), None, None),
        ("response", *BREACH, at(10), None, None),
        ("resolve", *W50, None, None, None),
        ("resolve", *W80, None, None, None),
        ("resolve", *BREACH, None, None, None),
    ]


def test_it_fires_no_response_warning_after_an_ack_before_them(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    clock.set(at(59))
    assert (timers.fire_due(app), timer_events(app, incident_id)) == (0, [])


def test_it_meets_the_plan_timer_and_the_response_on_plan(app, clock):
    incident_id = open_incident(app, 1)
    clock.set(at(20))
    incidents.act(app, incident_id=incident_id, action="plan", actor="t")
    assert state(app, incident_id) == [
        ("response", *W50, at(20), None, None),
        ("response", *W80, at(20), None, None),
        ("plan", *W50, at(20), None, None),
        ("response", *BREACH, at(20), None, None),
        ("fault_duration", "budget", None, None, None, None),
        ("plan", *W80, at(20), None, None),
        ("plan", *BREACH, at(20), None, None),
    ]


def test_it_stamps_a_late_plan_met_after_its_breach_fired(app, clock):
    incident_id = open_incident(app, 1)
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    clock.set(at(61))
    timers.fire_due(app)
    clock.set(at(70))
    incidents.act(app, incident_id=incident_id, action="plan", actor="t")
    (plan_breach,) = [
        d for d in deadline_rows(app, incident_id) if (d.kind, d.purpose) == ("plan", "breach")
    ]
    assert (plan_breach.fired_at, plan_breach.met_at) == (at(61), at(70))


# --- firing -------------------------------------------------------------------------------


def test_it_fires_exactly_the_half_way_warning_at_fifteen_minutes(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(15))
    assert timers.fire_due(app) == 1
    assert timer_events(app, incident_id) == [
        (
            at(15),
            "timer.warning",
            "响应时限已用 50%（M2.1b）",
            {
                "deadline_id": 1,
                "kind": "response",
                "clause": "M2.1b",
                "due_at": "2026-11-28T02:15:00+00:00",
                "fraction": 0.5,
            },
        )
    ]


def test_it_queues_the_half_way_warning_under_its_dedup_key(app, clock):
    open_incident(app, 2)
    clock.set(at(15))
    timers.fire_due(app)
    assert sent_keys(app) == ["incident:1:opened:ops", "incident:1:warning:response:50:ops"]


def test_it_names_the_timer_and_its_due_time_in_the_warning_text(app, clock):
    open_incident(app, 2)
    clock.set(at(24))
    timers.fire_due(app)
    outbox.deliver_due(app)
    text = fake.SENT["ops"][-1].text
    assert (text.splitlines()[0], text.splitlines()[-1]) == (
        "【测试热线·时限预警 80%】ticket-api down",
        "响应（M2.1b）时限 2026-11-28 10:30:00，已用 80%",
    )


def test_it_fires_the_breach_with_a_breach_event_and_notification(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(24))
    timers.fire_due(app)
    clock.set(at(30))
    assert timers.fire_due(app) == 1
    assert timer_events(app, incident_id)[-1][:3] == (
        at(30),
        "timer.breach",
        "响应时限已过（M2.1b）",
    )
    assert sent_keys(app)[-1] == "incident:1:breach:response:ops"


def test_it_fires_the_due_rows_in_due_order(app, clock):
    incident_id = open_incident(app, 1)
    clock.set(at(60))
    assert timers.fire_due(app) == 7
    assert [(e[1], e[3]["kind"], e[3].get("fraction")) for e in timer_events(app, incident_id)] == [
        ("timer.warning", "response", 0.5),
        ("timer.warning", "response", 0.8),
        ("timer.warning", "plan", 0.5),
        ("timer.breach", "response", None),
        ("timer.warning", "plan", 0.8),
        ("timer.breach", "plan", None),
    ]


def test_it_reports_the_next_due_time(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    assert timers.next_due(app) == at(60)


# --- remote / on-site handling (M2.1c/d) --------------------------------------------------


def test_it_cancels_the_onsite_rows_for_the_default_remote_handling(handling_app):
    incident_id = open_incident(handling_app, 2)
    assert [(s[0], s[1], s[2], s[5]) for s in state(handling_app, incident_id)] == [
        ("response", *W50, None),
        ("response", *W80, None),
        ("response", *BREACH, None),
        ("remote_resolve", *W50, None),
        ("remote_resolve", *W80, None),
        ("onsite_resolve", *W50, T0),
        ("remote_resolve", *BREACH, None),
        ("onsite_resolve", *W80, T0),
        ("onsite_resolve", *BREACH, T0),
    ]


def test_it_swaps_the_cancelled_rows_when_the_handling_goes_onsite(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    clock.set(at(10))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    assert [(s[0], s[1], s[2], s[5]) for s in state(handling_app, incident_id)] == [
        ("response", *W50, None),
        ("response", *W80, None),
        ("response", *BREACH, None),
        ("remote_resolve", *W50, at(10)),
        ("remote_resolve", *W80, at(10)),
        ("onsite_resolve", *W50, None),
        ("remote_resolve", *BREACH, at(10)),
        ("onsite_resolve", *W80, None),
        ("onsite_resolve", *BREACH, None),
    ]


def test_it_restores_the_remote_rows_when_the_handling_goes_back(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    clock.set(at(10))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    clock.set(at(20))
    incidents.set_handling(handling_app, incident_id=incident_id, handling="remote", actor="t")
    assert {(s[0], s[5]) for s in state(handling_app, incident_id)} == {
        ("response", None),
        ("remote_resolve", None),
        ("onsite_resolve", at(20)),
    }


def test_it_fires_only_the_onsite_breach_for_onsite_handling(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    incidents.acknowledge(handling_app, incident_id=incident_id, actor="t")
    incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    clock.set(at(240))
    assert timers.fire_due(handling_app) == 3
    assert [(e[1], e[3]["kind"]) for e in timer_events(handling_app, incident_id)] == [
        ("timer.warning", "onsite_resolve"),
        ("timer.warning", "onsite_resolve"),
        ("timer.breach", "onsite_resolve"),
    ]


def test_it_logs_the_handling_change(handling_app, clock):
    incident_id = open_incident(handling_app, 2)
    clock.set(at(10))
    incidents.set_handling(
        handling_app, incident_id=incident_id, handling="onsite", actor="bob", reason="on site"
    )
    assert last_event(handling_app, incident_id) == (
        at(10),
        "bob",
        "handling",
        "on site",
        {"handling": "onsite"},
    )


def test_it_logs_nothing_for_the_handling_it_already_has(handling_app):
    incident_id = open_incident(handling_app, 2)
    incidents.set_handling(handling_app, incident_id=incident_id, handling="remote", actor="t")
    assert last_event(handling_app, incident_id)[2] == "opened"


def test_it_refuses_an_unknown_handling(handling_app):
    incident_id = open_incident(handling_app, 2)
    with pytest.raises(BadRequest) as info:
        incidents.set_handling(handling_app, incident_id=incident_id, handling="cloud", actor="t")
    assert str(info.value) == "handling: 'cloud' is not remote or onsite"


def test_it_refuses_a_handling_change_of_a_resolved_incident(handling_app):
    incident_id = open_incident(handling_app, 2)
    incidents.resolve(handling_app, incident_id=incident_id, actor="t")
    with pytest.raises(IllegalTransition) as info:
        incidents.set_handling(handling_app, incident_id=incident_id, handling="onsite", actor="t")
    assert str(info.value) == "cannot change the handling of incident #1: it is resolved"


# --- level change -------------------------------------------------------------------------


def regrade_3_to_1(app, clock) -> int:
    """A level 3 incident acknowledged at +10 min, raised to level 1 at +20 min."""
    incident_id = open_incident(app, 3)
    clock.set(at(10))
    incidents.acknowledge(app, incident_id=incident_id, actor="t")
    clock.set(at(20))
    incidents.set_level(app, incident_id=incident_id, level=1, actor="bob", reason="all down")
    return incident_id


def test_it_cancels_the_pending_rows_on_a_level_change(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    old = [s for s in state(app, incident_id) if s[0] in ("response", "resolve")]
    assert old == [
        ("response", *W50, at(10), None, None),
        ("response", *W80, at(10), None, None),
        ("response", *BREACH, at(10), None, None),
        ("resolve", *W50, None, None, at(20)),
        ("resolve", *W80, None, None, at(20)),
        ("resolve", *BREACH, None, None, at(20)),
    ]


def test_it_counts_the_new_level_rows_from_the_original_opening(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    new = [p for p in planned(app, incident_id) if p[1] in ("plan", "fault_duration")]
    assert new == [
        (30, "plan", "warning", 0.5, "M2.3a"),
        (45, "fault_duration", "budget", None, "P9.4"),
        (48, "plan", "warning", 0.8, "M2.3a"),
        (60, "plan", "breach", None, "M2.3a"),
    ]


def test_it_does_not_recreate_a_timer_already_met_on_a_level_change(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    assert [p[2] for p in planned(app, incident_id) if p[1] == "response"] == [
        "warning",
        "warning",
        "breach",
    ]


def test_it_logs_the_level_change_with_what_it_cancelled_and_the_new_deadlines(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    assert last_event(app, incident_id) == (
        at(20),
        "bob",
        "level",
        "all down",
        {
            "from": 3,
            "to": 1,
            "cancelled": 3,
            "deadlines": {"plan": "2026-11-28T03:00:00+00:00"},
            "kept": {"response": "met"},
        },
    )


def test_it_keeps_the_new_level_and_its_snapshot(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    with app.store.session() as session:
        incident = incidents.get(session, incident_id=incident_id)
        assert (incident.level, incident.policy["name"], incident.status) == (
            1,
            "系统瘫痪",
            "acknowledged",
        )


def test_it_notifies_the_level_change(app, clock):
    regrade_3_to_1(app, clock)
    assert sent_keys(app) == [
        "incident:1:opened:ops",
        "incident:1:acknowledged:ops",
        "incident:1:level:1:ops",
    ]


def test_it_fires_the_new_plan_breach_from_the_original_opening(app, clock):
    incident_id = regrade_3_to_1(app, clock)
    clock.set(at(60))
    assert timers.fire_due(app) == 4
    assert timer_events(app, incident_id)[-1][:3] == (
        at(60),
        "timer.breach",
        "启动应急预案时限已过（M2.3a）",
    )


def test_it_refuses_a_level_change_without_a_reason(app):
    incident_id = open_incident(app, 3)
    with pytest.raises(BadRequest) as info:
        incidents.set_level(app, incident_id=incident_id, level=1, actor="t", reason=" ")
    assert str(info.value) == "--reason: say why the level changes (it goes on the timeline)"


def test_it_refuses_a_level_that_is_not_defined(app):
    incident_id = open_incident(app, 3)
    with pytest.raises(BadRequest) as info:
        incidents.set_level(app, incident_id=incident_id, level=9, actor="t", reason="x")
    assert str(info.value) == "level: no level 9 in incidents/levels.yaml"


def test_it_refuses_a_level_change_to_the_same_level(app):
    incident_id = open_incident(app, 3)
    with pytest.raises(IllegalTransition) as info:
        incidents.set_level(app, incident_id=incident_id, level=3, actor="t", reason="x")
    assert str(info.value) == "incident #1 is already level 3"


def test_it_refuses_a_level_change_of_a_resolved_incident(app):
    incident_id = open_incident(app, 3)
    incidents.resolve(app, incident_id=incident_id, actor="t")
    with pytest.raises(IllegalTransition) as info:
        incidents.set_level(app, incident_id=incident_id, level=1, actor="t", reason="x")
    assert str(info.value) == "cannot change the level of incident #1: it is resolved"


def test_it_changes_nothing_on_a_refused_level_change(app):
    incident_id = open_incident(app, 3)
    before = state(app, incident_id)
    with pytest.raises(IllegalTransition):
        incidents.set_level(app, incident_id=incident_id, level=3, actor="t", reason="x")
    assert (state(app, incident_id), last_event(app, incident_id)[2]) == (before, "opened")


# --- restart ------------------------------------------------------------------------------


def test_it_fires_each_due_timer_exactly_once_after_a_restart(site, make_app, store_url, clock):
    first = make_app(site, store_url)
    incident_id = open_incident(first, 2)
    clock.set(at(14))
    assert timers.fire_due(first) == 0  # then the process crashes with all six rows pending
    clock.set(at(121))
    restarted = make_app(site, store_url)
    assert [timers.fire_due(restarted), timers.fire_due(restarted)] == [6, 0]
    fired = [e[3]["deadline_id"] for e in timer_events(restarted, incident_id)]
    assert sorted(fired) == [1, 2, 3, 4, 5, 6]


def test_it_fires_nothing_again_in_a_third_process(site, make_app, store_url, clock):
    first = make_app(site, store_url)
    open_incident(first, 2)
    clock.set(at(121))
    timers.fire_due(make_app(site, store_url))
    assert timers.fire_due(make_app(site, store_url)) == 0


def test_it_sends_each_notification_once_after_a_restart(site, make_app, store_url, clock):
    first = make_app(site, store_url)
    open_incident(first, 2)
    clock.set(at(121))
    restarted = make_app(site, store_url)
    timers.fire_due(restarted)
    outbox.deliver_due(restarted)
    outbox.deliver_due(make_app(site, store_url))
    assert [m.dedup_key for m in fake.SENT["ops"]] == [
        "incident:1:opened:ops",
        "incident:1:warning:response:50:ops",
        "incident:1:warning:response:80:ops",
        "incident:1:breach:response:ops",
        "incident:1:warning:resolve:50:ops",
        "incident:1:warning:resolve:80:ops",
        "incident:1:breach:resolve:ops",
    ]
