"""Report periods cut in Asia/Shanghai (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from hotline_ops.core import periods

TZ = ZoneInfo("Asia/Shanghai")


def test_it_cuts_a_month_at_local_midnight():
    p = periods.parse("monthly", "2027-03", TZ)
    assert (p.start.astimezone(UTC), p.end.astimezone(UTC), p.days) == (
        datetime(2027, 2, 28, 16, tzinfo=UTC),
        datetime(2027, 3, 31, 16, tzinfo=UTC),
        31,
    )


def test_it_cuts_the_fourth_quarter_into_the_next_year():
    p = periods.parse("quarterly", "2027-Q4", TZ)
    assert (p.start.date().isoformat(), p.end.date().isoformat(), p.key) == (
        "2027-10-01",
        "2028-01-01",
        "2027-Q4",
    )


def test_it_refuses_a_month_thirteen_naming_the_form():
    with pytest.raises(periods.PeriodError, match=r"'2027-13' is not a month \(YYYY-MM\)"):
        periods.parse("monthly", "2027-13", TZ)


def test_it_refuses_an_unknown_kind():
    with pytest.raises(periods.PeriodError, match="unknown report kind 'weekly'"):
        periods.parse("weekly", "2027-03", TZ)


def test_it_gives_the_previous_quarter_across_a_year():
    assert periods.previous(periods.parse("quarterly", "2027-Q1", TZ), TZ).key == "2026-Q4"


def test_it_schedules_the_last_complete_month_in_site_time():
    # 1 March 00:30 in Wuzhou is still 28 February in UTC.
    now = datetime(2027, 2, 28, 16, 30, tzinfo=UTC)
    assert periods.last_complete("monthly", now, TZ).key == "2027-02"
