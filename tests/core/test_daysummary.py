"""core.daysummary: a day's rollups folded per target, and a period split into summarised
whole days and the time ranges left to the rollups."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from hotline_ops.core.daysummary import (
    DayRollup,
    DaySummary,
    merge_bins,
    runs,
    split,
    summarise,
    whole_days,
)

TZ = ZoneInfo("Asia/Shanghai")


def at(y, m, d, h=0):
    return datetime(y, m, d, h, tzinfo=TZ)


def test_it_folds_a_days_rollups_per_target():
    rows = [
        DayRollup("a", 30, 1, 0.05, 150, {"b": 3, "note": "x"}),
        DayRollup("a", 30, 0, None, 150, {"b": 7.5}),
        DayRollup("a", 10, 2, 0.09, 200, {}),
        DayRollup("b", 5, 0, None, None, {}),
    ]
    assert summarise(rows) == {
        "a": DaySummary(70, 3, 0.09, {"150": 60, "200": 10}, {"b": 7.5}, 3),
        "b": DaySummary(5, 0, None, {}, {}, 1),
    }


def test_merging_day_histograms_adds_the_counts_per_bin():
    into = {"150": 5}
    merge_bins(into, {"150": 60, "200": 10})
    assert into == {"150": 65, "200": 10}


def test_whole_days_leave_out_part_days_at_the_edges():
    assert whole_days(at(2027, 3, 1, 6), at(2027, 3, 4, 12), TZ) == [
        date(2027, 3, 2),
        date(2027, 3, 3),
    ]
    assert whole_days(at(2027, 3, 1), at(2027, 3, 2), TZ) == [date(2027, 3, 1)]
    assert whole_days(at(2027, 3, 1, 6), at(2027, 3, 1, 9), TZ) == []


def test_runs_group_consecutive_days():
    days = [date(2027, 3, 5), date(2027, 3, 1), date(2027, 3, 2), date(2027, 3, 3)]
    assert runs(days) == [
        (date(2027, 3, 1), date(2027, 3, 3)),
        (date(2027, 3, 5), date(2027, 3, 5)),
    ]


def test_split_leaves_the_gaps_and_part_days_to_the_rollups():
    done = {date(2027, 3, d) for d in (1, 2, 4, 31)}
    day_runs, gaps = split(at(2027, 3, 1), at(2027, 3, 31, 12), done, TZ)
    assert day_runs == [
        (date(2027, 3, 1), date(2027, 3, 2)),
        (date(2027, 3, 4), date(2027, 3, 4)),
    ]
    assert gaps == [(at(2027, 3, 3), at(2027, 3, 4)), (at(2027, 3, 5), at(2027, 3, 31, 12))]


def test_split_with_nothing_summarised_is_one_rollup_range():
    assert split(at(2027, 3, 1), at(2027, 4, 1), set(), TZ) == (
        [],
        [(at(2027, 3, 1), at(2027, 4, 1))],
    )
