"""Per-target, per-local-day summaries of the 5-minute rollups, pure.

A report over a year reads 365 summary rows per target instead of 105 120 rollups. Each
field is chosen so that merging the days gives exactly what the reports compute from the
rollups themselves (reports/queries.py):

- checks, failures: sums (availability = (checks − failures) ÷ checks);
- rtt_max: the maximum;
- rtt_p95_bins: the count-weighted histogram of the rollup p95s in 0.1 ms bins, i.e. the
  very histogram the period query builds; adding the days' histograms is the period's one,
  so the period p95 is identical (a per-day p95 could not be merged exactly);
- peaks: per metric, the day's maximum (the period peak is the maximum of the days').
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline_ops.core.availability import local_day


@dataclass(frozen=True)
class DayRollup:
    """What a summary needs of one rollup; ``p95_bin`` is computed by the database with the
    same expression as the period query, so both backends bin exactly as before."""

    target: str
    count: int
    failures: int
    rtt_max: float | None
    p95_bin: int | None
    peaks: dict[str, object]


@dataclass
class DaySummary:
    checks: int = 0
    failures: int = 0
    rtt_max: float | None = None
    rtt_p95_bins: dict[str, int] = field(default_factory=dict)  # JSON keys are strings
    peaks: dict[str, float] = field(default_factory=dict)
    rollups: int = 0


def _number(value: object) -> float | None:
    """A peak as the database's JSON extraction would compare it; text is not a figure."""
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def add(summary: DaySummary, row: DayRollup) -> None:
    summary.rollups += 1
    summary.checks += row.count
    summary.failures += row.failures
    if row.rtt_max is not None:
        summary.rtt_max = (
            row.rtt_max if summary.rtt_max is None else max(summary.rtt_max, row.rtt_max)
        )
    if row.p95_bin is not None:
        key = str(row.p95_bin)
        summary.rtt_p95_bins[key] = summary.rtt_p95_bins.get(key, 0) + row.count
    for name, raw in (row.peaks or {}).items():
        value = _number(raw)
        if value is not None:
            summary.peaks[name] = max(value, summary.peaks.get(name, value))


def summarise(rows: Iterable[DayRollup]) -> dict[str, DaySummary]:
    """One summary per target of a day's rollups."""
    out: dict[str, DaySummary] = {}
    for row in rows:
        add(out.setdefault(row.target, DaySummary()), row)
    return out


def merge_bins(into: dict[str, int], bins: dict[str, int]) -> None:
    """Add a day's histogram; keys stay text until the end (int() per entry per day was
    half the annual pack's reading time)."""
    get = into.get
    for key, count in bins.items():
        into[key] = get(key, 0) + count


def days_between(first: date, last: date) -> list[date]:
    """Every day from first to last inclusive."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def whole_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The local days lying entirely within [start, end)."""
    first = start.astimezone(tz).date()
    if local_day(first, tz)[0] < start:
        first += timedelta(days=1)
    last = end.astimezone(tz).date() - timedelta(days=1)
    if local_day(last, tz)[1] > end:
        last -= timedelta(days=1)
    return days_between(first, last) if first <= last else []


def runs(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs, so a query needs a few ranges, not a list."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def split(
    start: datetime, end: datetime, summarised: set[date], tz: ZoneInfo
) -> tuple[list[tuple[date, date]], list[tuple[datetime, datetime]]]:
    """[start, end) as runs of summarised whole days and the time ranges left to the
    rollups (part days at the edges, the current day, days not summarised yet)."""
    covered = [d for d in whole_days(start, end, tz) if d in summarised]
    day_runs = runs(covered)
    gaps: list[tuple[datetime, datetime]] = []
    at = start
    for first, last in day_runs:
        run_start, run_end = local_day(first, tz)[0], local_day(last, tz)[1]
        if at < run_start:
            gaps.append((at, run_start))
        at = run_end
    if at < end:
        gaps.append((at, end))
    return day_runs, gaps
