"""The evidence register: written documents registered against contract clauses.

Revision ID: 0015
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0015"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_documents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clause", sa.String(20), nullable=False),
        sa.Column("covers", sa.Date, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("quantity", sa.Float),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_evidence_clause_covers", "evidence_documents", ["clause", "covers"])


def downgrade() -> None:
    op.drop_table("evidence_documents")
