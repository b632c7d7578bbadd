"""incidents/maintenance.yaml: one-off and recurring windows in the site's time zone; every
mistake is one line naming file:line."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hotline_ops.content import load_maintenance
from hotline_ops.core.maintenance import Window
from hotline_ops.errors import ConfigError

WUZHOU = ZoneInfo("Asia/Shanghai")


def maintenance(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "incidents" / "maintenance.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def maintenance_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_maintenance(path, WUZHOU)
    return str(caught.value)


def test_it_reads_naive_one_off_times_as_local_and_keeps_them_in_utc(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: 割接\n"
        "    targets: [trunk:ct-1]\n"
        "    start: 2026-12-01 00:00\n"
        "    end: 2026-12-01 04:00\n",
    )
    assert load_maintenance(path, WUZHOU) == (
        Window(
            "割接",
            ("trunk:ct-1",),
            {},
            datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 20, 0, tzinfo=UTC),
        ),
    )


def test_it_keeps_one_off_times_that_carry_an_offset(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    start: 2026-12-01T00:00:00+09:00\n"
        "    end: 2026-12-01T01:00:00Z\n",
    )
    (window,) = load_maintenance(path, WUZHOU)
    assert (window.start, window.end) == (
        datetime(2026, 11, 30, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )


def test_it_reads_a_weekly_window_by_weekday_local_time_and_duration(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: 周日巡检\n"
        "    labels: {segment: carrier}\n"
        "    every: [sun]\n"
        '    at: "02:00"\n'
        "    duration: 2h\n",
    )
    assert load_maintenance(path, WUZHOU) == (
        Window(
            "周日巡检",
            (),
            {"segment": "carrier"},
            weekdays=(6,),
            at=time(2, 0),
            duration=timedelta(hours=2),
        ),
    )


def test_it_sorts_the_weekdays_of_a_window_monday_first(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    every: [sun, wed, mon, wed]\n"
        '    at: "23:30"\n'
        "    duration: 90m\n",
    )
    (window,) = load_maintenance(path, WUZHOU)
    assert window.weekdays == (0, 2, 6)


def test_it_reads_a_daily_window_as_every_weekday(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: nightly\n"
        "    targets: [db]\n"
        "    every: [daily]\n"
        '    at: "03:15"\n'
        "    duration: 30m\n",
    )
    (window,) = load_maintenance(path, WUZHOU)
    assert (window.weekdays, window.at, window.duration) == (
        (0, 1, 2, 3, 4, 5, 6),
        time(3, 15),
        timedelta(minutes=30),
    )


def test_it_reads_every_window_of_the_file_in_order(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: b\n"
        "    targets: [db]\n"
        "    start: 2026-12-01 00:00\n"
        "    end: 2026-12-01 01:00\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    every: [daily]\n"
        '    at: "03:00"\n'
        "    duration: 1h\n",
    )
    assert [w.name for w in load_maintenance(path, WUZHOU)] == ["b", "a"]


def test_it_has_no_windows_without_a_maintenance_file(tmp_path: Path) -> None:
    assert load_maintenance(tmp_path / "incidents" / "maintenance.yaml", WUZHOU) == ()


def test_it_has_no_windows_in_an_empty_maintenance_file(tmp_path: Path) -> None:
    assert load_maintenance(maintenance(tmp_path, ""), WUZHOU) == ()


def test_it_names_a_window_given_both_kinds(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: ok\n"
        "    targets: [db]\n"
        "    every: [daily]\n"
        '    at: "03:00"\n'
        "    duration: 1h\n"
        "  - name: both\n"
        "    targets: [db]\n"
        "    start: 2026-12-01 00:00\n"
        "    end: 2026-12-01 04:00\n"
        "    every: [sun]\n"
        '    at: "02:00"\n'
        "    duration: 2h\n",
    )
    assert maintenance_error(path) == (
        f"{path}:7: windows.1: give either start and end, or every, at and duration"
    )


def test_it_names_a_window_given_neither_kind(tmp_path: Path) -> None:
    path = maintenance(tmp_path, "# 维护窗口\nwindows:\n  - name: a\n    targets: [db]\n")
    assert maintenance_error(path) == (
        f"{path}:3: windows.0: give either start and end, or every, at and duration"
    )


def test_it_names_a_one_off_window_without_an_end(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path, "windows:\n  - name: a\n    targets: [db]\n    start: 2026-12-01 00:00\n"
    )
    assert maintenance_error(path) == (
        f"{path}:2: windows.0: give either start and end, or every, at and duration"
    )


def test_it_names_a_recurring_window_without_a_duration(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        'windows:\n  - name: a\n    targets: [db]\n    every: [sun]\n    at: "02:00"\n',
    )
    assert maintenance_error(path) == (
        f"{path}:2: windows.0: give either start and end, or every, at and duration"
    )


def test_it_names_a_window_that_ends_before_it_starts(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    start: 2026-12-01 04:00\n"
        "    end: 2026-12-01 00:00\n",
    )
    assert maintenance_error(path) == f"{path}:2: windows.0: end must be after start"


def test_it_names_a_window_that_ends_when_it_starts(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    start: 2026-12-01 04:00\n"
        "    end: 2026-12-01 04:00\n",
    )
    assert maintenance_error(path) == f"{path}:2: windows.0: end must be after start"


def test_it_names_a_window_with_neither_targets_nor_labels(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n  - name: a\n    start: 2026-12-01 00:00\n    end: 2026-12-01 04:00\n",
    )
    assert maintenance_error(path) == (
        f"{path}:2: windows.0: name targets or labels the window applies to"
    )


def test_it_names_file_line_and_field_of_an_unknown_weekday(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    every: [sunday]\n"
        '    at: "02:00"\n'
        "    duration: 2h\n",
    )
    assert maintenance_error(path) == (
        f"{path}:4: windows.0.every.0: Input should be 'daily', 'mon', 'tue', 'wed', 'thu', "
        "'fri', 'sat' or 'sun'"
    )


def test_it_names_file_line_and_field_of_a_bad_duration(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    every: [sun]\n"
        '    at: "02:00"\n'
        "    duration: soon\n",
    )
    assert maintenance_error(path) == (
        f"{path}:6: windows.0.duration: not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1h30m)"
    )


def test_it_names_file_line_and_field_of_an_hour_past_23(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    targets: [db]\n"
        "    every: [sun]\n"
        '    at: "25:00"\n'
        "    duration: 2h\n",
    )
    assert maintenance_error(path) == (
        f"{path}:5: windows.0.at: Input should be in a valid time format, "
        "hour value is outside expected range of 0-23"
    )


def test_it_names_file_line_and_field_of_an_unknown_window_key(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n"
        "  - name: a\n"
        "    target: [db]\n"
        "    start: 2026-12-01 00:00\n"
        "    end: 2026-12-01 04:00\n",
    )
    assert maintenance_error(path) == (
        f"{path}:3: windows.0.target: Extra inputs are not permitted"
    )


def test_it_refuses_an_unquoted_time_of_day(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n  - name: w\n    targets: [db]\n    every: [daily]\n    at: 2:30\n"
        "    duration: 1h\n",
    )
    assert maintenance_error(path) == f'{path}:5: windows.0.at: quote the time, e.g. at: "02:30"'


def test_it_refuses_a_time_of_day_with_an_offset(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        'windows:\n  - name: w\n    targets: [db]\n    every: [daily]\n    at: "02:00+08:00"\n'
        "    duration: 1h\n",
    )
    assert maintenance_error(path) == (
        f"{path}:5: windows.0.at: give a local time without an offset (the site's time zone)"
    )


def test_it_refuses_a_one_off_window_mixing_local_and_offset_times(tmp_path: Path) -> None:
    path = maintenance(
        tmp_path,
        "windows:\n  - name: w\n    targets: [db]\n    start: 2026-12-01 00:00:00\n"
        "    end: 2026-12-01T04:00:00Z\n",
    )
    assert maintenance_error(path) == (
        f"{path}:2: windows.0: give start and end both with an offset or both without"
    )
