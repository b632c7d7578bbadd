"""The fault budget (P9.4): at most 3 system faults a contract year, each at most 1 hour.

System faults are incidents at the budget's level (level 1 by default). Years are calendar
years in the site's time zone: the acceptance of year N covers 1 January to 31 December.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline_ops.store.models import Incident


def year_bounds(year: int, tz: Any) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)


def count_in_year(session: Session, level: int, year: int, tz: Any) -> int:
    start, end = year_bounds(year, tz)
    return (
        session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.level == level, Incident.opened_at >= start, Incident.opened_at < end)
        )
        or 0
    )


def report(app: Any, year: int) -> dict:
    """Each system fault of the year with its duration, against the budget."""
    policy = app.levels.budget
    now = app.clock.now()
    start, end = year_bounds(year, app.settings.tz)
    with app.store.session() as session:
        rows = session.scalars(
            select(Incident)
            .where(
                Incident.level == policy.level,
                Incident.opened_at >= start,
                Incident.opened_at < end,
            )
            .order_by(Incident.opened_at)
        ).all()
        faults = [_fault(i, now, policy.max_duration_s) for i in rows]
    return {
        "year": year,
        "clause": policy.clause,
        "level": policy.level,
        "allowed": policy.per_year,
        "max_duration_s": policy.max_duration_s,
        "count": len(faults),
        "within_count": len(faults) <= policy.per_year,
        "too_long": sum(1 for f in faults if not f["within_duration"]),
        "faults": faults,
    }


def _fault(incident: Incident, now: datetime, max_s: int) -> dict:
    end = incident.resolved_at or now
    duration = (end - incident.opened_at).total_seconds()
    return {
        "id": incident.id,
        "title": incident.title,
        "opened_at": incident.opened_at,
        "resolved_at": incident.resolved_at,
        "duration_s": duration,
        "within_duration": duration <= max_s,
        "ongoing": incident.resolved_at is None,
    }
