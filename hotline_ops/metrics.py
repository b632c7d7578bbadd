"""Prometheus metrics. Figures that must survive restarts (probe state, open incidents, timer
breaches, outbox backlog) are read from the store at scrape time; only per-process timings
live in memory."""

from __future__ import annotations

import collections
import math
from bisect import bisect_left
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.utils import floatToGoString

from hotline_ops.services import first_notice, journal, status


class LocalHistogram:
    """A histogram kept as plain counts and exported on scrape.

    prometheus_client's Histogram takes a lock and walks its buckets in Python on every
    observation; the engine observes two figures per check, thousands a second, so here an
    observation is one C bisect and two additions (single event-loop thread, no lock).
    """

    def __init__(self, name: str, doc: str, buckets: tuple[float, ...], labels=()) -> None:
        self.name, self.doc, self.label_names = name, doc, list(labels)
        self.bounds = list(buckets)
        self.series: dict[tuple[str, ...], list] = {}
        if not self.label_names:
            self.observe = self.labels().observe

    def labels(self, *values: str) -> _Series:
        series = self.series.get(values)
        if series is None:
            series = self.series[values] = _Series(self.bounds)
        return series

    def describe(self):
        return [HistogramMetricFamily(self.name, self.doc, labels=self.label_names)]

    def collect(self):
        family = HistogramMetricFamily(self.name, self.doc, labels=self.label_names)
        for values, series in sorted(self.series.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*self.bounds, math.inf], series.counts, strict=True):
                cumulative += count
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric(list(values), buckets, series.total)
        return [family]


class _Series:
    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: list[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # le semantics: value <= bound
        self.total += value


class LocalCounter:
    """A labelled counter kept as plain ints, exported on scrape (see LocalHistogram)."""

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.label_names = name, doc, list(labels)
        self.values: collections.Counter[tuple[str, ...]] = collections.Counter()

    def inc(self, *values: str) -> None:
        self.values[values] += 1

    def describe(self):
        return [CounterMetricFamily(self.name, self.doc, labels=self.label_names)]

    def collect(self):
        family = CounterMetricFamily(self.name, self.doc, labels=self.label_names)
        for values, count in sorted(self.values.items()):
            family.add_metric(list(values), count)
        return [family]


PROBE_DURATION = LocalHistogram(
    "hotline_ops_probe_duration_seconds",
    "Wall time of one probe check, by probe kind.",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    labels=("kind",),
)
SCHEDULE_LAG = LocalHistogram(
    "hotline_ops_probe_schedule_lag_seconds",
    "Delay between a check's due time and its start.",
    (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PROBE_CHECKS = LocalCounter(
    "hotline_ops_probe_checks",
    "Probe checks completed, by kind and result.",
    ("kind", "result"),
)
_RESULT = {True: "ok", False: "fail"}


def probe_done(kind: str, ok: bool, seconds: float) -> None:
    """One finished check: its duration and its outcome, by kind."""
    PROBE_DURATION.labels(kind).observe(seconds)
    PROBE_CHECKS.inc(kind, _RESULT[ok])


UP_VALUES = {"up": 1.0, "down": 0.0}


class StoreCollector:
    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self):
        snap = status.snapshot(self.app)
        yield from self._probes(snap["targets"])
        yield _gauge(
            "hotline_ops_incidents_open",
            "Open incidents by level.",
            "level",
            {str(n): snap["open_by_level"].get(n, 0) for n in self.app.levels.levels},
        )
        breaches = CounterMetricFamily(
            "hotline_ops_timer_breaches",
            "Contract timers that passed unmet, by timer.",
            labels=["kind"],
        )
        for kind, count in sorted(snap["breaches_by_kind"].items()):
            breaches.add_metric([kind], count)
        yield breaches
        channels = {name: 0 for name in self.app.channels} | snap["backlog_by_channel"]
        yield _gauge(
            "hotline_ops_outbox_backlog",
            "Notifications waiting to be delivered.",
            "channel",
            channels,
        )
        failed = {name: 0 for name in self.app.channels} | snap["failed_by_channel"]
        yield _gauge(
            "hotline_ops_outbox_failed", "Notifications that failed for good.", "channel", failed
        )

    def _probes(self, states: dict[str, tuple[str, float | None]]):
        up = GaugeMetricFamily(
            "hotline_ops_probe_up",
            "1 when the target is hard UP, 0 when hard DOWN, NaN before the first verdict.",
            labels=["target", "kind"],
        )
        latency = GaugeMetricFamily(
            "hotline_ops_probe_latency_seconds",
            "Latency of the last probe check.",
            labels=["target", "kind"],
        )
        for name, target in sorted(self.app.targets.items()):
            state, seconds = states.get(name, ("unknown", None))
            up.add_metric([name, target.kind], UP_VALUES.get(state, math.nan))
            if seconds is not None:
                latency.add_metric([name, target.kind], seconds)
        yield up
        yield latency


def _gauge(name: str, doc: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


class LoopCollector:
    """Age of each daemon loop's last completed tick, so Prometheus can alert on a loop that
    stalled (a hung timer loop would let contract deadlines pass unannounced)."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def collect(self):
        yield _gauge(
            "hotline_ops_loop_age_seconds",
            "Seconds since the daemon loop last completed a tick (since start if never).",
            "loop",
            self.daemon.loop_ages_for_metrics(),
        )


class JournalCollector:
    """The alert journal: entries not yet ingested, and the lag from an entry's received_at
    to the commit that ingested it (this process's consumer, since its start)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self):
        yield GaugeMetricFamily(
            "hotline_ops_alert_journal_pending",
            "Alert journal entries (accepted requests) not yet ingested.",
            value=journal.pending(self.app),
        )
        yield GaugeMetricFamily(
            "hotline_ops_alert_journal_quarantined",
            "Alert journal entries whose ingest kept failing, set aside in the journal "
            "file's dead table (their alerts opened no incident).",
            value=journal.quarantined(self.app),
        )
        counts = first_notice.state(self.app).counts
        notices = CounterMetricFamily(
            "hotline_ops_first_notices",
            "Alerts' first notices by outcome: sent (from the request), failed (the outbox "
            "sent it again), superseded (named an incident the consumer did not open), "
            "skipped (the decision's reads ran out of time).",
            labels=["outcome"],
        )
        for outcome in ("sent", "failed", "superseded", "skipped"):
            notices.add_metric([outcome], counts[outcome])
        yield notices
        quantiles = (0.5, 0.9, 0.99, 1.0)
        lags = journal.lag_quantiles(self.app, *quantiles)
        yield _gauge(
            "hotline_ops_alert_journal_lag_seconds",
            "Journal lag quantiles: received_at to the ingest commit, per entry.",
            "quantile",
            {str(q): lag for q, lag in zip(quantiles, lags, strict=True) if lag is not None},
        )


def build_registry(app: Any, daemon: Any = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StoreCollector(app))
    registry.register(JournalCollector(app))
    if daemon is not None:
        registry.register(LoopCollector(daemon))
    registry.register(PROBE_DURATION)
    registry.register(SCHEDULE_LAG)
    registry.register(PROBE_CHECKS)
    return registry
