"""Per-day rollup summaries (probe_daily) and the days summarised (probe_days).

Revision ID: 0010
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0010"
# Chain: 0009 → 0015 (evidence) → 0012 (alert journal) → 0010 (day summaries) → 0013.
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_daily",
        sa.Column("target", sa.String(200), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("checks", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("rtt_max", sa.Float),
        sa.Column("rtt_p95_bins", sa.JSON, nullable=False),
        sa.Column("peaks", sa.JSON, nullable=False),
        sa.Column("rollups", sa.Integer, nullable=False),
    )
    op.create_index("ix_probe_daily_day", "probe_daily", ["day"])
    op.create_table(
        "probe_days",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("summarised_at", UTCDateTime(), nullable=False),
        sa.Column("targets", sa.Integer, nullable=False),
        sa.Column("rollups", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("probe_days")
    op.drop_index("ix_probe_daily_day", table_name="probe_daily")
    op.drop_table("probe_daily")
