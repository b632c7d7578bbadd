"""The alert ingest journal (validated alert batches stored before they are acted on) and an
index for the ingest's suppression re-check.

Revision ID: 0012
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0012"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_journal",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("alerts", sa.Text, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_alerts_status_suppressed", "alerts", ["status", "suppressed_by"])


def downgrade() -> None:
    op.drop_index("ix_alerts_status_suppressed", table_name="alerts")
    op.drop_table("alert_journal")
