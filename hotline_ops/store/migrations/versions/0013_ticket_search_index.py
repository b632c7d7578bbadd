"""Ticket search: (status, district, urgency, id), so a status + region page is two index
ranges walked backwards (pinned urgent tickets, then the others) instead of a sort of every
matching row (bench/tickets.py); (district, id) replaces (district) for a region-only page.

Revision ID: 0013
Revises: 0010
"""

from alembic import op

revision = "0013"
# Chain: 0009 → 0015 → 0012 → 0010 → 0013.
down_revision = "0010"
branch_labels = None
depends_on = None

NAME = "ix_tickets_status_district_urgency_id"


def upgrade() -> None:
    op.create_index(NAME, "tickets", ["status", "district", "urgency", "id"])
    op.create_index("ix_tickets_district_id", "tickets", ["district", "id"])
    op.drop_index("ix_tickets_district", "tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_district", "tickets", ["district"])
    op.drop_index("ix_tickets_district_id", "tickets")
    op.drop_index(NAME, "tickets")
