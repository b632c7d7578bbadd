"""Per-day summaries of the rollups (core/daysummary.py): fill, re-fill, find what is due.

The daily run (before each scheduled report build, so at 08:30 for the day just ended)
summarises every finished day after the last summarised one; ``hotline-ops report
summarise --since DATE`` back-fills or re-does a range (after an import of old rollups).
A day is replaced whole in one transaction, so running twice gives the same rows.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select

from hotline_ops.core import daysummary
from hotline_ops.core.availability import local_day
from hotline_ops.errors import BadRequest
from hotline_ops.reports import queries
from hotline_ops.store.models import ProbeRollup
from hotline_ops.store.summaries import ProbeDaily, ProbeDay

log = logging.getLogger(__name__)


def today(app: Any) -> date:
    return app.clock.now().astimezone(app.settings.tz).date()


def summarise_day(app: Any, day: date) -> dict[str, Any]:
    """Replace ``day``'s summaries (site time) with ones made from its rollups now.

    A day without any rollup is marked done with 0 targets, so the daily run moves on, but
    the reports still read its (absent) rollups: rollups imported for it later count."""
    if day >= today(app):
        raise BadRequest(f"day: {day.isoformat()} is not finished yet (site time)")
    start, end = local_day(day, app.settings.tz)
    key = day.isoformat()
    with app.store.session() as session:
        made = daysummary.summarise(queries.day_rollups(session, start, end))
        session.execute(delete(ProbeDaily).where(ProbeDaily.day == key))
        session.execute(delete(ProbeDay).where(ProbeDay.day == key))
        if made:
            session.execute(
                insert(ProbeDaily),
                [_row(t, key, s) for t, s in sorted(made.items())],
            )
        session.add(
            ProbeDay(
                day=key,
                summarised_at=app.clock.now(),
                targets=len(made),
                rollups=sum(s.rollups for s in made.values()),
            )
        )
    return {
        "day": key,
        "targets": len(made),
        "rollups": sum(s.rollups for s in made.values()),
    }


def _row(target: str, day: str, s: daysummary.DaySummary) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every histogram, a third of the fill time.
    return {
        "target": target,
        "day": day,
        "checks": s.checks,
        "failures": s.failures,
        "rtt_max": s.rtt_max,
        "rtt_p95_bins": s.rtt_p95_bins,
        "peaks": s.peaks,
        "rollups": s.rollups,
    }


def summarise(app: Any, *, since: date, until: date | None = None) -> list[dict[str, Any]]:
    """Summarise every day from ``since`` to ``until`` (default: yesterday), inclusive."""
    yesterday = today(app) - timedelta(days=1)
    last = until or yesterday
    if last > yesterday:
        raise BadRequest(f"--until: {last.isoformat()} is not finished yet (site time)")
    if since > last:
        raise BadRequest(f"--since: {since.isoformat()} is after {last.isoformat()}")
    return [summarise_day(app, day) for day in daysummary.days_between(since, last)]


def first_due(app: Any) -> date | None:
    """The day after the last summarised one, or the first day with rollups."""
    with app.store.session() as session:
        latest = session.scalar(select(func.max(ProbeDay.day)))
        if latest is not None:
            return date.fromisoformat(latest) + timedelta(days=1)
        first = session.scalar(select(func.min(ProbeRollup.bucket)))
    return None if first is None else first.astimezone(app.settings.tz).date()


def pending(app: Any) -> list[dict[str, Any]]:
    """The daily run: summarise the finished days not summarised yet (normally one)."""
    since = first_due(app)
    if since is None or since >= today(app):
        return []
    done = summarise(app, since=since)
    log.info("summarised %d day(s) of rollups from %s", len(done), since.isoformat())
    return done
