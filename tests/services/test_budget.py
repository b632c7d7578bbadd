"""The P9.4 fault budget on SQLite and PostgreSQL: an open system fault warns at 45 minutes,
the year's third system fault (calendar year, site time) is called out, and the report lists
each fault with its exact duration against the one-hour limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline_ops.notify import fake
from hotline_ops.services import budget, incidents, outbox, timers
from tests.conftest import T0

COUNT_REASON = "3 system faults in 2026; the contract allows 3 (P9.4)"


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


def open_incident(app, level: int = 1, title: str = "platform down") -> int:
    incident, _ = incidents.create(app, title=title, actor="t", level=level)
    return incident.id


def open_planned(app, clock) -> int:
    """A system fault whose response and plan timers were met at +5 min."""
    incident_id = open_incident(app)
    clock.set(at(5))
    incidents.act(app, incident_id=incident_id, action="plan", actor="t")
    return incident_id


def events(app, incident_id: int, kind: str) -> list[tuple]:
    with app.store.session() as session:
        return [
            (e.at, e.actor, e.reason, e.data)
            for e in incidents.events_of(session, incident_id)
            if e.kind == kind
        ]


def sent_keys(app) -> list[str]:
    outbox.deliver_due(app)
    return [m.dedup_key for m in fake.SENT.get("ops", [])]


def open_at(app, clock, when: datetime, title: str, level: int = 1) -> int:
    clock.set(when)
    return open_incident(app, level, title)


# --- fault duration -----------------------------------------------------------------------


def test_it_fires_the_fault_duration_warning_at_45_minutes(app, clock):
    incident_id = open_planned(app, clock)
    clock.set(at(45))
    assert timers.fire_due(app) == 1
    assert events(app, incident_id, "budget.warning") == [
        (
            at(45),
            "timer",
            "系统故障已持续 45 分钟，单次故障时长上限 60 分钟（P9.4）",
            {
                "deadline_id": 5,
                "kind": "fault_duration",
                "clause": "P9.4",
                "due_at": "2026-11-28T02:45:00+00:00",
            },
        )
    ]


def test_it_does_not_fire_the_fault_duration_warning_a_second_early(app, clock):
    open_planned(app, clock)
    clock.set(at(45) - timedelta(seconds=1))
    assert timers.fire_due(app) == 0


def test_it_notifies_the_fault_duration_warning(app, clock):
    open_planned(app, clock)
    clock.set(at(45))
    timers.fire_due(app)
    assert sent_keys(app)[-1] == "incident:1:budget:duration:ops"


def test_it_titles_the_fault_duration_warning_as_a_budget_warning(app, clock):
    open_planned(app, clock)
    clock.set(at(45))
    timers.fire_due(app)
    outbox.deliver_due(app)
    assert (
        fake.SENT["ops"][-1].text.splitlines()[0]
        == "【测试热线·故障额度预警（P9.4）】platform down"
    )


def test_it_fires_no_fault_duration_warning_for_a_fault_resolved_before_it(app, clock):
    incident_id = open_planned(app, clock)
    clock.set(at(30))
    incidents.resolve(app, incident_id=incident_id, actor="t")
    clock.set(at(60))
    assert (timers.fire_due(app), events(app, incident_id, "budget.warning")) == (0, [])


def test_it_plans_no_fault_duration_warning_below_level1(app, clock):
    incident_id = open_incident(app, 2)
    clock.set(at(45))
    timers.fire_due(app)
    assert events(app, incident_id, "budget.warning") == []


# --- count --------------------------------------------------------------------------------


def test_it_adds_a_budget_count_event_on_the_third_system_fault_of_the_year(app, clock):
    ids = [open_at(app, clock, at(n), f"fault {n}") for n in range(3)]
    assert events(app, ids[2], "budget.count") == [
        (at(2), "budget", COUNT_REASON, {"year": 2026, "count": 3, "allowed": 3})
    ]


def test_it_adds_no_budget_count_event_before_the_third(app, clock):
    ids = [open_at(app, clock, at(n), f"fault {n}") for n in range(3)]
    assert [events(app, i, "budget.count") for i in ids[:2]] == [[], []]


def test_it_notifies_the_third_system_fault_of_the_year(app, clock):
    for n in range(3):
        open_at(app, clock, at(n), f"fault {n}")
    assert sent_keys(app) == [
        "incident:1:opened:ops",
        "incident:2:opened:ops",
        "incident:3:opened:ops",
        "incident:3:budget:count:ops",
    ]


def test_it_does_not_count_faults_below_the_budget_level(app, clock):
    open_at(app, clock, at(0), "core 1", level=2)
    open_at(app, clock, at(1), "system 1")
    third = open_at(app, clock, at(2), "system 2")
    assert events(app, third, "budget.count") == []


def test_it_counts_a_fault_opened_after_midnight_new_year_site_time(app, clock):
    # 2025-12-31 16:30 UTC is 2026-01-01 00:30 in Wuzhou: a fault of 2026.
    open_at(app, clock, datetime(2025, 12, 31, 16, 30, tzinfo=UTC), "new year fault")
    open_at(app, clock, at(0), "fault 1")
    third = open_at(app, clock, at(1), "fault 2")
    assert [e[3]["count"] for e in events(app, third, "budget.count")] == [3]


def test_it_does_not_count_a_fault_opened_before_midnight_new_year_site_time(app, clock):
    # 2025-12-31 15:30 UTC is 2025-12-31 23:30 in Wuzhou: a fault of 2025.
    open_at(app, clock, datetime(2025, 12, 31, 15, 30, tzinfo=UTC), "old year fault")
    open_at(app, clock, at(0), "fault 1")
    third = open_at(app, clock, at(1), "fault 2")
    assert events(app, third, "budget.count") == []


# --- report -------------------------------------------------------------------------------


def two_faults(app, clock) -> None:
    """#1 opened at T0 and resolved at +30 min; #2 opened at +2 h and resolved 70 min later."""
    first = open_at(app, clock, T0, "fault A")
    clock.set(at(30))
    incidents.resolve(app, incident_id=first, actor="t")
    second = open_at(app, clock, at(120), "fault B")
    clock.set(at(190))
    incidents.resolve(app, incident_id=second, actor="t")


def test_it_reports_each_fault_with_its_exact_duration(app, clock):
    two_faults(app, clock)
    assert budget.report(app, 2026) == {
        "year": 2026,
        "clause": "P9.4",
        "level": 1,
        "allowed": 3,
        "max_duration_s": 3600,
        "count": 2,
        "within_count": True,
        "too_long": 1,
        "faults": [
            {
                "id": 1,
                "title": "fault A",
                "opened_at": T0,
                "resolved_at": at(30),
                "duration_s": 1800.0,
                "within_duration": True,
                "ongoing": False,
            },
            {
                "id": 2,
                "title": "fault B",
                "opened_at": at(120),
                "resolved_at": at(190),
                "duration_s": 4200.0,
                "within_duration": False,
                "ongoing": False,
            },
        ],
    }


def test_it_counts_an_open_fault_as_ongoing_up_to_now(app, clock):
    open_at(app, clock, T0, "fault A")
    clock.set(at(61))
    (fault,) = budget.report(app, 2026)["faults"]
    assert (fault["duration_s"], fault["within_duration"], fault["ongoing"]) == (
        3660.0,
        False,
        True,
    )


def test_it_counts_a_fault_of_exactly_one_hour_as_within(app, clock):
    fault_id = open_at(app, clock, T0, "fault A")
    clock.set(at(60))
    incidents.resolve(app, incident_id=fault_id, actor="t")
    (fault,) = budget.report(app, 2026)["faults"]
    assert (fault["duration_s"], fault["within_duration"]) == (3600.0, True)


def test_it_reports_a_fourth_fault_as_over_the_count(app, clock):
    for n in range(4):
        open_at(app, clock, at(n), f"fault {n}")
    report = budget.report(app, 2026)
    assert (report["count"], report["within_count"]) == (4, False)


def test_it_leaves_other_years_and_levels_out_of_the_report(app, clock):
    open_at(app, clock, datetime(2025, 12, 31, 15, 30, tzinfo=UTC), "old year fault")
    open_at(app, clock, at(0), "core fault", level=2)
    open_at(app, clock, at(1), "system fault")
    assert [f["title"] for f in budget.report(app, 2026)["faults"]] == ["system fault"]
