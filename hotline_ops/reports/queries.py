"""Aggregates over the store for the context builders, computed in SQL where the volume is.

A month of 500 targets is 4.5 M five-minute rollups and a year 53 M. Whole days already
summarised (probe_daily, filled by the daily run: services/summaries.py) are read from the
summaries, 365 rows per target a year; the rest of a period (the current day, a day not
summarised yet) from the rollups, and the two are merged, with identical results either way
(core/daysummary.py says why each figure merges exactly).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from hotline_ops.core import daysummary
from hotline_ops.core.availability import weighted_percentile
from hotline_ops.core.daysummary import DayRollup
from hotline_ops.store.models import Deadline, Incident, Inspection, ProbeRollup
from hotline_ops.store.reports import ReportRecord
from hotline_ops.store.summaries import ProbeDaily, ProbeDay

_in = ProbeRollup.bucket
RTT_BIN_S = 0.0001  # p95 RTT is reported at 0.1 ms resolution
# The rollup p95 as a 0.1 ms bin number, computed by the database: the daily summaries bin
# with this same expression, so their histograms add up to exactly this query's.
P95_BIN = cast(ProbeRollup.rtt_p95 / RTT_BIN_S, Integer)


@dataclass(frozen=True)
class Cover:
    """A period split into summarised whole days (probe_daily) and rollup time ranges."""

    days: list[tuple[str, str]]  # (first, last) local days, inclusive
    ranges: list[tuple[datetime, datetime]]

    def daily(self) -> Any:
        return or_(*(ProbeDaily.day.between(a, b) for a, b in self.days))

    def rollups(self) -> Any:
        return or_(*(and_(_in >= a, _in < b) for a, b in self.ranges))


def cover(session: Session, start: datetime, end: datetime) -> Cover:
    """Which of [start, end) the day summaries answer and which the rollups must.

    Days are the site's: ``start`` carries the site zone (core.periods); a period in any
    other zone reads the rollups only. Cached per session: a build asks many times."""
    zone = start.tzinfo
    if not isinstance(zone, ZoneInfo):
        return Cover([], [(start, end)])
    key = ("cover", start, end)
    if key not in session.info:
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        done = {
            date.fromisoformat(d)
            for d in session.scalars(
                select(ProbeDay.day).where(
                    ProbeDay.targets > 0,  # an empty day: read its rollups (late imports)
                    ProbeDay.day.between(first.isoformat(), last.isoformat()),
                )
            )
        }
        runs, ranges = daysummary.split(start, end, done, zone)
        days = [(a.isoformat(), b.isoformat()) for a, b in runs]
        session.info[key] = Cover(days, ranges)
    return session.info[key]


def totals(session: Session, start: datetime, end: datetime) -> dict[str, dict[str, Any]]:
    """Per target: checks, failures, availability, max RTT over [start, end)."""
    part = cover(session, start, end)
    acc: dict[str, list] = {}
    queries = []
    if part.days:
        queries.append(
            select(
                ProbeDaily.target,
                func.sum(ProbeDaily.checks),
                func.sum(ProbeDaily.failures),
                func.max(ProbeDaily.rtt_max),
            )
            .where(part.daily())
            .group_by(ProbeDaily.target)
        )
    if part.ranges:
        queries.append(
            select(
                ProbeRollup.target,
                func.sum(ProbeRollup.count),
                func.sum(ProbeRollup.failures),
                func.max(ProbeRollup.rtt_max),
            )
            .where(part.rollups())
            .group_by(ProbeRollup.target)
        )
    for query in queries:
        for target, checks, failures, rtt_max in session.execute(query):
            got = acc.setdefault(target, [0, 0, None])
            got[0] += int(checks or 0)
            got[1] += int(failures or 0)
            if rtt_max is not None:
                got[2] = rtt_max if got[2] is None else max(got[2], rtt_max)
    return {
        target: {
            "checks": checks,
            "failures": failures,
            "availability": (checks - failures) / checks if checks else None,
            "rtt_max_s": rtt_max,
        }
        for target, (checks, failures, rtt_max) in acc.items()
    }


def rtt_p95(
    session: Session, targets: list[str], start: datetime, end: datetime
) -> dict[str, float | None]:
    """Count-weighted p95 of the bucket p95s, per target (see core.availability).

    The database folds the buckets into a histogram of 0.1 ms bins first, so a year of a
    hundred lines returns thousands of rows, not ten million; summarised days bring their
    stored histogram of the same bins.
    """
    if not targets:
        return {}
    part = cover(session, start, end)
    bins: dict[str, dict[str, int]] = {t: {} for t in targets}
    if part.days:
        rows = session.execute(
            select(ProbeDaily.target, ProbeDaily.rtt_p95_bins).where(
                ProbeDaily.target.in_(targets), part.daily()
            )
        )
        for target, day_bins in rows:
            daysummary.merge_bins(bins[target], day_bins or {})
    if part.ranges:
        rows = session.execute(
            select(ProbeRollup.target, P95_BIN, func.sum(ProbeRollup.count))
            .where(ProbeRollup.target.in_(targets), ProbeRollup.rtt_p95.is_not(None))
            .where(part.rollups())
            .group_by(ProbeRollup.target, P95_BIN)
        )
        for target, bin_no, count in rows:
            daysummary.merge_bins(bins[target], {str(bin_no): int(count)})
    return {
        t: weighted_percentile(
            [(round(int(b) * RTT_BIN_S, 4), n) for b, n in bins[t].items()], 0.95
        )
        for t in targets
    }


def peaks(
    session: Session, targets: list[str], metric: str, start: datetime, end: datetime
) -> dict[str, float]:
    """Per target, the highest value of one metric (B channels in use, CPU %, …)."""
    if not targets:
        return {}
    part = cover(session, start, end)
    out: dict[str, float] = {}
    queries = []
    if part.days:
        value = ProbeDaily.peaks[metric].as_float()
        queries.append(
            select(ProbeDaily.target, func.max(value))
            .where(ProbeDaily.target.in_(targets), part.daily())
            .group_by(ProbeDaily.target)
        )
    if part.ranges:
        value = ProbeRollup.peaks[metric].as_float()
        queries.append(
            select(ProbeRollup.target, func.max(value))
            .where(ProbeRollup.target.in_(targets), part.rollups())
            .group_by(ProbeRollup.target)
        )
    for query in queries:
        for target, peak in session.execute(query):
            if peak is not None:
                out[target] = max(float(peak), out.get(target, float(peak)))
    return out


def _day_index(session: Session, offset_s: int) -> Any:
    """Local day number (days since 1970-01-01 in the site's zone) of a rollup bucket."""
    if session.get_bind().dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", ProbeRollup.bucket), Integer)
    else:
        epoch = cast(func.extract("epoch", ProbeRollup.bucket), Integer)
    return cast(func.floor((epoch + offset_s) / 86400.0), Integer)


EPOCH = date(1970, 1, 1)


def daily_peaks(
    session: Session, targets: list[str], metric: str, start: datetime, end: datetime
) -> dict[str, list[tuple[int, float]]]:
    """Per target, (local day number, peak) for each day with data, oldest first.

    The zone's offset at ``start`` applies to the whole period (Asia/Shanghai has no DST).
    """
    if not targets:
        return {}
    part = cover(session, start, end)
    found: dict[str, dict[int, float]] = defaultdict(dict)
    if part.days:
        value = ProbeDaily.peaks[metric].as_float()
        rows = session.execute(
            select(ProbeDaily.target, ProbeDaily.day, value).where(
                ProbeDaily.target.in_(targets), part.daily()
            )
        )
        for target, day, peak in rows:
            if peak is not None:
                found[target][(date.fromisoformat(day) - EPOCH).days] = float(peak)
    if part.ranges:
        offset = int(start.utcoffset().total_seconds()) if start.utcoffset() else 0
        day = _day_index(session, offset)
        value = ProbeRollup.peaks[metric].as_float()
        rows = session.execute(
            select(ProbeRollup.target, day, func.max(value))
            .where(ProbeRollup.target.in_(targets), part.rollups())
            .group_by(ProbeRollup.target, day)
        )
        for target, index, peak in rows:
            if peak is not None:  # a part day at an edge is its own group: keep the max
                days = found[target]
                days[int(index)] = max(float(peak), days.get(int(index), float(peak)))
    return {t: sorted(days.items()) for t, days in sorted(found.items()) if days}


def day_rollups(session: Session, start: datetime, end: datetime) -> Iterator[DayRollup]:
    """The rollups of [start, end) as the day summary needs them (services/summaries.py).

    Peaks come as text and only non-empty ones are decoded: most targets have none, and
    decoding 144 k JSON objects a day was the bulk of the summarising time."""
    rows = session.execute(
        select(
            ProbeRollup.target,
            ProbeRollup.count,
            ProbeRollup.failures,
            ProbeRollup.rtt_max,
            P95_BIN,
            cast(ProbeRollup.peaks, Text),
        ).where(*_between(start, end))
    )
    for target, count, failures, rtt_max, p95_bin, peak in rows:
        found = json.loads(peak) if peak and peak not in EMPTY_JSON else {}
        yield DayRollup(target, count, failures, rtt_max, p95_bin, found)


EMPTY_JSON = ("{}", "null")


def _between(start: datetime, end: datetime) -> tuple:
    return (_in >= start, _in < end)


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
