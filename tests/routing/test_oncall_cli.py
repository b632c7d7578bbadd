"""`hotline-ops oncall …`, `notify test` and the delivery log in `incident show`, through the
real CLI with a pinned clock (T0: Sat 28 Nov 2026 10:00 in Wuzhou)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from hotline_ops.cli.main import cli
from hotline_ops.notify import fake
from hotline_ops.services import outbox
from tests.support.content import write_content
from tests.support.roster import CHANNELS, ROSTER, write_roster

COVERED = ROSTER.replace(
    "members: [wang-qiang], days: workdays}",
    "members: [wang-qiang], days: workdays}\n"
    '      - {name: weekend, rotation: daily, handoff: "09:00", start: 2026-01-01,\n'
    "         members: [chen-jing], days: holidays}",
)


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def site(tmp_path):
    return write_content(tmp_path / "site", channels=CHANNELS)


def run(app, *args):
    return CliRunner().invoke(cli, list(args), obj=app)


def build(make_app, site, text=ROSTER):
    write_roster(site, text)
    return make_app(site)


def test_it_names_who_is_on_call_now(make_app, site):
    app = build(make_app, site)
    data = json.loads(run(app, "oncall", "now", "--json").output)
    primary = next(r for r in data["rosters"] if r["roster"] == "ops-primary")
    assert (primary["person"]["name"], primary["via"]) == ("李娜", "layer holiday")
    assert data["roles"]["after-sales-manager"]["name"] == "赵敏"


def test_it_shows_the_handoff_into_monday_at_month_end(make_app, site):
    app = build(make_app, site)
    result = run(
        app,
        "oncall",
        "show",
        "--roster",
        "ops-primary",
        "--from",
        "2026-11-29 12:00",
        "--to",
        "2026-11-30 12:00",
        "--json",
    )
    rows = [(r["start"], r["person"]) for r in json.loads(result.output)]
    assert rows == [
        ("2026-11-29T04:00:00+00:00", "chen-jing"),  # Sunday: holiday layer
        ("2026-11-30T01:00:00+00:00", "wang-qiang"),  # Mon 30 Nov 09:00: week 47 -> index 2
    ]


def test_it_fails_the_check_naming_every_gap_in_site_time(make_app, site):
    app = build(make_app, site)
    result = run(app, "oncall", "check", "--days", "3")
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        "GAP ops-secondary: 2026-11-28 10:00:00 – 2026-11-30 09:00:00 (no layer active)",
        "FAILED: 1 gap(s) in 2026-11-28 10:00:00 – 2026-12-01 10:00:00 (Asia/Shanghai)",
    ]


def test_it_passes_the_check_when_every_minute_is_covered(make_app, site):
    app = build(make_app, site, COVERED)
    result = run(app, "oncall", "check", "--days", "30")
    assert (result.exit_code, result.output.splitlines()[-1]) == (
        0,
        "OK: every roster covered 7×24 from 2026-11-28 10:00:00 – 2026-12-28 10:00:00 "
        "(Asia/Shanghai)",
    )


def test_it_fails_the_check_into_a_year_without_a_holiday_calendar(make_app, site):
    app = build(make_app, site, COVERED)
    result = run(app, "oncall", "check", "--days", "40", "--json")
    data = json.loads(result.output)
    assert (result.exit_code, data["gaps"], data["unknown_calendar_years"]) == (1, [], [2027])


def test_it_closes_a_gap_with_a_stored_override_and_records_the_actor(make_app, site):
    app = build(make_app, site)
    added = run(
        app,
        "oncall",
        "override",
        "add",
        "--roster",
        "ops-secondary",
        "--person",
        "zhang-wei",
        "--from",
        "2026-11-28 09:00",
        "--to",
        "2026-11-30 09:00",
        "--actor",
        "liu-yang",
        "--reason",
        "周末顶班",
    )
    check = run(app, "oncall", "check", "--days", "3", "--json")
    listed = json.loads(run(app, "oncall", "override", "list", "--json").output)
    assert added.exit_code == 0, added.output
    assert (check.exit_code, json.loads(check.output)["gaps"]) == (0, [])
    assert [(r["person"], r["source"], r["actor"], r["reason"]) for r in listed] == [
        ("zhang-wei", "store", "liu-yang", "周末顶班")
    ]


def test_it_refuses_an_override_for_an_unknown_person_and_stores_nothing(make_app, site):
    app = build(make_app, site)
    bad = run(
        app,
        "oncall",
        "override",
        "add",
        "--roster",
        "ops-primary",
        "--person",
        "nobody",
        "--hours",
        "2",
    )
    listed = json.loads(run(app, "oncall", "override", "list", "--json").output)
    assert (bad.exit_code, bad.output.strip(), listed) == (
        8,
        "error: --person: unknown person 'nobody'",
        [],
    )


def test_it_refuses_a_malformed_from_time(make_app, site):
    app = build(make_app, site)
    result = run(app, "oncall", "show", "--from", "28.11.2026", "--to", "2026-11-29")
    assert (result.exit_code, result.output.strip()) == (
        8,
        "error: --from: '28.11.2026' is not YYYY-MM-DD[ HH:MM] (site time)",
    )


def test_it_sends_a_chinese_test_message_to_a_person_now(make_app, site):
    app = build(make_app, site)
    result = run(app, "notify", "test", "backup", "zhang-wei")
    [message] = fake.SENT["backup"]
    assert result.exit_code == 0, result.output
    assert (message.recipient.phone, message.text.splitlines()[1]) == (
        "13800001001",
        "张伟，您好：这是一条测试消息，经 backup 渠道发送，发送时间 2026-11-28 10:00:00。"
        "收到即表示该渠道可以联系到您，无需回复。",
    )


def test_it_exits_with_the_channel_error_when_a_test_message_fails(make_app, site):
    app = build(make_app, site)
    fake.outage("pager", permanent=True)
    result = run(app, "notify", "test", "pager", "after-sales-manager")
    assert (result.exit_code, result.output.strip()) == (7, "error: fake channel 'pager': down")


def test_it_shows_the_delivery_log_in_incident_show(make_app, site):
    app = build(make_app, site)
    opened = json.loads(
        run(app, "incident", "open", "--title", "中继中断", "--level", "2", "--json").output
    )
    fake.outage("ops")
    outbox.deliver_due(app)
    app.clock.set(datetime(2026, 11, 28, 2, 0, 2, tzinfo=UTC))
    fake.restore("ops")
    outbox.deliver_due(app)
    data = json.loads(run(app, "incident", "show", str(opened["id"]), "--json").output)
    assert [
        (a["channel"], a["attempt"], a["status"], a["error"]) for a in data["delivery_log"]
    ] == [("ops", 1, "retry", "fake channel 'ops': down"), ("ops", 2, "sent", "")]


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Month end: Mon 30 Nov 2026, 08:59 is Sunday's holiday duty, 09:00 the weekly handoff.
        (datetime(2026, 11, 30, 0, 59, tzinfo=UTC), ("chen-jing", "layer holiday")),
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), ("wang-qiang", "layer weekly")),
        # National Day: 1 Oct 09:00 the holiday layer takes over from Wednesday's weekly duty.
        (datetime(2026, 10, 1, 0, 59, tzinfo=UTC), ("wang-qiang", "layer weekly")),
        (datetime(2026, 10, 1, 1, 0, tzinfo=UTC), ("li-na", "layer holiday")),
        # Make-up working days (调休上班): Sun 20 Sep and Sat 10 Oct keep the weekly rotation.
        (datetime(2026, 9, 20, 4, 0, tzinfo=UTC), ("zhang-wei", "layer weekly")),
        (datetime(2026, 10, 10, 4, 0, tzinfo=UTC), ("zhang-wei", "layer weekly")),
    ],
)
def test_it_hands_over_at_month_end_holidays_and_make_up_days(make_app, site, clock, utc, expected):
    app = build(make_app, site)
    clock.set(utc)
    data = json.loads(run(app, "oncall", "now", "--json").output)
    primary = next(r for r in data["rosters"] if r["roster"] == "ops-primary")
    assert (primary["person"]["key"], primary["via"]) == expected
