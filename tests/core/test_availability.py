"""Period figures from 5-minute rollups, DOWN time from flips, and the site's local day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hotline_ops.core.availability import (
    RollupRow,
    down_seconds,
    figures,
    local_day,
    weighted_percentile,
)
from tests.conftest import T0

TZ = ZoneInfo("Asia/Shanghai")
START, END = T0, T0 + timedelta(hours=1)
MIN = timedelta(minutes=1)


def row(count, failures=0, p50=None, p95=None, rtt_max=None, peaks=None, classes=None):
    return RollupRow(count, failures, p50, p95, rtt_max, peaks or {}, classes or {})


def test_it_computes_availability_as_the_exact_share_of_successful_checks():
    fig = figures([row(10, 1), row(30, 2), row(20, 0)])
    assert (fig.checks, fig.failures, fig.availability) == (60, 3, 57 / 60)


def test_it_has_no_availability_without_checks():
    fig = figures([])
    assert (fig.checks, fig.availability, fig.rtt_p50, fig.rtt_p95, fig.rtt_max) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_it_counts_every_class_but_the_healthy_ones_as_not_healthy():
    fig = figures(
        [
            row(10, classes={"": 2, "healthy": 3, "503": 2, "busy": 1}),
            row(10, classes={"ok": 1, "noAlarm": 4, "503": 1, "timeout": 1}),
        ]
    )
    assert fig.not_healthy == 5  # 503: 3, busy: 1, timeout: 1


def test_it_adds_classification_counts_over_the_rows():
    fig = figures([row(3, classes={"200": 2, "503": 1}), row(2, classes={"200": 1, "ok": 1})])
    assert fig.classes == {"200": 3, "503": 1, "ok": 1}


def test_it_keeps_the_peak_of_each_metric_over_the_rows():
    fig = figures([row(1, peaks={"calls": 7, "cpu": 0.5}), row(1, peaks={"calls": 9, "mem": 0.75})])
    assert fig.peaks == {"calls": 9, "cpu": 0.5, "mem": 0.75}


def test_it_takes_the_largest_rtt_maximum_ignoring_rows_without_one():
    fig = figures([row(5, rtt_max=0.4), row(5), row(5, rtt_max=1.5)])
    assert fig.rtt_max == 1.5


def test_it_weights_row_percentiles_by_their_check_counts():
    # p50 pairs sorted (0.1, 30) (0.2, 60) (0.3, 10): half of 100 is reached at 0.2
    # p95 pairs sorted (0.3, 30) (0.5, 60) (0.9, 10): 95 is reached only at 0.9
    fig = figures([row(10, p50=0.3, p95=0.9), row(30, p50=0.1, p95=0.3), row(60, p50=0.2, p95=0.5)])
    assert (fig.rtt_p50, fig.rtt_p95) == (0.2, 0.9)


def test_it_leaves_rows_without_latency_out_of_the_percentiles():
    fig = figures([row(50, failures=50), row(10, p50=0.3, p95=0.6)])
    assert (fig.rtt_p50, fig.rtt_p95) == (0.3, 0.6)


def test_it_returns_the_first_value_whose_running_weight_reaches_the_share():
    pairs = [(0.3, 10), (0.1, 30), (0.2, 60)]  # sorted: running weights 30, 90, 100
    picked = [weighted_percentile(pairs, s) for s in (0.3, 0.31, 0.9, 0.91)]
    assert picked == [0.1, 0.2, 0.2, 0.3]


def test_it_ignores_pairs_without_weight():
    assert weighted_percentile([(9.0, 0), (1.0, 5), (2.0, 5)], 0.5) == 1.0


def test_it_has_no_weighted_percentile_without_weight():
    assert (weighted_percentile([], 0.5), weighted_percentile([(1.0, 0)], 0.5)) == (None, None)


def test_it_counts_down_time_between_flips_inside_the_period():
    flips = [(START + 10 * MIN, "down"), (START + 25 * MIN, "up")]
    assert down_seconds(flips, START, END, False) == 15 * 60


def test_it_counts_several_outages_in_one_period():
    flips = [
        (START + 40 * MIN, "down"),
        (START + 45 * MIN, "up"),
        (START + 10 * MIN, "down"),
        (START + 12 * MIN, "up"),
    ]
    assert down_seconds(flips, START, END, False) == 7 * 60


def test_it_counts_from_the_period_start_when_down_at_start():
    assert down_seconds([(START + 5 * MIN, "up")], START, END, True) == 5 * 60


def test_it_counts_to_the_period_end_when_never_up_again():
    assert down_seconds([(START + 50 * MIN, "down")], START, END, False) == 10 * 60


def test_it_counts_the_whole_period_when_down_throughout():
    assert down_seconds([], START, END, True) == 3600


def test_it_ignores_a_flip_before_the_period_start():
    flips = [(START - 10 * MIN, "up"), (START + 50 * MIN, "down")]
    assert down_seconds(flips, START, END, False) == 10 * 60


def test_it_counts_an_outage_begun_before_the_period_only_from_its_start():
    flips = [(START - 10 * MIN, "down"), (START + 5 * MIN, "up")]
    assert down_seconds(flips, START, END, True) == 5 * 60


def test_it_bounds_a_local_day_by_the_site_zones_midnights():
    start, end = local_day(date(2026, 11, 28), TZ)
    assert (start, end) == (
        datetime(2026, 11, 27, 16, 0, tzinfo=UTC),
        datetime(2026, 11, 28, 16, 0, tzinfo=UTC),
    )


def test_it_returns_a_local_day_as_aware_datetimes_in_the_site_zone():
    start, end = local_day(date(2026, 11, 28), TZ)
    assert (start.tzinfo, end.tzinfo, end - start) == (TZ, TZ, timedelta(days=1))


def test_it_counts_nothing_for_a_down_period_entirely_before_the_start():
    start = T0
    flips = [(start - timedelta(minutes=20), "down"), (start - timedelta(minutes=10), "up")]
    assert down_seconds(flips, start, start + timedelta(hours=1), False) == 0.0


def test_it_counts_nothing_for_a_down_flip_after_the_end():
    start, end = T0, T0 + timedelta(hours=1)
    assert down_seconds([(end + timedelta(minutes=10), "down")], start, end, False) == 0.0
