"""Maintenance windows: one-off [start, end) or recurring in the site's zone, per target."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hotline_ops.core.maintenance import Window, active
from tests.conftest import T0

TZ = ZoneInfo("Asia/Shanghai")
SATURDAY, SUNDAY = 5, 6  # 2026-11-28 is a Saturday, 2026-11-29 a Sunday
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
TICK = timedelta(microseconds=1)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


ONE_OFF = Window("upgrade", targets=("sbc-1",), start=T0, end=T0 + timedelta(hours=1))
SUNDAY_NIGHT = Window(
    "weekly", targets=("sbc-1",), weekdays=(SUNDAY,), at=time(2, 0), duration=timedelta(hours=2)
)


def test_it_covers_a_one_off_window_from_its_start_inclusive():
    assert (ONE_OFF.covers(T0 - TICK, TZ), ONE_OFF.covers(T0, TZ)) == (False, True)


def test_it_stops_covering_a_one_off_window_at_its_end_exclusive():
    end = T0 + timedelta(hours=1)
    assert (ONE_OFF.covers(end - TICK, TZ), ONE_OFF.covers(end, TZ)) == (True, False)


def test_it_covers_a_weekly_window_from_its_local_start_to_just_before_its_end():
    covered = [
        SUNDAY_NIGHT.covers(local(2026, 11, 29, 1, 59, 59), TZ),
        SUNDAY_NIGHT.covers(local(2026, 11, 29, 2, 0, 0), TZ),
        SUNDAY_NIGHT.covers(local(2026, 11, 29, 3, 59, 59), TZ),
        SUNDAY_NIGHT.covers(local(2026, 11, 29, 4, 0, 0), TZ),
    ]
    assert covered == [False, True, True, False]


def test_it_reads_a_weekly_window_in_the_site_zone_not_in_utc():
    # Sunday 02:30 in Shanghai is Saturday 18:30 UTC; Sunday 02:30 UTC is 10:30 local
    covered = [
        SUNDAY_NIGHT.covers(datetime(2026, 11, 28, 18, 30, tzinfo=UTC), TZ),
        SUNDAY_NIGHT.covers(datetime(2026, 11, 29, 2, 30, tzinfo=UTC), TZ),
    ]
    assert covered == [True, False]


def test_it_does_not_cover_the_same_local_time_on_another_weekday():
    assert SUNDAY_NIGHT.covers(local(2026, 11, 28, 2, 30), TZ) is False


def test_it_covers_a_daily_window_past_midnight_into_the_next_day():
    nightly = Window("nightly", weekdays=EVERY_DAY, at=time(23, 0), duration=timedelta(hours=2))
    covered = [
        nightly.covers(local(2026, 11, 29, 0, 30), TZ),
        nightly.covers(local(2026, 11, 29, 0, 59, 59), TZ),
        nightly.covers(local(2026, 11, 29, 1, 0), TZ),
    ]
    assert covered == [True, True, False]


def test_it_keys_a_window_past_midnight_to_the_weekday_it_started_on():
    saturday_late = Window("sat", weekdays=(SATURDAY,), at=time(23, 0), duration=timedelta(hours=2))
    covered = [
        saturday_late.covers(local(2026, 11, 29, 0, 30), TZ),  # Sunday, started Saturday
        saturday_late.covers(local(2026, 11, 30, 0, 30), TZ),  # Monday, nothing on Sunday
    ]
    assert covered == [True, False]


def test_it_covers_a_window_lasting_several_days():
    # Friday 2026-11-27 20:00 for 50 h: until Sunday 2026-11-29 22:00 local
    long = Window("move", weekdays=(4,), at=time(20, 0), duration=timedelta(hours=50))
    covered = [
        long.covers(local(2026, 11, 27, 19, 59, 59), TZ),
        long.covers(local(2026, 11, 27, 20, 0), TZ),
        long.covers(local(2026, 11, 28, 12, 0), TZ),
        long.covers(local(2026, 11, 29, 21, 59, 59), TZ),
        long.covers(local(2026, 11, 29, 22, 0), TZ),
    ]
    assert covered == [False, True, True, True, False]


def test_it_matches_a_target_listed_by_name_whatever_its_labels():
    window = Window("w", targets=("sbc-1",), labels={"segment": "core"})
    assert (window.matches("sbc-1", {}), window.matches("sbc-2", {})) == (True, False)


def test_it_matches_by_labels_only_when_every_label_matches():
    window = Window("w", labels={"segment": "core", "site": "wuzhou"})
    matched = [
        window.matches("x", {"segment": "core", "site": "wuzhou", "role": "sbc"}),
        window.matches("x", {"segment": "core"}),
        window.matches("x", {"segment": "core", "site": "nanning"}),
    ]
    assert matched == [True, False, False]


def test_it_never_matches_everything_with_empty_labels():
    window = Window("w")
    assert (window.matches("x", {}), window.matches("x", {"segment": "core"})) == (False, False)


def test_it_returns_the_first_window_covering_the_target():
    other_target = Window("other", targets=("sbc-2",), start=T0, end=T0 + timedelta(hours=1))
    not_now = Window(
        "later", targets=("sbc-1",), start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=2)
    )
    first = Window("first", targets=("sbc-1",), start=T0, end=T0 + timedelta(hours=1))
    second = Window("second", labels={"segment": "core"}, start=T0, end=T0 + timedelta(hours=2))
    windows = [other_target, not_now, first, second]
    assert active(windows, "sbc-1", {"segment": "core"}, T0, TZ) is first


def test_it_returns_none_when_no_window_covers_the_target():
    windows = (ONE_OFF, SUNDAY_NIGHT)
    assert active(windows, "sbc-1", {}, T0 + timedelta(hours=1), TZ) is None
