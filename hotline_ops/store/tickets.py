"""Ticket-service tables (12345 work orders): tickets, their hash-chained audit trail, API
tokens (hashed), attachments, console popups and imported call records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline_ops.store.models import Base


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_created", "status", "created_at"),
        Index("ix_tickets_caller_created", "caller_number", "created_at"),
        Index("ix_tickets_category", "category"),
        Index("ix_tickets_district_id", "district", "id"),
        Index("ix_tickets_due", "due_at"),
        Index("ix_tickets_created", "created_at"),
        # A status + region search page: two backward index ranges (service.search_rows).
        Index("ix_tickets_status_district_urgency_id", "status", "district", "urgency", "id"),
        # The same for a status without pinned tickets: one backward range (migration 0017).
        Index("ix_tickets_status_district_id", "status", "district", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # P1.1
    caller_number: Mapped[str] = mapped_column(String(32))
    caller_name: Mapped[str] = mapped_column(String(100), default="")
    caller_location: Mapped[str] = mapped_column(String(100), default="")  # P1.3
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))  # consultation … report
    category: Mapped[str] = mapped_column(String(6))  # 3-level code, 2 digits a level
    district: Mapped[str] = mapped_column(String(50))
    street: Mapped[str] = mapped_column(String(50), default="")
    community: Mapped[str] = mapped_column(String(50), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    # Made by the P9.1 probe: left out of searches and KPIs.
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    lead_unit: Mapped[str | None] = mapped_column(String(100))
    assist_units: Mapped[list[Any]] = mapped_column(JSON, default=list)
    review_chain: Mapped[list[Any]] = mapped_column(JSON, default=list)  # snapshot at intake
    review_passed: Mapped[int] = mapped_column(Integer, default=0)
    extension_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_days: Mapped[int] = mapped_column(Integer, default=0)
    reply: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    satisfaction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    returns: Mapped[int] = mapped_column(Integer, default=0)
    closing_failures: Mapped[int] = mapped_column(Integer, default=0)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    merged_into: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    dispatched_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    evaluated_at: Mapped[datetime | None]
    called_back_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]  # the working-day handling deadline
    updated_at: Mapped[datetime]
    last_hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer, default=0)


class TicketEvent(Base):
    """The audit trail: append-only (database triggers), each row hash-chained to the one
    before it on the same ticket (core.ticket_rules.chain_hash)."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class TicketToken(Base):
    """An API token: only its sha256 is stored; the value is shown once at creation."""

    __tablename__ = "ticket_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class TicketAttachment(Base):
    __tablename__ = "ticket_attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    mime: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))


class TicketPopup(Base):
    """A console popup (P8.2): written with the SMS warning, marked seen by the console."""

    __tablename__ = "ticket_popups"
    __table_args__ = (Index("ix_ticket_popups_unseen", "seen_at", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime | None]


class CallRecord(Base):
    """One offered call from the ACD's CDR export (接通率, 15 s answer rate: R3.2)."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_offered", "offered_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(100), unique=True)
    caller: Mapped[str] = mapped_column(String(32), default="")
    offered_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    wait_s: Mapped[float | None] = mapped_column(Float)
