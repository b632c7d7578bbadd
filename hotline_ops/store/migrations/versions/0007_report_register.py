"""Report register (备案): every report version with its checksum, filing and receipt.

Revision ID: 0007
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_register",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("lang", sa.String(10), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("generated_at", UTCDateTime(), nullable=False),
        sa.Column("build_s", sa.Float, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("filed_at", UTCDateTime()),
        sa.Column("delivered_to", sa.JSON),
        sa.Column("receipt", sa.Text),
        sa.UniqueConstraint("kind", "period", "lang", "version", name="uq_report_version"),
    )
    op.create_index("ix_report_register_kind_period", "report_register", ["kind", "period"])


def downgrade() -> None:
    op.drop_table("report_register")
