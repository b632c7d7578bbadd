"""Incident engine: full lifecycle columns, warning/escalation/budget deadlines, alerts and
silences.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for name in ("plan_started_at", "mitigated_at", "closed_at"):
            batch.add_column(sa.Column(name, UTCDateTime()))
        batch.add_column(
            sa.Column("handling", sa.String(10), nullable=False, server_default="remote")
        )
        batch.add_column(sa.Column("postmortem", sa.Text))
        batch.add_column(sa.Column("escalation", sa.JSON))
        batch.add_column(sa.Column("group_key", sa.String(300)))
        batch.create_index("ix_incidents_group_key", ["group_key"])
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(16), nullable=False, server_default="breach")
        )
        batch.add_column(sa.Column("fraction", sa.Float))
        batch.add_column(sa.Column("step", sa.Integer))
        batch.add_column(sa.Column("cancelled_at", UTCDateTime()))
    _alerts()
    _silences()


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, index=True),
        sa.Column("firing_key", sa.String(64), unique=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime()),
        sa.Column("generator_url", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), index=True),
        sa.Column("suppressed_by", sa.String(100)),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_alerts_status", "alerts", ["status", "ends_at"])


def _silences() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("matchers", sa.JSON, nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expired_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("silences")
    op.drop_index("ix_alerts_status", table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("deadlines") as batch:
        for name in ("cancelled_at", "step", "fraction", "purpose"):
            batch.drop_column(name)
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_group_key")
        for name in (
            "group_key",
            "escalation",
            "postmortem",
            "handling",
            "closed_at",
            "mitigated_at",
            "plan_started_at",
        ):
            batch.drop_column(name)
