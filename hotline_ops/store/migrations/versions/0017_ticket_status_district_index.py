"""Ticket search: (status, district, id), so a status + region page of a status without
pinned tickets (closed, archived …) is one index range walked backwards. Without it
PostgreSQL walked the primary key backwards and filtered out ~41 of every 42 rows
(bench/README.md, tickets-pg).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAME = "ix_tickets_status_district_id"


def upgrade() -> None:
    op.create_index(NAME, "tickets", ["status", "district", "id"])


def downgrade() -> None:
    op.drop_index(NAME, "tickets")
