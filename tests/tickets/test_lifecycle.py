"""The 12345 lifecycle through the service, on SQLite and PostgreSQL (P1–P7, P3.2)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.store.tickets import Ticket, TicketEvent
from hotline_ops.tickets import audit, service
from hotline_ops.tickets.schemas import ActionIn
from tests.tickets.helpers import HAPPY, REPLY, body, ticket_site, walk


@pytest.fixture
def app(tmp_path, make_app, store_url):
    return make_app(ticket_site(tmp_path / "site"), store_url)


def _events(app, ticket_id):
    with app.store.session() as session:
        return [(e.action, e.from_state, e.to_state) for e in audit.events_of(session, ticket_id)]


def test_it_walks_a_ticket_from_intake_to_archive_with_one_event_per_step(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY)
    events = _events(app, ticket.id)
    assert [e[0] for e in events] == ["create"] + [a for a, _ in HAPPY]
    assert events[-1] == ("archive", "called_back", "archived")


def test_it_records_the_intake_channel_and_caller_location(app):
    ticket = service.create(app, body=body(channel="wechat"), actor="seat-07")
    assert (ticket.channel, ticket.caller_location) == ("wechat", "广西梧州市")


def test_it_dispatches_by_the_catalogue_to_a_lead_and_assisting_units(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:2])
    with app.store.session() as session:
        row = session.get(Ticket, ticket.id)
        assert (row.lead_unit, row.assist_units) == ("wz-env", ["wanxiu-gov"])


def test_it_refuses_signing_a_ticket_not_yet_dispatched(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    with pytest.raises(IllegalTransition, match=r"cannot sign .* received"):
        service.act(app, ticket_id=ticket.id, action="sign", actor="u", body=ActionIn())
    assert _events(app, ticket.id) == [("create", "received", "received")]


def test_it_needs_every_review_level_before_closing(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:7])  # two of the three 0401 review levels
    with pytest.raises(IllegalTransition, match="cannot close"):
        walk(app, ticket.id, [("close", {})])


def test_it_stores_a_failed_completeness_check_and_refuses_the_close(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    steps = [*HAPPY[:4], ("submit", {**REPLY, "measures": None}), *HAPPY[5:8]]
    walk(app, ticket.id, steps)
    with pytest.raises(BadRequest, match="missing measures"):
        walk(app, ticket.id, [("close", {})])
    assert _events(app, ticket.id)[-1] == ("close_check_failed", "reviewed", "reviewed")


def test_it_returns_an_objected_ticket_to_the_dispatcher_after_review(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(
        app,
        ticket.id,
        [
            *HAPPY[:2],
            ("object", {"reason": "不属于本单位职责"}),
            ("objection_approve", {}),
            ("dispatch", {"lead_unit": "wz-housing"}),
        ],
    )
    with app.store.session() as session:
        assert session.get(Ticket, ticket.id).lead_unit == "wz-housing"


def test_it_refuses_an_objection_without_a_reason(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:2])
    with pytest.raises(BadRequest, match="reason: required"):
        walk(app, ticket.id, [("object", {})])


def test_it_merges_a_duplicate_into_the_main_ticket(app):
    main = service.create(app, body=body(), actor="seat-07")
    dup = service.create(app, body=body(caller_number="13977400001"), actor="seat-07")
    walk(app, dup.id, [("merge", {"into": main.id})])
    with app.store.session() as session:
        row = session.get(Ticket, dup.id)
        assert (row.status, row.merged_into) == ("merged", main.id)


def test_it_keeps_an_unbroken_hash_chain(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY)
    with app.store.session() as session:
        assert audit.verify(session, session.get(Ticket, ticket.id)) is None


def test_it_refuses_editing_the_audit_trail(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    with pytest.raises(Exception, match="append-only"), app.store.session() as session:
        session.execute(text("UPDATE ticket_events SET actor = 'x'"))
    with app.store.session() as session:
        assert (
            session.scalar(select(TicketEvent.actor).where(TicketEvent.ticket_id == ticket.id))
            == "seat-07"
        )


def test_it_moves_the_handling_deadline_by_an_approved_extension(tmp_path, make_app, clock):
    from datetime import UTC, datetime

    from tests.tickets.test_deadlines import OCT8, _due

    app = make_app(ticket_site(tmp_path / "x"))
    clock.set(OCT8)
    ticket = service.create(app, body=body(type="consultation", category="030101"), actor="s")
    walk(
        app,
        ticket.id,
        [
            *HAPPY[:3],
            ("extend_request", {"reason": "需现场勘查", "days": 2}),
            ("extend_approve", {}),
        ],
    )
    # Due end of Sat 10 Oct (make-up day); 2 more working days: Mon 12, Tue 13 Oct.
    assert _due(app, ticket.id, "complete") == datetime(2026, 10, 13, 16, 0, tzinfo=UTC)


def test_it_refuses_approving_an_extension_nobody_asked_for(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:3])
    with pytest.raises(IllegalTransition, match="no extension request is pending"):
        walk(app, ticket.id, [("extend_approve", {})])


def test_it_refuses_redispatching_to_the_same_unit(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:2])
    with pytest.raises(BadRequest, match="another unit"):
        walk(app, ticket.id, [("redispatch", {"reason": "改派", "lead_unit": "wz-env"})])


def test_it_redispatches_to_another_unit_keeping_the_old_one_in_the_trail(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(
        app,
        ticket.id,
        [*HAPPY[:2], ("redispatch", {"reason": "职责调整", "lead_unit": "wz-housing"})],
    )
    with app.store.session() as session:
        last = audit.events_of(session, ticket.id)[-1]
    assert (last.data["from_unit"], last.data["lead_unit"]) == ("wz-env", "wz-housing")


def test_it_records_the_filled_in_callback_script(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, [*HAPPY[:9], ("callback", {})])
    with app.store.session() as session:
        last = audit.events_of(session, ticket.id)[-1]
        number = session.get(Ticket, ticket.id).number
    assert (last.data["script"], number in last.data["text"]) == ("default", True)


def test_it_refuses_an_unknown_callback_script(app):
    ticket = service.create(app, body=body(), actor="seat-07")
    walk(app, ticket.id, HAPPY[:9])
    with pytest.raises(BadRequest, match="script: unknown callback script 'x'"):
        walk(app, ticket.id, [("callback", {"script": "x"})])
