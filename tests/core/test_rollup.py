"""Five-minute rollups: bucket alignment, nearest-rank percentiles, bucket summary, merge."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hotline_ops.core.rollup import Bucket, bucket_start, merge, percentile

TZ = ZoneInfo("Asia/Shanghai")


def summary(count=0, failures=0, p50=None, p95=None, rtt_max=None, peaks=None, classes=None):
    return {
        "count": count,
        "failures": failures,
        "rtt_p50": p50,
        "rtt_p95": p95,
        "rtt_max": rtt_max,
        "peaks": peaks or {},
        "classes": classes or {},
    }


def test_it_aligns_a_bucket_to_the_five_minutes_before():
    start = bucket_start(datetime(2026, 11, 28, 10, 7, 31, 250_000, tzinfo=TZ))
    assert start == datetime(2026, 11, 28, 2, 5, 0, tzinfo=UTC)


def test_it_returns_the_bucket_start_as_aware_utc():
    assert bucket_start(datetime(2026, 11, 28, 10, 7, 31, tzinfo=TZ)).tzinfo is UTC


def test_it_keeps_a_time_on_a_bucket_boundary_in_its_own_bucket():
    starts = [
        bucket_start(datetime(2026, 11, 28, 2, 5, 0, tzinfo=UTC)),
        bucket_start(datetime(2026, 11, 28, 2, 4, 59, 999_999, tzinfo=UTC)),
    ]
    assert starts == [
        datetime(2026, 11, 28, 2, 5, tzinfo=UTC),
        datetime(2026, 11, 28, 2, 0, tzinfo=UTC),
    ]


def test_it_takes_the_nearest_rank_median():
    # rank ceil(0.5 * 10) = 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.50) == 5


def test_it_takes_the_nearest_rank_p95():
    # rank ceil(0.95 * 10) = 10 and ceil(0.95 * 20) = 19
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert (percentile(values, 0.95), percentile(list(range(1, 21)), 0.95)) == (10, 19)


def test_it_returns_the_only_value_of_a_single_sample_for_any_share():
    assert [percentile([0.42], s) for s in (0.0, 0.5, 0.95, 1.0)] == [0.42] * 4


def test_it_has_no_percentile_without_samples():
    assert percentile([], 0.5) is None


def test_it_counts_checks_and_failures():
    bucket = Bucket()
    for ok in (True, False, True, False, False):
        bucket.add(ok, 0.1, {}, "")
    assert (bucket.count, bucket.failures) == (5, 3)


def test_it_ignores_a_missing_latency_but_counts_the_check():
    bucket = Bucket()
    bucket.add(True, 0.12, {}, "")
    bucket.add(False, None, {}, "")
    assert (bucket.count, bucket.latencies) == (2, [0.12])


def test_it_keeps_the_peak_of_each_metric():
    bucket = Bucket()
    bucket.add(True, None, {"calls": 3, "cpu": 0.5}, "")
    bucket.add(True, None, {"calls": 7, "cpu": 0.25}, "")
    bucket.add(True, None, {"calls": 5}, "")
    assert bucket.peaks == {"calls": 7, "cpu": 0.5}


def test_it_ignores_non_finite_metric_values():
    bucket = Bucket()
    bucket.add(True, None, {"calls": 3, "nan_only": math.nan}, "")
    bucket.add(True, None, {"calls": math.inf}, "")
    bucket.add(True, None, {"calls": math.nan}, "")
    bucket.add(True, None, {"calls": -math.inf}, "")
    assert bucket.peaks == {"calls": 3}


def test_it_counts_each_classification_but_not_an_empty_one():
    bucket = Bucket()
    for classification in ("200", "", "503", "200", ""):
        bucket.add(True, None, {}, classification)
    assert dict(bucket.classes) == {"200": 2, "503": 1}


def test_it_summarises_a_bucket_exactly():
    bucket = Bucket()
    bucket.add(True, 0.3, {"calls": 4}, "200")
    bucket.add(True, 0.1, {"calls": 9}, "200")
    bucket.add(False, None, {}, "timeout")
    bucket.add(True, 0.4, {"calls": 6}, "200")
    bucket.add(False, 0.2, {}, "503")
    # sorted latencies [0.1, 0.2, 0.3, 0.4]: p50 rank 2, p95 rank ceil(3.8) = 4
    assert bucket.summary() == summary(
        count=5,
        failures=2,
        p50=0.2,
        p95=0.4,
        rtt_max=0.4,
        peaks={"calls": 9},
        classes={"200": 3, "timeout": 1, "503": 1},
    )


def test_it_summarises_an_empty_bucket_without_latency_figures():
    assert Bucket().summary() == summary()


def test_it_adds_counts_and_failures_when_merging():
    merged = merge(summary(count=10, failures=2), summary(count=4, failures=3))
    assert (merged["count"], merged["failures"]) == (14, 5)


def test_it_takes_the_percentiles_of_the_bigger_sample_when_merging():
    small = summary(count=4, p50=0.9, p95=1.5, rtt_max=1.5)
    big = summary(count=10, p50=0.1, p95=0.3, rtt_max=0.4)
    forward, backward = merge(big, small), merge(small, big)
    assert (forward["rtt_p50"], forward["rtt_p95"]) == (0.1, 0.3)
    assert (backward["rtt_p50"], backward["rtt_p95"]) == (0.1, 0.3)


def test_it_keeps_the_stored_percentiles_when_both_samples_are_equal():
    merged = merge(summary(count=5, p50=0.1, p95=0.2), summary(count=5, p50=0.7, p95=0.8))
    assert (merged["rtt_p50"], merged["rtt_p95"]) == (0.1, 0.2)


def test_it_takes_the_larger_maximum_when_merging():
    merged = merge(summary(count=10, rtt_max=0.4), summary(count=4, rtt_max=1.5))
    assert merged["rtt_max"] == 1.5


def test_it_keeps_the_known_maximum_when_one_side_has_none():
    pair = summary(count=3, rtt_max=0.4), summary(count=2)
    assert (merge(*pair)["rtt_max"], merge(*reversed(pair))["rtt_max"]) == (0.4, 0.4)


def test_it_merges_peaks_by_metric_taking_the_larger():
    merged = merge(
        summary(count=1, peaks={"calls": 7, "cpu": 0.5}),
        summary(count=1, peaks={"calls": 9, "cpu": 0.25, "mem": 0.75}),
    )
    assert merged["peaks"] == {"calls": 9, "cpu": 0.5, "mem": 0.75}


def test_it_adds_classification_counts_when_merging():
    merged = merge(
        summary(count=3, classes={"200": 2, "503": 1}),
        summary(count=2, classes={"200": 1, "timeout": 1}),
    )
    assert merged["classes"] == {"200": 3, "503": 1, "timeout": 1}
