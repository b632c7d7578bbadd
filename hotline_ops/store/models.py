"""Tables. Times are stored in UTC; ``UTCDateTime`` gives them back timezone-aware on SQLite too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store naive UTC so text comparisons order correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class TargetState(Base):
    """Current health of one probe target (one row per target)."""

    __tablename__ = "target_states"
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    fails: Mapped[int] = mapped_column(Integer, default=0)
    oks: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime | None]
    checked_at: Mapped[datetime | None]
    latency_s: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[str] = mapped_column(Text, default="")
    history: Mapped[str] = mapped_column(String(64), default="")
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    # Went DOWN inside a maintenance window: open the incident if still DOWN when it ends.
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False)


class StateChange(Base):
    """Hard flips, flapping start/stop and maintenance suppressions: the probe history that
    availability and the inspection reports are computed from, beside the rollups."""

    __tablename__ = "state_changes"
    __table_args__ = (Index("ix_state_changes_target_at", "target", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(20))  # flip | flap | maintenance
    old: Mapped[str] = mapped_column(String(16), default="")
    new: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class ProbeRollup(Base):
    """One target's results over one 5-minute bucket."""

    __tablename__ = "probe_rollups"
    __table_args__ = (Index("ix_probe_rollups_bucket", "bucket"),)
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    rtt_p50: Mapped[float | None] = mapped_column(Float)
    rtt_p95: Mapped[float | None] = mapped_column(Float)
    rtt_max: Mapped[float | None] = mapped_column(Float)
    peaks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    classes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Inspection(Base):
    """A stored inspection record (daily line inspection, M1.2); the report renders it."""

    __tablename__ = "inspections"
    __table_args__ = (Index("ix_inspections_kind_day", "kind", "day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    day: Mapped[str] = mapped_column(String(10))  # local date, YYYY-MM-DD
    created_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(20))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), index=True)
    # Equal to dedup_key while open, NULL once resolved: a plain unique constraint then
    # allows exactly one open incident per key on SQLite and PostgreSQL alike.
    open_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    plan_started_at: Mapped[datetime | None]  # L1 emergency plan (M2.3a)
    mitigated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    handling: Mapped[str] = mapped_column(String(10), default="remote")  # remote | onsite
    postmortem: Mapped[str | None] = mapped_column(Text)
    escalation: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # chain snapshot
    group_key: Mapped[str | None] = mapped_column(String(300), index=True)


class IncidentEvent(Base):
    """The append-only timeline (UPDATE and DELETE are refused by database triggers)."""

    __tablename__ = "incident_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Deadline(Base):
    """A contract timer as a stored row; the timer loop claims it once when due."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_pending", "fired_at", "met_at", "due_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL for a ticket's deadline (ticket_id set instead; migration 0008).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    clause: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    # breach: the contract timer itself; warning: at `fraction` of it; escalation: chain
    # step `step`; budget: the P9.4 fault-duration warning.
    purpose: Mapped[str] = mapped_column(String(16), default="breach")
    fraction: Mapped[float | None] = mapped_column(Float)
    step: Mapped[int | None] = mapped_column(Integer)
    cancelled_at: Mapped[datetime | None]
    # Why it was cancelled (handling | level | stopped): a handling switch restores only the
    # rows a handling switch cancelled, never those a level change replaced.
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)


class OutboxMessage(Base):
    """A notification written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "status", "channel", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(300), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    # Routing (migration 0005): the person paged, their address, the channels left to fail
    # over to, and which worker holds the lease (so a restarted one can release its own).
    person: Mapped[str | None] = mapped_column(String(100))
    recipient: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failover: Mapped[list[Any]] = mapped_column(JSON, default=list)
    claimed_by: Mapped[str | None] = mapped_column(String(200))


class Alert(Base):
    """An alert from Alertmanager or the v2 alerts API, linked to the incident it feeds."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_status", "status", "ends_at"),
        # The suppression re-check of every ingest (firing AND suppressed): without it the
        # query walks every firing alert (2 ms per pass at 15 000 firing on SQLite).
        Index("ix_alerts_status_suppressed", "status", "suppressed_by"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    # Equal to fingerprint while firing, NULL once resolved: one firing row per alert.
    firing_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    labels: Mapped[dict[str, Any]] = mapped_column(JSON)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    generator_url: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    suppressed_by: Mapped[str | None] = mapped_column(String(100), index=True)  # silence:N | …
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertJournalEntry(Base):
    """Legacy (before migration 0016): journal entries kept in the store itself. The journal
    is now a file of its own (services.journal); a consumer starting adopts what is left."""

    __tablename__ = "alert_journal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    alerts: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]


class AlertJournalPosition(Base):
    """How far the consumer has ingested one journal file (services.journal): advanced in
    the transaction that opens the entries' incidents, so each entry is acted on once."""

    __tablename__ = "alert_journal_position"
    journal: Mapped[str] = mapped_column(String(32), primary_key=True)  # the file's id
    position: Mapped[int] = mapped_column(BigInteger)  # the last entry ingested
    updated_at: Mapped[datetime]


class IdBlock(Base):
    """The next id to hand out per table, on SQLite (store.ids): ids can then be reserved
    before their rows exist (an alert's first notice names its incident), which SQLite's
    max(rowid) + 1 cannot do. PostgreSQL reserves from the table's own sequence."""

    __tablename__ = "id_blocks"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_id: Mapped[int] = mapped_column(BigInteger)


class Silence(Base):
    """Alertmanager-style silence: matchers and a time range; expiring keeps the row."""

    __tablename__ = "silences"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]


from hotline_ops.store import evidence as _evidence  # noqa: E402, F401  (evidence register)
from hotline_ops.store import reports as _reports  # noqa: E402, F401  (report register)
from hotline_ops.store import routing as _routing  # noqa: E402,F401  (Alembic sees it)
from hotline_ops.store import runbooks as _runbooks  # noqa: E402, F401  (runbook runs, facts)
from hotline_ops.store import summaries as _summaries  # noqa: E402, F401  (per-day rollups)
from hotline_ops.store import tickets as _tickets  # noqa: E402, F401  (ticket tables)
