"""Deadlines remember why they were cancelled (handling switch, level change, escalation
stopped), so a handling switch restores only the rows it cancelled itself; alerts get an
index on ``suppressed_by`` for the ingest's suppression re-check.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.String(16)))
    # Every alert ingest re-checks the suppressed firing alerts: an index keeps that a
    # lookup of the few suppressed rows instead of a scan of every alert.
    op.create_index("ix_alerts_suppressed_by", "alerts", ["suppressed_by"])
    # Rows cancelled before this revision: a handling timer that does not apply to the
    # incident's current handling was cancelled by the handling rule; escalation rows by a
    # stop; anything else by a level change (the old code could not tell them apart).
    op.execute(
        "UPDATE deadlines SET cancel_reason = CASE "
        "WHEN purpose = 'escalation' THEN 'stopped' "
        "WHEN kind = 'remote_resolve' AND (SELECT handling FROM incidents "
        "WHERE incidents.id = deadlines.incident_id) = 'onsite' THEN 'handling' "
        "WHEN kind = 'onsite_resolve' AND (SELECT handling FROM incidents "
        "WHERE incidents.id = deadlines.incident_id) = 'remote' THEN 'handling' "
        "ELSE 'level' END "
        "WHERE cancelled_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_suppressed_by", "alerts")
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_column("cancel_reason")
