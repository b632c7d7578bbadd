"""Alert routing: on-call overrides, the delivery log, person routing and lease owner on the
outbox.

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("person", sa.String(100)))
        batch.add_column(sa.Column("recipient", sa.JSON))
        batch.add_column(sa.Column("failover", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("claimed_by", sa.String(200)))
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("roster", sa.String(100), nullable=False, index=True),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("replaces", sa.String(100)),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("outbox_id", sa.Integer, sa.ForeignKey("outbox.id"), nullable=False, index=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id"), index=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("oncall_overrides")
    with op.batch_alter_table("outbox") as batch:
        for name in ("claimed_by", "failover", "recipient", "person"):
            batch.drop_column(name)
