"""Runbook runs (one row per playbook run) and inspection facts gathered by playbooks.

Revision ID: 0009
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from hotline_ops.store.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runbook_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ident", sa.String(64), nullable=False, unique=True),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("playbook", sa.String(200), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("check_mode", sa.Boolean, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("rc", sa.Integer),
        sa.Column("failed_task", sa.Text, nullable=False),
        sa.Column("failed_host", sa.String(200), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("artifacts", sa.Text, nullable=False),
        sa.Column("cancel_requested_at", UTCDateTime()),
    )
    op.create_index("ix_runbook_runs_incident", "runbook_runs", ["incident_id", "id"])
    op.create_table(
        "inspection_facts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runbook_runs.id")),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("growth", sa.JSON, nullable=False),
        sa.UniqueConstraint("kind", "host", "month", name="uq_inspection_facts"),
    )


def downgrade() -> None:
    op.drop_table("inspection_facts")
    op.drop_index("ix_runbook_runs_incident", table_name="runbook_runs")
    op.drop_table("runbook_runs")
