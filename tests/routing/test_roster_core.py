"""Who is on call, pure: handoffs at month end, on a statutory holiday and on a make-up
working day (调休), gaps, overrides and swaps, quiet hours. The calendar is chinese-calendar's
own 2026 data: National Day 1–7 Oct off, Sun 20 Sep and Sat 10 Oct make-up working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hotline_ops.core import roster as core
from hotline_ops.roster_content import build_calendar

TZ = ZoneInfo("Asia/Shanghai")
WEEKLY = core.Layer("weekly", "weekly", time(9), date(2026, 1, 5), ("a", "b", "c"))
HOLIDAY = core.Layer("holiday", "daily", time(9), date(2026, 1, 1), ("h1", "h2"), "holidays")


def at(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def policy(*layers: core.Layer, overrides=()) -> core.RosterPolicy:
    people = {k: core.Person(k, k, channels=("x",)) for k in ("a", "b", "c", "h1", "h2", "o")}
    roster = core.Roster("ops", layers or (WEEKLY, HOLIDAY))
    return core.RosterPolicy(TZ, people, {"ops": roster}, build_calendar(), tuple(overrides))


def who(pol, when) -> str | None:
    return core.on_call(pol, "ops", when).person


def test_it_uses_chinese_calendars_2026_national_day_and_make_up_days():
    cal = build_calendar()
    off = [d for d in range(1, 12) if cal.is_day_off(date(2026, 10, d))]
    assert off == [1, 2, 3, 4, 5, 6, 7, 11]  # 8, 9 workdays; 10 Sat is a make-up working day
    assert cal.is_day_off(date(2026, 9, 20)) is False  # a Sunday worked (调休上班)


def test_it_hands_over_weekly_at_month_end():
    pol = policy(WEEKLY)
    # Mon 30 Nov 2026 09:00 is both a weekly handoff and the last day of the month.
    assert [who(pol, at(2026, 11, 30, 8, 59)), who(pol, at(2026, 11, 30, 9, 0))] == ["b", "c"]
    assert who(pol, at(2026, 12, 1, 0, 0)) == "c"


def test_it_hands_over_to_the_holiday_layer_on_national_day_at_nine():
    pol = policy()
    assert who(pol, at(2026, 10, 1, 8, 59)) == "c"  # still Wednesday's weekly duty day
    # A daily rotation counts calendar days: 1 Oct is day 273 after 1 Jan, odd -> h2.
    assert who(pol, at(2026, 10, 1, 9, 0)) == "h2"
    assert who(pol, at(2026, 10, 2, 3, 0)) == "h2"  # the night after belongs to the holiday
    assert who(pol, at(2026, 10, 2, 9, 0)) == "h1"
    assert who(pol, at(2026, 10, 8, 9, 0)) == "a"  # first working day: back to the rotation


def test_it_keeps_the_weekday_rotation_on_a_make_up_sunday():
    pol = policy()
    assert who(pol, at(2026, 9, 13, 12)) == "h2"  # an ordinary Sunday: holiday layer
    assert who(pol, at(2026, 9, 20, 12)) == "a"  # Sun 20 Sep is worked: weekly layer


def test_it_keeps_the_weekday_rotation_on_a_make_up_saturday():
    pol = policy()
    assert who(pol, at(2026, 10, 10, 12)) == "a"
    assert who(pol, at(2026, 10, 11, 12)) == "h2"


def test_it_finds_every_gap_of_a_workdays_only_layer():
    layer = core.Layer("day", "daily", time(9), date(2026, 1, 1), ("a",), "workdays")
    gaps = core.gaps(policy(layer), "ops", at(2026, 12, 4, 0), at(2026, 12, 8, 0))
    assert [(g.start, g.end) for g in gaps] == [
        (at(2026, 12, 5, 9).astimezone(UTC), at(2026, 12, 7, 9).astimezone(UTC))
    ]


def test_it_merges_coverage_into_segments_with_their_reason():
    segments = core.coverage(policy(WEEKLY), "ops", at(2026, 11, 29, 0), at(2026, 12, 1, 0))
    assert [(s.start.astimezone(TZ).day, s.person, s.via) for s in segments] == [
        (29, "b", "layer weekly"),
        (30, "c", "layer weekly"),
    ]


def test_it_lets_an_override_win_over_every_layer():
    item = core.Override("ops", "o", at(2026, 10, 1, 18), at(2026, 10, 1, 20), source="f:3")
    pol = policy(overrides=[item])
    assert core.on_call(pol, "ops", at(2026, 10, 1, 19)) == core.OnCall("o", "override f:3")
    assert who(pol, at(2026, 10, 1, 20)) == "h2"


def test_it_applies_a_swap_only_to_the_person_it_replaces():
    swap = core.Override("ops", "o", at(2026, 11, 1, 0), at(2026, 12, 31, 0), replaces="c")
    pol = policy(WEEKLY, overrides=[swap])
    assert [who(pol, at(2026, 11, 30, 8)), who(pol, at(2026, 11, 30, 10))] == ["b", "o"]


@pytest.mark.parametrize(
    ("local", "until"),
    [
        (at(2026, 11, 28, 23, 0), at(2026, 11, 29, 7, 30)),
        (at(2026, 11, 29, 7, 29), at(2026, 11, 29, 7, 30)),
        (at(2026, 11, 29, 7, 30), None),
        (at(2026, 11, 28, 22, 29), None),
    ],
)
def test_it_ends_quiet_hours_that_wrap_midnight(local, until):
    person = core.Person("p", "p", quiet_hours=(time(22, 30), time(7, 30)))
    expected = until.astimezone(UTC) if until else None
    assert core.in_quiet_hours(person, local, TZ) == expected


def test_it_reports_years_the_calendar_does_not_know():
    assert build_calendar().unknown_years(date(2026, 12, 1), date(2027, 1, 5)) == [2027]
