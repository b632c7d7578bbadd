"""Initial schema: target states, probe results, incidents, timeline, deadlines, outbox.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("incident_events",)


def upgrade() -> None:
    _target_tables()
    _incident_tables()
    _outbox()
    for table in APPEND_ONLY:
        _append_only(table)


def _target_tables() -> None:
    op.create_table(
        "target_states",
        sa.Column("target", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fails", sa.Integer, nullable=False),
        sa.Column("oks", sa.Integer, nullable=False),
        sa.Column("changed_at", UTCDateTime()),
        sa.Column("checked_at", UTCDateTime()),
        sa.Column("latency_s", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("latency_s", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_probe_results_target_at", "probe_results", ["target", "at"])


def _incident_tables() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, index=True),
        sa.Column("open_key", sa.String(300), unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("target", sa.String(200)),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "incident_id", sa.Integer, sa.ForeignKey("incidents.id"), nullable=False, index=True
        ),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("clause", sa.String(20), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("fired_at", UTCDateTime()),
        sa.Column("met_at", UTCDateTime()),
    )
    op.create_index("ix_deadlines_pending", "deadlines", ["fired_at", "met_at", "due_at"])


def _outbox() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), index=True),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime()),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_outbox_pending", "outbox", ["status", "channel", "id"])


def _append_only(table: str) -> None:
    """The timeline is evidence for the annual acceptance: the database itself refuses edits."""
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
    # Row triggers do not see TRUNCATE; a statement trigger closes that door too.
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
    )


def downgrade() -> None:
    for table in ("outbox", "deadlines", "incident_events", "incidents", "probe_results"):
        op.drop_table(table)
    op.drop_table("target_states")
    if op.get_bind().dialect.name != "sqlite":
        for table in APPEND_ONLY:
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
