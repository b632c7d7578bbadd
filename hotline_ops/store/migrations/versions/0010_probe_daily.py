"""Per-day rollup summaries (probe_daily) and the days summarised (probe_days).

Revision ID: 0010
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0010"
# The task named 0009; main's head is already 0015 (→ 0009), so this follows it to keep one
# head. The integrator re-chains at merge.
down_revision = "0015"
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
