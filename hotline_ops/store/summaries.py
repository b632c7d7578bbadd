"""Per-day summaries of the probe rollups (core/daysummary.py), read by the reports.

``probe_days`` is the authority on which local days are summarised: a day is read from
``probe_daily`` only when it has a row there with targets, otherwise from the rollups, so a
day never summarised (the current day, a gap) is never silently dropped from a report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline_ops.store.models import Base


class ProbeDaily(Base):
    """One target's rollups over one local (site time) day."""

    __tablename__ = "probe_daily"
    __table_args__ = (Index("ix_probe_daily_day", "day"),)
    target: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, site time
    checks: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    rtt_max: Mapped[float | None] = mapped_column(Float)
    # {"<0.1 ms bin>": summed check count} of the rollup p95s (see core/daysummary.py)
    rtt_p95_bins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    peaks: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {metric: day's maximum}
    rollups: Mapped[int] = mapped_column(Integer)


class ProbeDay(Base):
    """A summarised day: its probe_daily rows are complete for every target. A day that had
    no rollup has ``targets`` 0 and the reports read the rollups for it instead."""

    __tablename__ = "probe_days"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    summarised_at: Mapped[datetime]
    targets: Mapped[int] = mapped_column(Integer)
    rollups: Mapped[int] = mapped_column(Integer)
