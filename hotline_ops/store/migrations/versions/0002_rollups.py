"""Probe history as state changes + 5-minute rollups; flapping and maintenance state;
inspection records.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("target_states") as batch:
        batch.add_column(sa.Column("history", sa.String(64), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("flapping", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.drop_index("ix_probe_results_target_at", table_name="probe_results")
    op.drop_table("probe_results")
    _state_changes()
    _rollups()
    _inspections()


def _state_changes() -> None:
    op.create_table(
        "state_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("old", sa.String(16), nullable=False),
        sa.Column("new", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_state_changes_target_at", "state_changes", ["target", "at"])


def _rollups() -> None:
    op.create_table(
        "probe_rollups",
        sa.Column("target", sa.String(200), primary_key=True),
        sa.Column("bucket", UTCDateTime(), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("rtt_p50", sa.Float),
        sa.Column("rtt_p95", sa.Float),
        sa.Column("rtt_max", sa.Float),
        sa.Column("peaks", sa.JSON, nullable=False),
        sa.Column("classes", sa.JSON, nullable=False),
    )
    op.create_index("ix_probe_rollups_bucket", "probe_rollups", ["bucket"])


def _inspections() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_inspections_kind_day", "inspections", ["kind", "day"])


def downgrade() -> None:
    op.drop_table("inspections")
    op.drop_table("probe_rollups")
    op.drop_table("state_changes")
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
    with op.batch_alter_table("target_states") as batch:
        batch.drop_column("suppressed")
        batch.drop_column("flapping")
        batch.drop_column("history")
