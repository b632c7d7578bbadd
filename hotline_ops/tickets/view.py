"""Plain-dict views of tickets for the API and the CLI (times ISO in UTC).

A confidential ticket (保密) shows the caller's name and number only to the roles that work
with the caller: seat agents, supervisors and admin.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hotline_ops.core import ticket_rules as rules
from hotline_ops.store.tickets import Ticket, TicketAttachment, TicketPopup
from hotline_ops.tickets import audit, service, timers

SEES_CALLER = frozenset({"seat_agent", "supervisor", "admin", "cli"})
TIMES = (
    "created_at",
    "accepted_at",
    "dispatched_at",
    "signed_at",
    "first_response_at",
    "closed_at",
    "evaluated_at",
    "called_back_at",
    "archived_at",
    "due_at",
)


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def summary(t: Ticket, role: str = "cli") -> dict[str, Any]:
    hidden = t.confidential and role not in SEES_CALLER
    return {
        "id": t.id,
        "number": t.number,
        "status": t.status,
        "status_zh": rules.LABELS_ZH[t.status],
        "channel": t.channel,
        "urgency": t.urgency,
        "type": t.type,
        "category": t.category,
        "title": t.title,
        "caller_number": "***" if hidden else t.caller_number,
        "caller_name": "***" if hidden else t.caller_name,
        "caller_location": t.caller_location,
        "district": t.district,
        "street": t.street,
        "community": t.community,
        "tags": t.tags,
        "confidential": t.confidential,
        "synthetic": t.synthetic,
        "lead_unit": t.lead_unit,
        "assist_units": t.assist_units,
        "review": {"chain": t.review_chain, "passed": t.review_passed},
        "merged_into": t.merged_into,
        **{name: _iso(getattr(t, name)) for name in TIMES},
    }


def detail(app: Any, ticket_id: int, role: str = "cli") -> dict[str, Any]:
    with app.store.session() as session:
        t = service.get(session, ticket_id)
        earlier = service.history(session, t)
        deadlines = timers.of_ticket(session, ticket_id)
        files = list(
            session.scalars(select(TicketAttachment).where(TicketAttachment.ticket_id == ticket_id))
        )
        return {
            **summary(t, role),
            "content": t.content,
            "address": t.address,
            "reply": t.reply,
            "satisfaction": t.satisfaction,
            "extension_pending": t.extension_pending,
            "callback_attempts": t.callback_attempts,
            "allowed": [a for a in rules.allowed(t.status, _flow(t)) if a not in rules.INTERNAL],
            "deadlines": [_deadline(d) for d in deadlines],
            "attachments": [attachment(a) for a in files],
            "earlier_tickets": [
                {
                    "id": e.id,
                    "number": e.number,
                    "status": e.status,
                    "title": e.title,
                    "created_at": _iso(e.created_at),
                }
                for e in earlier
            ],
        }


def _flow(t: Ticket) -> rules.Flow:
    return rules.Flow(len(t.review_chain), t.review_passed, t.extension_pending)


def _deadline(d: Any) -> dict[str, Any]:
    state = (
        "met"
        if d.met_at
        else "cancelled"
        if d.cancelled_at
        else "fired"
        if d.fired_at
        else "pending"
    )
    return {
        "kind": d.kind,
        "purpose": d.purpose,
        "clause": d.clause,
        "due_at": _iso(d.due_at),
        "state": state,
    }


def attachment(a: TicketAttachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "size": a.size,
        "sha256": a.sha256,
        "mime": a.mime,
        "created_at": _iso(a.created_at),
        "created_by": a.created_by,
    }


def trail(app: Any, ticket_id: int) -> dict[str, Any]:
    with app.store.session() as session:
        t = service.get(session, ticket_id)
        events = audit.events_of(session, ticket_id)
        broken = audit.verify(session, t)
        return {
            "verified": broken is None,
            "broken_at": broken,
            "events": [
                {
                    "seq": e.seq,
                    "at": _iso(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "label": rules.ACTIONS[e.action].label if e.action in rules.ACTIONS else "登记",
                    "from": e.from_state,
                    "to": e.to_state,
                    "reason": e.reason,
                    "data": e.data,
                    "hash": e.hash,
                }
                for e in events
            ],
        }


def popups(app: Any, after: int, limit: int = 200) -> list[dict[str, Any]]:
    with app.store.session() as session:
        rows = session.scalars(
            select(TicketPopup).where(TicketPopup.id > after).order_by(TicketPopup.id).limit(limit)
        )
        return [
            {"id": p.id, "ticket_id": p.ticket_id, "at": _iso(p.at), "kind": p.kind, "text": p.text}
            for p in rows
        ]
