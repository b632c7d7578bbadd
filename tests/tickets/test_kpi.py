"""KPIs over a period from tickets, their stored deadlines and imported call records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline_ops.core import kpi as core
from hotline_ops.services import timers as timer_loop
from hotline_ops.store import ticket_kpi
from hotline_ops.tickets import cdr, kpi, service
from tests.tickets.helpers import HAPPY, body, ticket_site, walk

TZ = ZoneInfo("Asia/Shanghai")
MARCH = core.Period.parse("2026-03", TZ)
T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, make_app, clock, store_url):
    clock.set(T)
    return make_app(ticket_site(tmp_path / "site"), store_url)


def test_it_cuts_a_month_in_the_site_time_zone():
    assert (MARCH.start, MARCH.end) == (
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 16, 0, tzinfo=UTC),
    )


def test_it_gives_no_value_for_an_empty_denominator():
    assert core.ratio(0, 0) == {"value": None, "num": 0, "den": 0}


def test_it_counts_the_answer_rate_and_15_second_answers_from_call_records(app):
    calls = [
        {
            "call_id": "a",
            "offered_at": "2026-03-10T10:00:00+08:00",
            "answered_at": "2026-03-10T10:00:10+08:00",
        },
        {
            "call_id": "b",
            "offered_at": "2026-03-10T10:01:00+08:00",
            "answered_at": "2026-03-10T10:01:20+08:00",
        },
        {"call_id": "c", "offered_at": "2026-03-10T10:02:00+08:00"},
        {"call_id": "d", "offered_at": "2026-04-01T10:02:00+08:00"},
    ]
    cdr.store(app, [cdr.CallIn(**c) for c in calls])
    figures = kpi.compute(app, period=MARCH)["kpi"]
    assert (
        figures["answer_rate"]["num"],
        figures["answer_rate"]["den"],
        figures["answer_15s_rate"]["value"],
    ) == (2, 3, 0.5)


def test_it_skips_call_records_already_imported(app):
    call = cdr.CallIn(call_id="a", offered_at="2026-03-10T10:00:00+08:00")
    cdr.store(app, [call])
    assert cdr.store(app, [call]) == {"added": 0, "skipped": 1}


def test_it_counts_dispatch_on_time_from_the_stored_deadlines(app, clock):
    on_time = service.create(app, body=body(), actor="s")
    walk(app, on_time.id, HAPPY[:2])
    late = service.create(app, body=body(), actor="s")
    walk(app, late.id, HAPPY[:1])
    clock.advance(timedelta(minutes=31))
    timer_loop.fire_due(app)
    walk(app, late.id, HAPPY[1:2])
    assert kpi.compute(app, period=MARCH)["kpi"]["dispatch_on_time"] == core.ratio(1, 2)


def test_it_counts_closing_pass_rate_with_failed_completeness_checks(app):
    from hotline_ops.errors import BadRequest

    ticket = service.create(app, body=body(), actor="s")
    walk(
        app,
        ticket.id,
        [*HAPPY[:4], ("submit", {"reply": "短", "handler": "李", "measures": "m"}), *HAPPY[5:8]],
    )
    with pytest.raises(BadRequest):
        walk(app, ticket.id, [("close", {})])
    walk(app, ticket.id, [("reject", {"reason": "答复过短"}), *HAPPY[4:9]])
    figures = kpi.compute(app, period=MARCH)["kpi"]
    assert (figures["closing_pass_rate"], figures["return_rate"]) == (
        core.ratio(1, 2),
        core.ratio(1, 1),
    )


def test_it_rates_satisfaction_per_dimension_with_custom_items(app):
    ticket = service.create(app, body=body(), actor="s")
    scores = {"via": "seat", "attitude": 3, "efficiency": 1, "result": 2, "custom": {"时效": 1}}
    walk(app, ticket.id, [*HAPPY[:9], ("evaluate", {"satisfaction": scores})])
    sat = kpi.compute(app, period=MARCH)["kpi"]["satisfaction"]
    assert {k: v["value"] for k, v in sat.items()} == {
        "attitude": 1.0,
        "efficiency": 0.0,
        "result": 1.0,
        "时效": 0.0,
    }


def test_it_counts_evaluation_coverage_over_closed_tickets(app):
    for evaluated in (True, False):
        ticket = service.create(app, body=body(), actor="s")
        walk(app, ticket.id, HAPPY[:10] if evaluated else HAPPY[:9])
    assert kpi.compute(app, period=MARCH)["kpi"]["evaluation_coverage"] == core.ratio(1, 2)


def test_it_counts_a_caller_back_on_the_same_subject_within_30_days_as_a_repeat(app, clock):
    service.create(app, body=body(), actor="s")
    clock.advance(timedelta(days=3))
    service.create(app, body=body(), actor="s")  # same caller, same subject: a repeat
    service.create(app, body=body(category="030101"), actor="s")  # another subject
    assert kpi.compute(app, period=MARCH)["kpi"]["repeat_call_rate"] == core.ratio(1, 3)


def test_the_parallel_queries_give_what_one_session_gives(app, clock):
    # kpi.compute runs the five KPI queries at once (ticket_kpi.measure_in); the reports
    # run them in one session (ticket_kpi.measure): the figures must be the same.
    scores = {"via": "seat", "attitude": 3, "efficiency": 1, "result": 2}
    first = service.create(app, body=body(), actor="s")
    walk(app, first.id, [*HAPPY[:9], ("evaluate", {"satisfaction": scores})])
    clock.advance(timedelta(days=2))
    service.create(app, body=body(), actor="s")  # a repeat, still open
    service.create(app, body=body(category="030101"), actor="s")
    with app.store.read() as session:
        one_session = ticket_kpi.measure(session, MARCH.start, MARCH.end)
    parallel = ticket_kpi.measure_in(app.store, MARCH.start, MARCH.end)
    assert (parallel, parallel["repeat_call_rate"], parallel["evaluation_coverage"]) == (
        one_session,
        core.ratio(1, 3),
        core.ratio(1, 1),
    )
