"""The CLI through CliRunner, on an App with a FixedClock at T0 (10:00 in Wuzhou)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hotline_ops.app import App
from hotline_ops.cli.main import cli
from tests.support.content import write_content

OPENED_AT = "2026-11-28T02:00:00+00:00"


@pytest.fixture
def app(site: Path, make_app) -> App:
    return make_app(site)


def run(app: App, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=app)


def open_incident(app: App, title: str = "X", *extra: str) -> int:
    result = run(app, "incident", "open", "--title", title, "--actor", "tester", "--json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["id"]


def cells(text: str) -> list[list[str]]:
    """The body rows of every rich table in ``text``, as stripped cell strings."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.startswith("│")
    ]


# --- probe --------------------------------------------------------------------------------


def test_it_lists_the_targets_with_state_unknown_before_any_check(app: App) -> None:
    result = run(app, "probe", "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        [
            {
                "name": "fake-ok",
                "kind": "fake",
                "interval_s": 30.0,
                "labels": {},
                "state": "unknown",
                "latency_s": None,
                "checked_at": None,
                "detail": "",
            }
        ],
    )


def test_it_reports_a_passing_check_and_exits_0(app: App) -> None:
    result = run(app, "probe", "run", "fake-ok", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        [
            {
                "name": "fake-ok",
                "kind": "fake",
                "ok": True,
                "latency_s": 0.001,
                "detail": "fake ok",
                "metrics": {},
            }
        ],
    )


def test_it_exits_1_when_a_check_fails(tmp_path: Path, make_app) -> None:
    root = write_content(
        tmp_path / "down", targets=[{"name": "fake-down", "kind": "fake", "results": [False]}]
    )
    result = run(make_app(root), "probe", "run", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        1,
        [
            {
                "name": "fake-down",
                "kind": "fake",
                "ok": False,
                "latency_s": 0.001,
                "detail": "fake failure",
                "metrics": {},
            }
        ],
    )


def test_it_exits_3_for_an_unknown_target(app: App) -> None:
    result = run(app, "probe", "run", "nope")
    assert (result.exit_code, result.stdout, result.stderr) == (
        3,
        "",
        "error: unknown target 'nope' (see 'hotline-ops probe list')\n",
    )


def test_it_does_not_record_a_check_without_record(app: App) -> None:
    run(app, "probe", "run", "fake-ok")
    assert json.loads(run(app, "probe", "list", "--json").stdout)[0]["state"] == "unknown"


# --- incident open / list -----------------------------------------------------------------


def test_it_opens_an_incident_at_the_given_level(app: App) -> None:
    result = run(app, "incident", "open", "--title", "X", "--level", "2", "--actor", "t", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        {
            "id": 1,
            "level": 2,
            "status": "open",
            "title": "X",
            "source": "manual",
            "target": None,
            "labels": {},
            "handling": "remote",
            "opened_at": OPENED_AT,
            "acknowledged_at": None,
            "plan_started_at": None,
            "mitigated_at": None,
            "resolved_at": None,
            "closed_at": None,
            "postmortem": None,
            "created": True,
        },
    )


def test_it_prints_one_line_for_an_opened_incident(app: App) -> None:
    result = run(app, "incident", "open", "--title", "X", "--level", "2", "--actor", "t")
    assert (result.exit_code, result.stdout) == (0, "opened #1 L2: X\n")


def test_it_classifies_an_incident_from_its_labels(app: App) -> None:
    result = run(app, "incident", "open", "--title", "X", "--label", "impact=core", "--json")
    data = json.loads(result.stdout)
    assert (data["level"], data["labels"]) == (2, {"impact": "core"})


def test_it_returns_the_open_incident_for_a_repeated_key(app: App) -> None:
    open_incident(app, "X", "--key", "k1")
    result = run(app, "incident", "open", "--title", "Y", "--key", "k1")
    assert (result.exit_code, result.stdout) == (0, "already open: #1 L3: X\n")


def test_it_exits_8_for_a_label_without_an_equals_sign(app: App) -> None:
    result = run(app, "incident", "open", "--title", "X", "--label", "bad")
    assert (result.exit_code, result.stdout, result.stderr) == (
        8,
        "",
        "error: --label: 'bad' is not KEY=VALUE\n",
    )


def test_it_opens_nothing_for_a_bad_label(app: App) -> None:
    run(app, "incident", "open", "--title", "X", "--label", "bad")
    assert json.loads(run(app, "incident", "list", "--all", "--json").stdout) == []


def test_it_lists_open_incidents(app: App) -> None:
    open_incident(app, "X", "--level", "2")
    result = run(app, "incident", "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        [
            {
                "id": 1,
                "level": 2,
                "status": "open",
                "title": "X",
                "source": "manual",
                "target": None,
                "labels": {},
                "handling": "remote",
                "opened_at": OPENED_AT,
                "acknowledged_at": None,
                "plan_started_at": None,
                "mitigated_at": None,
                "resolved_at": None,
                "closed_at": None,
                "postmortem": None,
            }
        ],
    )


def test_it_lists_the_newest_incident_first(app: App, clock) -> None:
    open_incident(app, "first")
    clock.advance(timedelta(minutes=1))
    open_incident(app, "second")
    rows = json.loads(run(app, "incident", "list", "--json").stdout)
    assert [(r["id"], r["title"]) for r in rows] == [(2, "second"), (1, "first")]


def test_it_lists_incidents_in_site_time_for_people(app: App) -> None:
    open_incident(app, "X", "--level", "2")
    result = run(app, "incident", "list")
    assert cells(result.stdout) == [["#1", "L2", "open", "2026-11-28 10:00:00", "X"]]


# --- incident show ------------------------------------------------------------------------


def test_it_shows_the_deadlines_of_a_fresh_incident(app: App) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    result = run(app, "incident", "show", str(incident_id), "--json")
    assert (result.exit_code, json.loads(result.stdout)["deadlines"]) == (
        0,
        [
            {
                "kind": "response",
                "clause": "M2.1b",
                "due_at": "2026-11-28T02:30:00+00:00",
                "met_at": None,
                "fired_at": None,
                "fraction": None,
                "step": None,
                "state": "running",
                "remaining_s": 1800.0,
            },
            {
                "kind": "resolve",
                "clause": "M2.3b",
                "due_at": "2026-11-28T04:00:00+00:00",
                "met_at": None,
                "fired_at": None,
                "fraction": None,
                "step": None,
                "state": "running",
                "remaining_s": 7200.0,
            },
        ],
    )


def test_it_counts_the_remaining_time_down_with_the_clock(app: App, clock) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    clock.advance(timedelta(minutes=10))
    data = json.loads(run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert [d["remaining_s"] for d in data["deadlines"]] == [1200.0, 6600.0]


def test_it_shows_a_negative_remaining_time_past_the_due_time(app: App, clock) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    clock.advance(timedelta(minutes=45))
    data = json.loads(run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert data["deadlines"][0]["remaining_s"] == -900.0


def test_it_shows_the_timeline_and_the_queued_deliveries(app: App) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    data = json.loads(run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert (data["timeline"], data["deliveries"]) == (
        [
            {
                "at": OPENED_AT,
                "actor": "tester",
                "kind": "opened",
                "reason": "X",
                "data": {"level": 2, "labels": {}, "source": "manual"},
            }
        ],
        [
            {
                "channel": "ops",
                "dedup_key": "incident:1:opened:ops",
                "status": "pending",
                "attempts": 0,
                "sent_at": None,
                "last_error": "",
            }
        ],
    )


def test_it_prints_the_timer_table_with_countdowns_in_site_time(app: App) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    result = run(app, "incident", "show", str(incident_id))
    assert cells(result.stdout)[:2] == [
        ["response", "M2.1b", "2026-11-28 10:30:00", "running", "in 30m"],
        ["resolve", "M2.3b", "2026-11-28 12:00:00", "running", "in 2h"],
    ]


def test_it_prints_the_header_of_an_incident_in_site_time(app: App) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    result = run(app, "incident", "show", str(incident_id))
    assert result.stdout.splitlines()[:2] == [
        "#1 L2 open: X",
        "opened 2026-11-28 10:00:00  source manual  handling remote",
    ]


def test_it_exits_3_for_an_unknown_incident(app: App) -> None:
    result = run(app, "incident", "show", "999")
    assert (result.exit_code, result.stdout, result.stderr) == (
        3,
        "",
        "error: incident #999 does not exist\n",
    )


# --- incident ack / resolve ---------------------------------------------------------------


def test_it_acknowledges_an_open_incident(app: App) -> None:
    incident_id = open_incident(app)
    result = run(app, "incident", "ack", str(incident_id), "--actor", "tester")
    assert (result.exit_code, result.stdout) == (0, "acknowledged #1: X\n")


def test_it_meets_the_response_timer_on_ack(app: App, clock) -> None:
    incident_id = open_incident(app, "X", "--level", "2")
    clock.advance(timedelta(minutes=5))
    run(app, "incident", "ack", str(incident_id))
    data = json.loads(run(app, "incident", "show", str(incident_id), "--json").stdout)
    assert [(d["kind"], d["state"], d["met_at"]) for d in data["deadlines"]] == [
        ("response", "met", "2026-11-28T02:05:00+00:00"),
        ("resolve", "running", None),
    ]


def test_it_exits_4_when_acknowledging_twice(app: App) -> None:
    incident_id = open_incident(app)
    run(app, "incident", "ack", str(incident_id))
    result = run(app, "incident", "ack", str(incident_id))
    assert (result.exit_code, result.stdout, result.stderr) == (
        4,
        "",
        "error: incident #1: cannot ack an incident that is acknowledged (only open)\n",
    )


def test_it_resolves_an_incident(app: App) -> None:
    incident_id = open_incident(app)
    result = run(app, "incident", "resolve", str(incident_id), "--reason", "fixed")
    assert (result.exit_code, result.stdout) == (0, "resolved #1: X\n")


def test_it_drops_a_resolved_incident_from_the_open_list(app: App) -> None:
    incident_id = open_incident(app)
    run(app, "incident", "resolve", str(incident_id))
    assert json.loads(run(app, "incident", "list", "--json").stdout) == []


def test_it_lists_a_resolved_incident_with_all(app: App, clock) -> None:
    incident_id = open_incident(app)
    clock.advance(timedelta(minutes=20))
    run(app, "incident", "resolve", str(incident_id))
    (row,) = json.loads(run(app, "incident", "list", "--all", "--json").stdout)
    assert (row["status"], row["resolved_at"]) == ("resolved", "2026-11-28T02:20:00+00:00")


def test_it_exits_4_when_acknowledging_a_resolved_incident(app: App) -> None:
    incident_id = open_incident(app)
    run(app, "incident", "resolve", str(incident_id))
    result = run(app, "incident", "ack", str(incident_id))
    assert (result.exit_code, result.stderr) == (
        4,
        "error: incident #1: cannot ack an incident that is resolved (only open)\n",
    )


def test_it_exits_3_when_resolving_an_unknown_incident(app: App) -> None:
    result = run(app, "incident", "resolve", "999")
    assert (result.exit_code, result.stderr) == (3, "error: incident #999 does not exist\n")
