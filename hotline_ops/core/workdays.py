"""Working-day arithmetic on the Chinese calendar (pure).

Handling deadlines are counted in working days, and China moves working days around: public
holidays fall on weekdays and make-up working days (调休) fall on Saturdays and Sundays. So a
day is a working day only by the calendar's data for its year, and a year without data is an
error (:class:`NoCalendarData`), never a silent Monday–Friday guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hotline_ops.errors import ConfigError


class NoCalendarData(ConfigError):
    """A deadline needs a year the calendar has no holiday/make-up data for."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"calendar: no holiday data for {year}; add the year's holidays and make-up "
            f"working days to tickets/calendar.yaml"
        )
        self.year = year


@dataclass(frozen=True)
class WorkCalendar:
    """``years``: the years with complete data; ``off``: weekdays that are holidays;
    ``on``: weekend days that are make-up working days."""

    years: frozenset[int]
    off: frozenset[date] = field(default_factory=frozenset)
    on: frozenset[date] = field(default_factory=frozenset)

    def is_workday(self, day: date) -> bool:
        if day.year not in self.years:
            raise NoCalendarData(day.year)
        if day in self.on:
            return True
        if day in self.off:
            return False
        return day.weekday() < 5


def add_working_days(cal: WorkCalendar, start: date, n: int) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted)."""
    if n < 1:
        raise ValueError("working days must be ≥ 1")
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        counted += cal.is_workday(day)
    return day


def working_day_deadline(cal: WorkCalendar, start: datetime, n: int, tz: ZoneInfo) -> datetime:
    """End (24:00 local) of the ``n``-th working day after the local day of ``start``."""
    local_day = start.astimezone(tz).date()
    last = add_working_days(cal, local_day, n)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
