"""Tables for alert routing: on-call overrides added from the CLI, the delivery log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_ops.core import roster as core
from hotline_ops.store.models import Base


class OncallOverride(Base):
    """Somebody takes a roster for [starts_at, ends_at); with ``replaces``, a swap."""

    __tablename__ = "oncall_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    roster: Mapped[str] = mapped_column(String(100), index=True)
    person: Mapped[str] = mapped_column(String(100))
    replaces: Mapped[str | None] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


def stored_overrides(session: Session) -> list[core.Override]:
    """The overrides added from the CLI, oldest first (later ones win)."""
    rows = session.scalars(select(OncallOverride).order_by(OncallOverride.id)).all()
    return [
        core.Override(r.roster, r.person, r.starts_at, r.ends_at, r.replaces, f"cli:{r.actor}")
        for r in rows
    ]


class DeliveryAttempt(Base):
    """One try to deliver one outbox message: append-only, shown by `incident show`."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(100))
    person: Mapped[str | None] = mapped_column(String(100))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # sent | retry | failed | failover
    error: Mapped[str] = mapped_column(Text, default="")
