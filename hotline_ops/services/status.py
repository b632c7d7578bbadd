"""Figures for /metrics and /healthz, read from the store so they survive restarts and agree
across processes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from hotline_ops.core.incidents import IncidentStatus
from hotline_ops.store.models import Deadline, Incident, OutboxMessage, TargetState


def snapshot(app: Any) -> dict[str, Any]:
    with app.store.session() as session:
        return {
            "targets": {
                r.target: (r.status, r.latency_s) for r in session.scalars(select(TargetState))
            },
            "open_by_level": dict(
                session.execute(
                    select(Incident.level, func.count())
                    .where(Incident.status != IncidentStatus.RESOLVED)
                    .group_by(Incident.level)
                ).all()
            ),
            "breaches_by_kind": dict(
                session.execute(
                    select(Deadline.kind, func.count())
                    # Warnings, escalation steps and budget warnings fire too; only
                    # a breach row firing is a contract timer passing unmet.
                    .where(Deadline.fired_at.is_not(None), Deadline.purpose == "breach")
                    .group_by(Deadline.kind)
                ).all()
            ),
            "backlog_by_channel": dict(
                session.execute(
                    select(OutboxMessage.channel, func.count())
                    .where(OutboxMessage.status == "pending")
                    .group_by(OutboxMessage.channel)
                ).all()
            ),
            "failed_by_channel": dict(
                session.execute(
                    select(OutboxMessage.channel, func.count())
                    .where(OutboxMessage.status == "failed")
                    .group_by(OutboxMessage.channel)
                ).all()
            ),
        }
