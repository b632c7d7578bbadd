"""Aggregates over the store for the context builders, computed in SQL where the volume is.

A month of 500 targets is 4.5 M five-minute rollups and a year 53 M: sums, maxima and
per-day peaks are GROUP BY queries; only the RTT percentiles of the lines (a few dozen
targets) come back row by row, because bucket percentiles merge only by weighting.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from hotline_ops.core.availability import weighted_percentile
from hotline_ops.store.models import Deadline, Incident, Inspection, ProbeRollup
from hotline_ops.store.reports import ReportRecord

_in = ProbeRollup.bucket


def _between(start: datetime, end: datetime) -> tuple:
    return (_in >= start, _in < end)


def totals(session: Session, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Per target: checks, failures, availability, max RTT over [start, end)."""
    rows = session.execute(
        select(
            ProbeRollup.target,
            func.sum(ProbeRollup.count),
            func.sum(ProbeRollup.failures),
            func.max(ProbeRollup.rtt_max),
        )
        .where(*_between(start, end))
        .group_by(ProbeRollup.target)
    ).all()
    return {
        target: {
            "checks": int(checks or 0),
            "failures": int(failures or 0),
            "availability": (checks - failures) / checks if checks else None,
            "rtt_max_s": rtt_max,
        }
        for target, checks, failures, rtt_max in rows
    }


RTT_BIN_S = 0.0001  # p95 RTT is reported at 0.1 ms resolution


def rtt_p95(
    session: Session, targets: list[str], start: datetime, end: datetime
) -> dict[str, float | None]:
    """Count-weighted p95 of the bucket p95s, per target (see core.availability).

    The database folds the buckets into a histogram of 0.1 ms bins first, so a year of a
    hundred lines returns thousands of rows, not ten million.
    """
    if not targets:
        return {}
    pairs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    binned = cast(ProbeRollup.rtt_p95 / RTT_BIN_S, Integer)
    rows = session.execute(
        select(ProbeRollup.target, binned, func.sum(ProbeRollup.count))
        .where(
            ProbeRollup.target.in_(targets), ProbeRollup.rtt_p95.is_not(None), *_between(start, end)
        )
        .group_by(ProbeRollup.target, binned)
    )
    for target, bin_no, count in rows:
        pairs[target].append((round(bin_no * RTT_BIN_S, 4), int(count)))
    return {t: weighted_percentile(pairs.get(t, []), 0.95) for t in targets}


def peaks(
    session: Session, targets: list[str], metric: str, start: datetime, end: datetime
) -> dict[str, float]:
    """Per target, the highest value of one metric (B channels in use, CPU %, …)."""
    if not targets:
        return {}
    value = ProbeRollup.peaks[metric].as_float()
    rows = session.execute(
        select(ProbeRollup.target, func.max(value))
        .where(ProbeRollup.target.in_(targets), *_between(start, end))
        .group_by(ProbeRollup.target)
    ).all()
    return {t: float(v) for t, v in rows if v is not None}


def _day_index(session: Session, offset_s: int) -> Any:
    """Local day number (days since 1970-01-01 in the site's zone) of a rollup bucket."""
    if session.get_bind().dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", ProbeRollup.bucket), Integer)
    else:
        epoch = cast(func.extract("epoch", ProbeRollup.bucket), Integer)
    return cast(func.floor((epoch + offset_s) / 86400.0), Integer)


def daily_peaks(
    session: Session, targets: list[str], metric: str, start: datetime, end: datetime
) -> dict[str, list[tuple[int, float]]]:
    """Per target, (local day number, peak) for each day with data, oldest first.

    The zone's offset at ``start`` applies to the whole period (Asia/Shanghai has no DST).
    """
    if not targets:
        return {}
    offset = int(start.utcoffset().total_seconds()) if start.utcoffset() else 0
    day = _day_index(session, offset)
    value = ProbeRollup.peaks[metric].as_float()
    rows = session.execute(
        select(ProbeRollup.target, day, func.max(value))
        .where(ProbeRollup.target.in_(targets), *_between(start, end))
        .group_by(ProbeRollup.target, day)
        .order_by(ProbeRollup.target, day)
    ).all()
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for target, index, peak in rows:
        if peak is not None:
            out[target].append((int(index), float(peak)))
    return dict(out)


def incidents(session: Session, start: datetime, end: datetime) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.opened_at >= start, Incident.opened_at < end)
            .order_by(Incident.opened_at, Incident.id)
        )
    )


def breach_deadlines(session: Session, incident_ids: list[int]) -> dict[int, list[Deadline]]:
    """The contract timers (purpose 'breach') of these incidents."""
    out: dict[int, list[Deadline]] = defaultdict(list)
    for chunk in _chunks(incident_ids, 500):
        rows = session.scalars(
            select(Deadline)
            .where(Deadline.incident_id.in_(chunk), Deadline.purpose == "breach")
            .order_by(Deadline.incident_id, Deadline.due_at, Deadline.id)
        )
        for row in rows:
            out[row.incident_id].append(row)
    return dict(out)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def inspection_days(session: Session, start: datetime, end: datetime, tz: Any) -> set[str]:
    """Local days in [start, end) that have a stored daily line inspection record (M1.2)."""
    first = start.astimezone(tz).date().isoformat()
    last = end.astimezone(tz).date().isoformat()
    return set(
        session.scalars(
            select(Inspection.day).where(
                Inspection.kind == "lines", Inspection.day >= first, Inspection.day < last
            )
        )
    )


def latest_inspection(session: Session, day: str) -> Inspection | None:
    return session.scalar(
        select(Inspection)
        .where(Inspection.kind == "lines", Inspection.day == day)
        .order_by(Inspection.id.desc())
        .limit(1)
    )


def register(session: Session, kinds: tuple[str, ...] | None = None) -> list[ReportRecord]:
    query = select(ReportRecord).order_by(ReportRecord.id)
    if kinds:
        query = query.where(ReportRecord.kind.in_(kinds))
    return list(session.scalars(query))
