"""The report register (备案, CONTRACT.md M2.2c): every report built, one row per version.

A row is written when a build's files are on disk; filing sets ``filed_at``, ``delivered_to``
and ``receipt`` once. Files are never rewritten: a rebuild is a new version (new row, new
folder), so the checksum of a filed report stays provable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline_ops.store.models import Base


class ReportRecord(Base):
    __tablename__ = "report_register"
    __table_args__ = (
        UniqueConstraint("kind", "period", "lang", "version", name="uq_report_version"),
        Index("ix_report_register_kind_period", "kind", "period"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(20))
    lang: Mapped[str] = mapped_column(String(10), default="zh-CN")
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    folder: Mapped[str] = mapped_column(Text)  # relative to data_dir
    # {format: {"name": file name, "sha256": hex, "bytes": n}}
    files: Mapped[dict[str, Any]] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))  # of the primary file (PDF if built)
    generated_at: Mapped[datetime]
    build_s: Mapped[float] = mapped_column(Float)  # P9.2: statistics produced ≤ 5 min
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    filed_at: Mapped[datetime | None]
    delivered_to: Mapped[list[Any] | None] = mapped_column()
    receipt: Mapped[str | None] = mapped_column(Text)
