"""The ticket audit trail: one hash-chained, append-only event per step (P3.2, R3.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_ops.core import ticket_rules as rules
from hotline_ops.store.tickets import Ticket, TicketEvent


def append(
    session: Session,
    ticket: Ticket,
    *,
    now: datetime,
    actor: str,
    action: str,
    to_state: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Add the next event on the ticket's chain and move the ticket's chain head.

    The ticket row is locked by the caller (``get_for_update``), so two writers can never
    chain onto the same head; the unique (ticket_id, seq) catches it if one ever did."""
    seq = ticket.events + 1
    content = _content(
        ticket.id, seq, now, actor, action, ticket.status, to_state, reason, data or {}
    )
    event = TicketEvent(
        ticket_id=ticket.id,
        seq=seq,
        at=now,
        actor=actor,
        action=action,
        from_state=ticket.status,
        to_state=to_state,
        reason=reason,
        data=data or {},
        prev_hash=ticket.last_hash,
        hash=rules.chain_hash(ticket.last_hash, content),
    )
    session.add(event)
    ticket.events, ticket.last_hash, ticket.status = seq, event.hash, to_state
    ticket.updated_at = now
    return event


def _content(
    ticket_id: int,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    from_state: str,
    to_state: str,
    reason: str,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "ticket": ticket_id,
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "from": from_state,
        "to": to_state,
        "reason": reason,
        "data": data,
    }


def content_of(event: TicketEvent) -> dict[str, Any]:
    return _content(
        event.ticket_id,
        event.seq,
        event.at,
        event.actor,
        event.action,
        event.from_state,
        event.to_state,
        event.reason,
        event.data,
    )


def events_of(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.seq)
        )
    )


def verify(session: Session, ticket: Ticket) -> int | None:
    """Index of the first broken event, or None when the whole chain and head hold."""
    events = events_of(session, ticket.id)
    broken = rules.verify_chain([(e.prev_hash, e.hash, content_of(e)) for e in events])
    if broken is not None:
        return broken
    head = events[-1].hash if events else rules.GENESIS
    return None if head == ticket.last_hash and len(events) == ticket.events else len(events)
