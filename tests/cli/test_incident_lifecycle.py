"""The incident lifecycle commands through CliRunner, on SQLite and PostgreSQL, with a FixedClock
at T0 (10:00 in Wuzhou): plan, mitigate, close --postmortem, reopen, note, level, handling,
timeline, and the warnings and budget rows of ``show --json``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result

from hotline_ops.app import App
from hotline_ops.cli.main import cli

OPENED_AT = "2026-11-28T02:00:00+00:00"


@pytest.fixture
def app(site, make_app, store_url) -> App:
    return make_app(site, store_url)


def run(app: App, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=app)


def open_incident(app: App, level: int, title: str = "X") -> str:
    result = run(
        app,
        "incident",
        "open",
        "--title",
        title,
        "--level",
        str(level),
        "--actor",
        "tester",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    return str(json.loads(result.stdout)["id"])


def show(app: App, incident_id: str) -> dict:
    result = run(app, "incident", "show", incident_id, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def cells(text: str) -> list[list[str]]:
    """The body rows of every rich table in ``text``, as stripped cell strings."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def failure(result: Result) -> tuple:
    return result.exit_code, result.stdout, result.stderr


# --- plan / mitigate ----------------------------------------------------------------------


def test_it_starts_the_plan_of_a_level1_incident(app: App) -> None:
    incident_id = open_incident(app, 1)
    result = run(app, "incident", "plan", incident_id, "--actor", "alice")
    assert (result.exit_code, result.stdout) == (0, "emergency plan started for #1: X\n")


def test_it_stamps_the_plan_and_the_acknowledgement_in_the_json(app: App, clock) -> None:
    incident_id = open_incident(app, 1)
    clock.advance(timedelta(minutes=20))
    data = json.loads(run(app, "incident", "plan", incident_id, "--json").stdout)
    assert (data["status"], data["acknowledged_at"], data["plan_started_at"]) == (
        "plan",
        "2026-11-28T02:20:00+00:00",
        "2026-11-28T02:20:00+00:00",
    )


def test_it_exits_4_for_a_plan_on_a_level2_incident(app: App) -> None:
    incident_id = open_incident(app, 2)
    assert failure(run(app, "incident", "plan", incident_id)) == (
        4,
        "",
        "error: incident #1: an emergency plan is for level 1 incidents; this is level 2\n",
    )


def test_it_mitigates_an_incident(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=12))
    result = run(app, "incident", "mitigate", incident_id, "--reason", "failover")
    assert (result.exit_code, result.stdout) == (0, "mitigated #1: X\n")
    assert show(app, incident_id)["mitigated_at"] == "2026-11-28T02:12:00+00:00"


# --- close / reopen -----------------------------------------------------------------------


def test_it_exits_4_when_closing_a_level2_incident_without_a_postmortem(app: App) -> None:
    incident_id = open_incident(app, 2)
    run(app, "incident", "resolve", incident_id)
    assert failure(run(app, "incident", "close", incident_id)) == (
        4,
        "",
        "error: incident #1: a level 2 incident needs a postmortem before it closes "
        "(--postmortem)\n",
    )


def test_it_closes_a_level2_incident_with_a_postmortem(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=30))
    run(app, "incident", "resolve", incident_id)
    clock.advance(timedelta(hours=1))
    result = run(app, "incident", "close", incident_id, "--postmortem", "https://wiki/pm/1")
    assert (result.exit_code, result.stdout) == (0, "closed #1: X\n")
    data = show(app, incident_id)
    assert (data["status"], data["closed_at"], data["postmortem"]) == (
        "closed",
        "2026-11-28T03:30:00+00:00",
        "https://wiki/pm/1",
    )


def test_it_closes_a_level3_incident_without_a_postmortem(app: App) -> None:
    incident_id = open_incident(app, 3)
    run(app, "incident", "resolve", incident_id)
    result = run(app, "incident", "close", incident_id, "--json")
    assert (result.exit_code, json.loads(result.stdout)["status"]) == (0, "closed")


def test_it_reopens_a_resolved_incident(app: App) -> None:
    incident_id = open_incident(app, 2)
    run(app, "incident", "resolve", incident_id)
    result = run(app, "incident", "reopen", incident_id, "--reason", "down again")
    assert (result.exit_code, result.stdout) == (0, "reopened #1: X\n")


def test_it_runs_the_timers_of_a_reopened_incident_again(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=10))
    run(app, "incident", "resolve", incident_id)
    clock.advance(timedelta(minutes=5))
    run(app, "incident", "reopen", incident_id)
    data = show(app, incident_id)
    assert (data["status"], data["resolved_at"]) == ("open", None)
    assert [(d["kind"], d["state"], d["remaining_s"]) for d in data["deadlines"]] == [
        ("response", "running", 900.0),
        ("resolve", "running", 6300.0),
    ]


def test_it_exits_4_when_reopening_an_open_incident(app: App) -> None:
    incident_id = open_incident(app, 2)
    assert failure(run(app, "incident", "reopen", incident_id)) == (
        4,
        "",
        "error: incident #1: cannot reopen an incident that is open (only resolved)\n",
    )


# --- note ---------------------------------------------------------------------------------


def test_it_adds_a_note(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=3))
    result = run(app, "incident", "note", incident_id, "carrier called", "--actor", "bob")
    assert (result.exit_code, result.stdout) == (0, "noted #1: X\n")
    assert show(app, incident_id)["timeline"][-1] == {
        "at": "2026-11-28T02:03:00+00:00",
        "actor": "bob",
        "kind": "note",
        "reason": "carrier called",
        "data": {},
    }


def test_it_exits_8_for_an_empty_note(app: App) -> None:
    incident_id = open_incident(app, 2)
    assert failure(run(app, "incident", "note", incident_id, "")) == (
        8,
        "",
        "error: note: the text is empty\n",
    )


# --- level --------------------------------------------------------------------------------


def test_it_changes_the_level_with_a_reason(app: App) -> None:
    incident_id = open_incident(app, 3)
    result = run(app, "incident", "level", incident_id, "1", "--reason", "all seats down")
    assert (result.exit_code, result.stdout) == (0, "now level 1: #1: X\n")


def test_it_puts_the_new_level_timers_in_the_json(app: App, clock) -> None:
    incident_id = open_incident(app, 3)
    clock.advance(timedelta(minutes=20))
    run(app, "incident", "level", incident_id, "1", "--reason", "all seats down")
    data = show(app, incident_id)
    running = [(d["kind"], d["due_at"]) for d in data["deadlines"] if d["state"] == "running"]
    assert (data["level"], running) == (
        1,
        [("response", "2026-11-28T02:30:00+00:00"), ("plan", "2026-11-28T03:00:00+00:00")],
    )


def test_it_exits_8_for_a_level_change_with_an_empty_reason(app: App) -> None:
    incident_id = open_incident(app, 3)
    assert failure(run(app, "incident", "level", incident_id, "1", "--reason", "")) == (
        8,
        "",
        "error: --reason: say why the level changes (it goes on the timeline)\n",
    )


def test_it_exits_2_for_a_level_change_without_the_reason_option(app: App) -> None:
    incident_id = open_incident(app, 3)
    result = run(app, "incident", "level", incident_id, "1")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2,
        "Error: Missing option '--reason'.",
    )


def test_it_exits_4_for_a_level_change_to_the_same_level(app: App) -> None:
    incident_id = open_incident(app, 3)
    assert failure(run(app, "incident", "level", incident_id, "3", "--reason", "x")) == (
        4,
        "",
        "error: incident #1 is already level 3\n",
    )


def test_it_exits_4_for_a_level_change_of_a_resolved_incident(app: App) -> None:
    incident_id = open_incident(app, 3)
    run(app, "incident", "resolve", incident_id)
    assert failure(run(app, "incident", "level", incident_id, "1", "--reason", "x")) == (
        4,
        "",
        "error: cannot change the level of incident #1: it is resolved\n",
    )


# --- handling -----------------------------------------------------------------------------


def test_it_sets_onsite_handling(app: App) -> None:
    incident_id = open_incident(app, 2)
    result = run(app, "incident", "handling", incident_id, "onsite", "--reason", "on site")
    assert (result.exit_code, result.stdout) == (0, "handling onsite for #1: X\n")
    assert show(app, incident_id)["handling"] == "onsite"


def test_it_prints_the_handling_in_the_header(app: App) -> None:
    incident_id = open_incident(app, 2)
    run(app, "incident", "handling", incident_id, "onsite")
    result = run(app, "incident", "show", incident_id)
    assert result.stdout.splitlines()[1] == (
        "opened 2026-11-28 10:00:00  source manual  handling onsite"
    )


def test_it_exits_2_for_an_unknown_handling(app: App) -> None:
    incident_id = open_incident(app, 2)
    result = run(app, "incident", "handling", incident_id, "cloud")
    assert result.exit_code == 2


# --- show / timeline ----------------------------------------------------------------------


def test_it_shows_the_warnings_of_a_fresh_level2_incident(app: App) -> None:
    incident_id = open_incident(app, 2)
    warnings = show(app, incident_id)["warnings"]
    assert [(w["kind"], w["fraction"], w["due_at"], w["state"]) for w in warnings] == [
        ("response", 0.5, "2026-11-28T02:15:00+00:00", "running"),
        ("response", 0.8, "2026-11-28T02:24:00+00:00", "running"),
        ("resolve", 0.5, "2026-11-28T03:00:00+00:00", "running"),
        ("resolve", 0.8, "2026-11-28T03:36:00+00:00", "running"),
    ]


def test_it_shows_the_budget_row_of_a_level1_incident(app: App) -> None:
    incident_id = open_incident(app, 1)
    assert show(app, incident_id)["budget"] == [
        {
            "kind": "fault_duration",
            "clause": "P9.4",
            "due_at": "2026-11-28T02:45:00+00:00",
            "met_at": None,
            "fired_at": None,
            "fraction": None,
            "step": None,
            "state": "running",
            "remaining_s": 2700.0,
        }
    ]


def test_it_shows_no_budget_or_escalation_rows_for_a_level2_incident(app: App) -> None:
    data = show(app, open_incident(app, 2))
    assert (data["budget"], data["escalation"]) == ([], [])


def test_it_shows_the_rows_a_level_change_cancelled_beside_the_new_ones(app: App) -> None:
    incident_id = open_incident(app, 2)
    run(app, "incident", "level", incident_id, "3", "--reason", "minor")
    data = show(app, incident_id)
    assert [(d["kind"], d["clause"], d["state"]) for d in data["deadlines"]] == [
        ("response", "M2.1b", "cancelled"),
        ("response", "M2.1b", "running"),
        ("resolve", "M2.3b", "cancelled"),
        ("resolve", "M2.3c", "running"),
    ]


def test_it_prints_the_timers_and_the_budget_of_a_level1_incident(app: App) -> None:
    incident_id = open_incident(app, 1)
    result = run(app, "incident", "timeline", incident_id)
    assert cells(result.stdout) == [
        ["response", "M2.1b", "2026-11-28 10:30:00", "running", "in 30m"],
        ["plan", "M2.3a", "2026-11-28 11:00:00", "running", "in 1h"],
        ["fault_duration", "P9.4", "2026-11-28 10:45:00", "running", "in 45m"],
        ["2026-11-28 10:00:00", "tester", "opened", "X"],
    ]


def test_it_prints_an_overdue_countdown(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=35))
    result = run(app, "incident", "timeline", incident_id)
    assert cells(result.stdout)[:2] == [
        ["response", "M2.1b", "2026-11-28 10:30:00", "running", "overdue 5m"],
        ["resolve", "M2.3b", "2026-11-28 12:00:00", "running", "in 1h25m"],
    ]


def test_it_prints_no_countdown_for_a_met_timer(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=5))
    run(app, "incident", "ack", incident_id)
    result = run(app, "incident", "timeline", incident_id)
    assert cells(result.stdout)[0] == ["response", "M2.1b", "2026-11-28 10:30:00", "met", ""]


def test_it_prints_the_timeline_with_actor_and_reason_in_site_time(app: App, clock) -> None:
    incident_id = open_incident(app, 2)
    clock.advance(timedelta(minutes=5))
    run(app, "incident", "ack", incident_id, "--actor", "alice", "--reason", "on it")
    clock.advance(timedelta(minutes=5))
    run(app, "incident", "resolve", incident_id, "--actor", "alice", "--reason", "fixed")
    result = run(app, "incident", "timeline", incident_id)
    assert cells(result.stdout)[-3:] == [
        ["2026-11-28 10:00:00", "tester", "opened", "X"],
        ["2026-11-28 10:05:00", "alice", "acknowledged", "on it"],
        ["2026-11-28 10:10:00", "alice", "resolved", "fixed"],
    ]


def test_it_gives_the_same_json_for_timeline_and_show(app: App) -> None:
    incident_id = open_incident(app, 1)
    result = run(app, "incident", "timeline", incident_id, "--json")
    assert json.loads(result.stdout) == show(app, incident_id)


def test_it_shows_the_opened_at_time_in_the_summary(app: App) -> None:
    assert show(app, open_incident(app, 2))["opened_at"] == OPENED_AT
