"""Five-minute rollups of probe results, pure.

Storing every result of 500 targets every 10 s is 1.5 billion rows a year; a rollup per
target per 5 minutes (count, failures, RTT p50/p95/max, the peak of each numeric metric,
the count of each classification) keeps a year under 53 million small rows and is all the
reports need.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BUCKET = timedelta(minutes=5)


def bucket_start(at: datetime) -> datetime:
    """Start of the 5-minute bucket holding ``at`` (aligned in UTC, so also in UTC+8)."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)


def percentile(sorted_values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is a value that was seen)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Bucket:
    count: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    classes: Counter[str] = field(default_factory=Counter)

    def add(
        self, ok: bool, latency_s: float | None, metrics: dict[str, float], classification: str
    ) -> None:
        self.count += 1
        self.failures += 0 if ok else 1
        if latency_s is not None:
            self.latencies.append(latency_s)
        for name, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self.peaks[name] = max(value, self.peaks.get(name, value))
        if classification:
            self.classes[classification] += 1

    def summary(self) -> dict:
        ordered = sorted(self.latencies)
        return {
            "count": self.count,
            "failures": self.failures,
            "rtt_p50": percentile(ordered, 0.50),
            "rtt_p95": percentile(ordered, 0.95),
            "rtt_max": ordered[-1] if ordered else None,
            "peaks": dict(self.peaks),
            "classes": dict(self.classes),
        }


def merge(old: dict, new: dict) -> dict:
    """Combine a stored partial bucket with a new one (after a restart mid-bucket).

    Counts add and maxima take the larger; percentiles cannot be merged exactly, so the
    side with more samples wins.
    """
    bigger = old if old["count"] >= new["count"] else new
    peaks = dict(old["peaks"])
    for name, value in new["peaks"].items():
        peaks[name] = max(value, peaks.get(name, value))
    return {
        "count": old["count"] + new["count"],
        "failures": old["failures"] + new["failures"],
        "rtt_p50": bigger["rtt_p50"],
        "rtt_p95": bigger["rtt_p95"],
        "rtt_max": _max(old["rtt_max"], new["rtt_max"]),
        "peaks": peaks,
        "classes": dict(Counter(old["classes"]) + Counter(new["classes"])),
    }


def _max(a: float | None, b: float | None) -> float | None:
    values = [v for v in (a, b) if v is not None]
    return max(values) if values else None
