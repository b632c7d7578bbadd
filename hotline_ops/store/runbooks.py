"""Runbook runs and the inspection facts playbooks gather (monthly inspection, M2.2a)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline_ops.store.models import Base


class RunbookRun(Base):
    """One playbook run of a runbook step; its events are on the incident's timeline."""

    __tablename__ = "runbook_runs"
    __table_args__ = (Index("ix_runbook_runs_incident", "incident_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ident: Mapped[str] = mapped_column(String(64), unique=True)  # ansible-runner ident
    runbook: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer)
    playbook: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    actor: Mapped[str] = mapped_column(String(100))
    # running | successful | failed | timeout | canceled | error
    status: Mapped[str] = mapped_column(String(16))
    check_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    rc: Mapped[int | None] = mapped_column(Integer)
    failed_task: Mapped[str] = mapped_column(Text, default="")
    failed_host: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[str] = mapped_column(Text, default="")
    cancel_requested_at: Mapped[datetime | None]


class InspectionFact(Base):
    """What a playbook gathered on one host for one month (site time), latest run wins.

    ``kind`` names the fact file's schema (``monthly_inspection``: see docs/runbooks.md);
    ``data`` is the file's ``facts`` object; ``growth`` the disk growth against the
    previous month's row, computed on ingest."""

    __tablename__ = "inspection_facts"
    __table_args__ = (UniqueConstraint("kind", "host", "month", name="uq_inspection_facts"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    host: Mapped[str] = mapped_column(String(200))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Asia/Shanghai
    collected_at: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runbook_runs.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    growth: Mapped[dict[str, Any]] = mapped_column(default=dict)
