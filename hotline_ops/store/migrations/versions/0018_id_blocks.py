"""Incident ids can be reserved before the incident is stored: an alert's first notice
names the incident it will open (services.first_notice). SQLite hands out max(rowid) + 1,
so every incident id now comes from ``id_blocks``, seeded past the largest one in use.
PostgreSQL reserves from ``incidents_id_seq`` and leaves the table unused.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_blocks",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("next_id", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO id_blocks (name, next_id)"
        " SELECT 'incidents', coalesce(max(id), 0) + 1 FROM incidents"
    )


def downgrade() -> None:
    op.drop_table("id_blocks")
