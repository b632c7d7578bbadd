"""The full lifecycle rules, pure: open → acknowledged → plan (level 1) → mitigated → resolved
→ closed (postmortem for levels 1-2), reopen from resolved; the milestones each status
reaches; and the deadlines a level plans: breach, warnings at fractions, the P9.4 budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.core.incidents import (
    IncidentStatus,
    TransitionRefused,
    is_open,
    next_status,
    reached,
)
from hotline_ops.core.levels import (
    FaultBudget,
    Level,
    PlannedDeadline,
    Timer,
    applies,
    from_snapshot,
    kinds_met,
    plan_deadlines,
    snapshot,
)
from tests.conftest import T0

S = IncidentStatus
RESPONSE = Timer("response", 1800, "M2.1b", "acknowledged")
PLAN = Timer("plan", 3600, "M2.3a", "plan")
RESOLVE = Timer("resolve", 7200, "M2.3b", "resolved")
L1 = Level(1, "系统瘫痪", (RESPONSE, PLAN), ("ops",))
L2 = Level(2, "核心功能故障", (RESPONSE, RESOLVE), ("ops",))


def refusal(current: IncidentStatus, action: str, **kwargs) -> str:
    with pytest.raises(TransitionRefused) as info:
        next_status(current, action, **kwargs)
    return str(info.value)


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


# --- transitions --------------------------------------------------------------------------


def test_it_starts_the_plan_of_an_open_level1_incident():
    assert next_status(S.OPEN, "plan", level=1) == S.PLAN


def test_it_starts_the_plan_of_an_acknowledged_level1_incident():
    assert next_status(S.ACKNOWLEDGED, "plan", level=1) == S.PLAN


def test_it_refuses_a_plan_for_a_level2_incident():
    assert refusal(S.ACKNOWLEDGED, "plan", level=2) == (
        "an emergency plan is for level 1 incidents; this is level 2"
    )


def test_it_refuses_a_plan_for_a_mitigated_incident():
    assert refusal(S.MITIGATED, "plan", level=1) == (
        "cannot plan an incident that is mitigated (only acknowledged, open)"
    )


def test_it_mitigates_an_incident_whose_plan_started():
    assert next_status(S.PLAN, "mitigate", level=1) == S.MITIGATED


def test_it_refuses_to_mitigate_twice():
    assert refusal(S.MITIGATED, "mitigate") == (
        "cannot mitigate an incident that is mitigated (only acknowledged, open, plan)"
    )


def test_it_resolves_a_mitigated_incident():
    assert next_status(S.MITIGATED, "resolve") == S.RESOLVED


def test_it_closes_a_resolved_level3_incident_without_a_postmortem():
    assert next_status(S.RESOLVED, "close", level=3) == S.CLOSED


def test_it_refuses_to_close_a_level1_incident_without_a_postmortem():
    assert refusal(S.RESOLVED, "close", level=1) == (
        "a level 1 incident needs a postmortem before it closes (--postmortem)"
    )


def test_it_refuses_to_close_a_level2_incident_without_a_postmortem():
    assert refusal(S.RESOLVED, "close", level=2) == (
        "a level 2 incident needs a postmortem before it closes (--postmortem)"
    )


def test_it_closes_a_level2_incident_with_a_postmortem():
    assert next_status(S.RESOLVED, "close", level=2, has_postmortem=True) == S.CLOSED


def test_it_refuses_to_close_an_incident_that_is_not_resolved():
    assert refusal(S.MITIGATED, "close", level=3) == (
        "cannot close an incident that is mitigated (only resolved)"
    )


def test_it_refuses_to_reopen_a_closed_incident():
    assert refusal(S.CLOSED, "reopen") == "cannot reopen an incident that is closed (only resolved)"


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("ack", "open"),
        ("plan", "acknowledged, open"),
        ("mitigate", "acknowledged, open, plan"),
        ("resolve", "acknowledged, mitigated, open, plan"),
        ("close", "resolved"),
    ],
)
def test_it_refuses_every_action_on_a_closed_incident(action, allowed):
    assert refusal(S.CLOSED, action, level=1, has_postmortem=True) == (
        f"cannot {action} an incident that is closed (only {allowed})"
    )


def test_it_counts_plan_and_mitigated_as_open_but_not_closed():
    assert [is_open(s) for s in (S.PLAN, S.MITIGATED, S.CLOSED)] == [True, True, False]


# --- milestones ---------------------------------------------------------------------------


def test_it_counts_a_started_plan_as_acknowledged_too():
    assert reached(S.PLAN) == frozenset({"acknowledged", "plan"})


def test_it_counts_a_mitigation_as_acknowledged():
    assert reached(S.MITIGATED) == frozenset({"acknowledged"})


def test_it_counts_nothing_reached_for_an_open_incident():
    assert reached(S.OPEN) == frozenset()


def test_it_meets_the_response_and_plan_timers_when_the_plan_starts():
    assert kinds_met(L1, reached(S.PLAN)) == ["response", "plan"]


def test_it_meets_only_the_response_timer_on_mitigation():
    assert kinds_met(L2, reached(S.MITIGATED)) == ["response"]


# --- planned deadlines --------------------------------------------------------------------


def test_it_plans_breach_and_warnings_at_half_and_four_fifths_for_level2():
    assert plan_deadlines(L2, T0) == [
        PlannedDeadline("response", "M2.1b", at(15), "warning", 0.5),
        PlannedDeadline("response", "M2.1b", at(24), "warning", 0.8),
        PlannedDeadline("response", "M2.1b", at(30), "breach"),
        PlannedDeadline("resolve", "M2.3b", at(60), "warning", 0.5),
        PlannedDeadline("resolve", "M2.3b", at(96), "warning", 0.8),
        PlannedDeadline("resolve", "M2.3b", at(120), "breach"),
    ]


def test_it_plans_the_fault_duration_budget_at_45_minutes_for_level1():
    assert plan_deadlines(L1, T0, FaultBudget()) == [
        PlannedDeadline("response", "M2.1b", at(15), "warning", 0.5),
        PlannedDeadline("response", "M2.1b", at(24), "warning", 0.8),
        PlannedDeadline("plan", "M2.3a", at(30), "warning", 0.5),
        PlannedDeadline("response", "M2.1b", at(30), "breach"),
        PlannedDeadline("fault_duration", "P9.4", at(45), "budget"),
        PlannedDeadline("plan", "M2.3a", at(48), "warning", 0.8),
        PlannedDeadline("plan", "M2.3a", at(60), "breach"),
    ]


def test_it_plans_no_budget_row_for_a_level_the_budget_does_not_cover():
    assert [d.purpose for d in plan_deadlines(L2, T0, FaultBudget())].count("budget") == 0


def test_it_plans_no_budget_row_without_a_budget():
    assert [d.kind for d in plan_deadlines(L1, T0)].count("fault_duration") == 0


def test_it_plans_warnings_at_the_level_own_fractions():
    level = Level(3, "非核心功能故障", (RESPONSE,), (), (0.9,))
    assert plan_deadlines(level, T0) == [
        PlannedDeadline("response", "M2.1b", at(27), "warning", 0.9),
        PlannedDeadline("response", "M2.1b", at(30), "breach"),
    ]


def test_it_plans_no_warnings_for_a_level_without_fractions():
    level = Level(3, "非核心功能故障", (RESPONSE,), (), ())
    assert plan_deadlines(level, T0) == [PlannedDeadline("response", "M2.1b", at(30), "breach")]


def test_it_keeps_the_warning_fractions_in_the_snapshot():
    level = Level(3, "非核心功能故障", (RESPONSE,), (), (0.25, 0.75))
    assert from_snapshot(snapshot(level)).warn_at == (0.25, 0.75)


def test_it_defaults_the_warning_fractions_of_an_old_snapshot():
    old = {"level": 2, "name": "x", "timers": [], "channels": []}
    assert from_snapshot(old).warn_at == (0.5, 0.8)


# --- remote / on-site ---------------------------------------------------------------------


def test_it_runs_the_remote_timer_for_remote_handling_only():
    assert [applies("remote_resolve", h) for h in ("remote", "onsite")] == [True, False]


def test_it_runs_the_onsite_timer_for_onsite_handling_only():
    assert [applies("onsite_resolve", h) for h in ("remote", "onsite")] == [False, True]


def test_it_runs_other_timers_whatever_the_handling():
    assert [applies("response", h) for h in ("remote", "onsite")] == [True, True]
