"""The alert journal moves to a file of its own (services.journal); the store keeps how far
the consumer has ingested each journal file.

Revision ID: 0016
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0016"
# Chain: 0009 → 0015 → 0012 → 0010 → 0013 → 0016.
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_journal_position",
        sa.Column("journal", sa.String(32), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_journal_position")
