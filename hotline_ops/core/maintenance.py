"""Maintenance windows, pure: while one covers a target, its faults open no incident (the
results are still recorded, so availability figures stay honest).

A window is one-off (start, end) or recurring (weekdays + local start time + duration, in
the site's time zone), and matches targets by name or by labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    name: str
    targets: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None  # one-off
    end: datetime | None = None
    weekdays: tuple[int, ...] = ()  # recurring: 0 = Monday
    at: time | None = None
    duration: timedelta | None = None

    def matches(self, target: str, labels: dict[str, str]) -> bool:
        if target in self.targets:
            return True
        return bool(self.labels) and all(labels.get(k) == v for k, v in self.labels.items())

    def covers(self, now: datetime, tz: ZoneInfo) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= now < self.end
        return any(start <= now < start + self.duration for start in self._starts(now, tz))

    def _starts(self, now: datetime, tz: ZoneInfo) -> list[datetime]:
        """Occurrences that could cover ``now``: today's and the previous days' (a window
        may run past midnight or last several days)."""
        if self.at is None or self.duration is None:
            return []
        today = now.astimezone(tz).date()
        days = self.duration.days + 1
        candidates = [today - timedelta(days=d) for d in range(days + 1)]
        return [_local(day, self.at, tz) for day in candidates if day.weekday() in self.weekdays]


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def active(
    windows: tuple[Window, ...] | list[Window],
    target: str,
    labels: dict[str, str],
    now: datetime,
    tz: ZoneInfo,
) -> Window | None:
    """The first window covering this target now, if any."""
    for window in windows:
        if window.matches(target, labels) and window.covers(now, tz):
            return window
    return None
