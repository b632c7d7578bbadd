"""Figures over a period from 5-minute rollups, pure (the daily line inspection, M1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HEALTHY = {"", "healthy", "ok", "noAlarm"}


@dataclass(frozen=True)
class RollupRow:
    count: int
    failures: int
    rtt_p50: float | None
    rtt_p95: float | None
    rtt_max: float | None
    peaks: dict[str, float]
    classes: dict[str, int]


@dataclass(frozen=True)
class PeriodFigures:
    checks: int
    failures: int
    availability: float | None  # successful checks ÷ checks; None without data
    rtt_p50: float | None
    rtt_p95: float | None
    rtt_max: float | None
    not_healthy: int  # checks classified other than healthy (e.g. SIP non-2xx)
    classes: dict[str, int]
    peaks: dict[str, float]


def local_day(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the site's zone, as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def weighted_percentile(pairs: list[tuple[float, int]], share: float) -> float | None:
    """Percentile of per-bucket values weighted by each bucket's check count.

    Bucket percentiles cannot be merged exactly; weighting them by count is the standard
    approximation and is exact when every bucket holds the same distribution.
    """
    pairs = sorted((v, w) for v, w in pairs if w > 0)
    total = sum(w for _, w in pairs)
    if not total:
        return None
    threshold = share * total
    running = 0
    for value, weight in pairs:
        running += weight
        if running >= threshold:
            return value
    return pairs[-1][0]


def figures(rows: list[RollupRow]) -> PeriodFigures:
    checks = sum(r.count for r in rows)
    failures = sum(r.failures for r in rows)
    classes: dict[str, int] = {}
    peaks: dict[str, float] = {}
    for row in rows:
        for name, n in row.classes.items():
            classes[name] = classes.get(name, 0) + n
        for name, value in row.peaks.items():
            peaks[name] = max(value, peaks.get(name, value))
    maxima = [r.rtt_max for r in rows if r.rtt_max is not None]
    return PeriodFigures(
        checks=checks,
        failures=failures,
        availability=(checks - failures) / checks if checks else None,
        rtt_p50=weighted_percentile(
            [(r.rtt_p50, r.count) for r in rows if r.rtt_p50 is not None], 0.5
        ),
        rtt_p95=weighted_percentile(
            [(r.rtt_p95, r.count) for r in rows if r.rtt_p95 is not None], 0.95
        ),
        rtt_max=max(maxima) if maxima else None,
        not_healthy=sum(n for name, n in classes.items() if name not in HEALTHY),
        classes=classes,
        peaks=peaks,
    )


def down_seconds(
    flips: list[tuple[datetime, str]], start: datetime, end: datetime, down_at_start: bool
) -> float:
    """Seconds hard DOWN within [start, end) from the period's flips (time, new status)."""
    total = 0.0
    down_since = start if down_at_start else None
    for raw_at, new in sorted(flips):
        at = min(max(raw_at, start), end)  # a flip outside the period acts at its edge
        if new == "down" and down_since is None:
            down_since = at
        elif new != "down" and down_since is not None:
            total += (at - down_since).total_seconds()
            down_since = None
    if down_since is not None:
        total += (end - down_since).total_seconds()
    return total
