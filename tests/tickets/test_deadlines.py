"""Ticket deadlines: minute timers, working days on the Chinese calendar with make-up
working days, P8.2 warnings as an SMS outbox message and a console popup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import select

from hotline_ops.services import timers as timer_loop
from hotline_ops.store.models import Deadline, Incident, IncidentEvent, OutboxMessage
from hotline_ops.store.tickets import Ticket, TicketPopup
from hotline_ops.tickets import audit, service, timers
from tests.tickets.helpers import HAPPY, body, ticket_site, walk

SEP30 = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wed 10:00, the eve of National Day
OCT8 = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)  # Thu 10:00, first day back
DEC30 = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, make_app, store_url):
    return make_app(ticket_site(tmp_path / "site"), store_url)


def _due(app, ticket_id, kind, purpose=timers.BREACH):
    with app.store.session() as session:
        return session.scalar(
            select(Deadline.due_at).where(
                Deadline.ticket_id == ticket_id,
                Deadline.kind == kind,
                Deadline.purpose == purpose,
                Deadline.cancelled_at.is_(None),
            )
        )


def _accepted(app, clock, at, **fields):
    clock.set(at)
    ticket = service.create(app, body=body(**fields), actor="seat")
    walk(app, ticket.id, HAPPY[:1])
    return ticket


def test_it_gives_dispatch_30_minutes_from_acceptance(app, clock):
    ticket = _accepted(app, clock, OCT8)
    assert _due(app, ticket.id, "dispatch") == OCT8 + timedelta(minutes=30)


def test_it_gives_an_urgent_ticket_5_minutes_to_first_response(app, clock):
    clock.set(OCT8)
    ticket = service.create(app, body=body(urgency="urgent"), actor="seat")
    assert _due(app, ticket.id, "first_response") == OCT8 + timedelta(minutes=5)


def test_it_warns_a_short_deadline_at_half_its_span(app, clock):
    clock.set(OCT8)
    ticket = service.create(app, body=body(urgency="urgent"), actor="seat")
    warn = _due(app, ticket.id, "first_response", timers.WARNING)
    assert warn == OCT8 + timedelta(minutes=2, seconds=30)


def test_it_skips_the_national_day_holiday(app, clock):
    ticket = _accepted(app, clock, SEP30, type="consultation", category="030101")
    # 2 working days after Wed 30 Sep: Thu 8 and Fri 9 Oct; due at the end of 9 Oct.
    assert _due(app, ticket.id, "complete") == datetime(2026, 10, 9, 16, 0, tzinfo=UTC)


def test_it_counts_the_make_up_saturday_as_a_working_day(app, clock):
    ticket = _accepted(app, clock, OCT8, type="consultation", category="030101")
    # Fri 9 Oct, then Sat 10 Oct (调休 make-up working day): due at the end of 10 Oct.
    assert _due(app, ticket.id, "complete") == datetime(2026, 10, 10, 16, 0, tzinfo=UTC)


def test_it_stores_the_handling_deadline_on_the_ticket(app, clock):
    ticket = _accepted(app, clock, OCT8, type="consultation", category="030101")
    with app.store.session() as session:
        assert session.get(Ticket, ticket.id).due_at == datetime(2026, 10, 10, 16, tzinfo=UTC)


def test_it_warns_60_minutes_before_the_handling_deadline(app, clock):
    ticket = _accepted(app, clock, OCT8, type="consultation", category="030101")
    warn = _due(app, ticket.id, "complete", timers.WARNING)
    assert warn == datetime(2026, 10, 10, 15, 0, tzinfo=UTC)


def test_it_sends_the_warning_by_sms_and_as_a_console_popup(app, clock):
    ticket = _accepted(app, clock, OCT8, type="consultation", category="030101")
    walk(app, ticket.id, HAPPY[1:4])  # dispatch and respond: those timers are met
    clock.set(datetime(2026, 10, 10, 15, 0, tzinfo=UTC))
    assert timer_loop.fire_due(app) == 1
    with app.store.session() as session:
        sms = session.scalars(select(OutboxMessage)).one()
        popup = session.scalars(select(TicketPopup)).one()
        assert (sms.channel, sms.data["kind"], sms.data["deadline"]) == ("ops", "sms", "complete")
        assert popup.text == sms.text
        assert "10-11 00:00" in sms.text


def test_it_fires_nothing_for_a_deadline_already_met(app, clock):
    ticket = _accepted(app, clock, OCT8)
    walk(app, ticket.id, HAPPY[1:2])
    clock.set(OCT8 + timedelta(minutes=31))
    assert timer_loop.fire_due(app) == 0


def test_it_audits_a_dispatch_breach(app, clock):
    ticket = _accepted(app, clock, OCT8)
    clock.set(OCT8 + timedelta(minutes=30))
    timer_loop.fire_due(app)  # the warning (15 min) and the breach (30 min)
    with app.store.session() as session:
        reasons = [e.reason for e in audit.events_of(session, ticket.id) if e.action == "timer"]
    assert [r.endswith("P3.1）") for r in reasons] == [False, True]


def test_dispatch_breaches_gather_in_one_incident_with_an_event_per_ticket(app, clock):
    first = _accepted(app, clock, OCT8)
    second = _accepted(app, clock, OCT8 + timedelta(minutes=5))
    clock.set(OCT8 + timedelta(minutes=35))
    timer_loop.fire_due(app)  # two warnings, two breaches
    with app.store.session() as session:
        incident = session.scalars(select(Incident)).one()
        events = [
            e.data
            for e in session.scalars(select(IncidentEvent).order_by(IncidentEvent.id))
            if e.kind == "ticket_breach"
        ]
        numbers = [session.get(Ticket, t.id).number for t in (first, second)]
    assert (incident.dedup_key, incident.title, incident.labels["deadline"]) == (
        "tickets:sla-breach:dispatch",
        "工单派单时限超时（P3.1）",
        "dispatch",
    )
    assert [(e["ticket"], e["first"]) for e in events] == [
        (numbers[0], True),
        (numbers[1], False),
    ]


def test_a_warning_alone_opens_no_incident(app, clock):
    _accepted(app, clock, OCT8)
    clock.set(OCT8 + timedelta(minutes=15))
    assert timer_loop.fire_due(app) == 1
    with app.store.session() as session:
        assert session.scalars(select(Incident)).all() == []


def test_it_gives_a_normal_callback_24_hours_from_closing(app, clock):
    ticket = _accepted(app, clock, OCT8)
    walk(app, ticket.id, HAPPY[1:9])
    assert _due(app, ticket.id, "callback") == OCT8 + timedelta(hours=24)


def test_it_gives_an_urgent_callback_1_hour_from_closing(app, clock):
    ticket = _accepted(app, clock, OCT8, urgency="urgent")
    walk(app, ticket.id, HAPPY[1:9])
    assert _due(app, ticket.id, "callback") == OCT8 + timedelta(hours=1)


def test_it_schedules_a_redial_after_an_unanswered_callback(app, clock):
    ticket = _accepted(app, clock, OCT8)
    walk(app, ticket.id, [*HAPPY[1:9], ("callback_missed", {})])
    clock.set(OCT8 + timedelta(minutes=30))
    timer_loop.fire_due(app)
    with app.store.session() as session:
        kinds = [p.kind for p in session.scalars(select(TicketPopup))]
    assert "ticket_redial:redial" in kinds


def test_it_raises_an_alert_for_a_deadline_in_a_year_without_calendar_data(app, clock):
    _accepted(app, clock, DEC30)  # complaint: 15 working days run into 2027
    with app.store.session() as session:
        incident = session.scalars(select(Incident)).one()
    assert (incident.dedup_key, incident.labels["year"]) == (
        "tickets:calendar-missing:2027",
        "2027",
    )


def test_it_leaves_the_deadline_unset_rather_than_guessing_weekdays(app, clock):
    ticket = _accepted(app, clock, DEC30)
    assert _due(app, ticket.id, "complete") is None


def test_it_uses_a_year_added_in_calendar_yaml(tmp_path, make_app, clock):
    root = ticket_site(tmp_path / "site")
    days = {"holidays": ["2027-01-01"], "workdays": []}
    (tmp_path / "site" / "tickets" / "calendar.yaml").write_text(
        yaml.safe_dump({"years": {2027: days}}), encoding="utf-8"
    )
    app = make_app(root)
    ticket = _accepted(app, clock, DEC30, type="consultation", category="030101")
    # Thu 31 Dec, (Fri 1 Jan 2027 is a holiday), Mon 4 Jan: due at the end of 4 Jan.
    assert _due(app, ticket.id, "complete") == datetime(2027, 1, 4, 16, 0, tzinfo=UTC)


def test_it_finds_open_tickets_past_their_handling_deadline(app, clock):
    from hotline_ops.tickets.schemas import SearchIn

    late = _accepted(app, clock, OCT8, type="consultation", category="030101")
    _accepted(app, clock, OCT8)  # a complaint: 15 working days, not yet due
    clock.set(datetime(2026, 10, 11, 1, 0, tzinfo=UTC))
    rows, _ = service.search(app, query=SearchIn(overdue=True))
    assert [t.id for t in rows] == [late.id]
