"""Ticket service: tickets, hash-chained audit trail (append-only), hashed API tokens,
attachments, console popups, call records; deadlines may belong to a ticket.

Revision ID: 0008
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APPEND_ONLY = ("ticket_events",)


def upgrade() -> None:
    _tickets()
    _events()
    _side_tables()
    with op.batch_alter_table("deadlines") as batch:
        batch.alter_column("incident_id", existing_type=sa.Integer, nullable=True)
        batch.add_column(sa.Column("ticket_id", sa.Integer))
        batch.create_foreign_key("fk_deadlines_ticket_id", "tickets", ["ticket_id"], ["id"])
        batch.create_index("ix_deadlines_ticket_id", ["ticket_id"])
    for table in APPEND_ONLY:
        _append_only(table)


def _tickets() -> None:
    at = UTCDateTime
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("caller_number", sa.String(32), nullable=False),
        sa.Column("caller_name", sa.String(100), nullable=False),
        sa.Column("caller_location", sa.String(100), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("category", sa.String(6), nullable=False),
        sa.Column("district", sa.String(50), nullable=False),
        sa.Column("street", sa.String(50), nullable=False),
        sa.Column("community", sa.String(50), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("urgency", sa.String(8), nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("confidential", sa.Boolean, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lead_unit", sa.String(100)),
        sa.Column("assist_units", sa.JSON, nullable=False),
        sa.Column("review_chain", sa.JSON, nullable=False),
        sa.Column("review_passed", sa.Integer, nullable=False),
        sa.Column("extension_pending", sa.Boolean, nullable=False),
        sa.Column("extension_days", sa.Integer, nullable=False),
        sa.Column("reply", sa.JSON, nullable=False),
        sa.Column("satisfaction", sa.JSON),
        sa.Column("returns", sa.Integer, nullable=False),
        sa.Column("closing_failures", sa.Integer, nullable=False),
        sa.Column("callback_attempts", sa.Integer, nullable=False),
        sa.Column("merged_into", sa.Integer),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", at(), nullable=False),
        *[
            sa.Column(name, at())
            for name in (
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
        ],
        sa.Column("updated_at", at(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
    )
    for name, cols in (
        ("ix_tickets_status_created", ["status", "created_at"]),
        ("ix_tickets_caller_created", ["caller_number", "created_at"]),
        ("ix_tickets_category", ["category"]),
        ("ix_tickets_district", ["district"]),
        ("ix_tickets_due", ["due_at"]),
        ("ix_tickets_created", ["created_at"]),
    ):
        op.create_index(name, "tickets", cols)


def _events() -> None:
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("ticket_id", "seq", name="uq_ticket_events_seq"),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id"])


def _side_tables() -> None:
    op.create_table(
        "ticket_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(100), nullable=False),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_index("ix_ticket_attachments_ticket_id", "ticket_attachments", ["ticket_id"])
    op.create_table(
        "ticket_popups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("seen_at", UTCDateTime()),
    )
    op.create_index("ix_ticket_popups_ticket_id", "ticket_popups", ["ticket_id"])
    op.create_index("ix_ticket_popups_unseen", "ticket_popups", ["seen_at", "id"])
    op.create_table(
        "call_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(100), nullable=False, unique=True),
        sa.Column("caller", sa.String(32), nullable=False),
        sa.Column("offered_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime()),
        sa.Column("wait_s", sa.Float),
    )
    op.create_index("ix_call_records_offered", "call_records", ["offered_at"])


def _append_only(table: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger AS $$ BEGIN "
        f"RAISE EXCEPTION '{table} is append-only'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
    )


def downgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_index("ix_deadlines_ticket_id")
        batch.drop_constraint("fk_deadlines_ticket_id", type_="foreignkey")
        batch.drop_column("ticket_id")
    for table in ("call_records", "ticket_popups", "ticket_attachments", "ticket_tokens"):
        op.drop_table(table)
    op.drop_table("ticket_events")
    op.drop_table("tickets")
    if op.get_bind().dialect.name != "sqlite":
        for table in APPEND_ONLY:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
