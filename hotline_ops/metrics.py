"""Prometheus metrics. Figures that must survive restarts (probe state, open incidents, timer
breaches, outbox backlog) are read from the store at scrape time; only per-process timings
live in memory."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from hotline_ops.services import status

PROBE_DURATION = Histogram(
    "hotline_ops_probe_duration_seconds",
    "Wall time of one probe check, by probe kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)
SCHEDULE_LAG = Histogram(
    "hotline_ops_probe_schedule_lag_seconds",
    "Delay between a check's due time and its start.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=None,
)
PROBE_CHECKS = Counter(
    "hotline_ops_probe_checks",
    "Probe checks completed, by kind and result.",
    ["kind", "result"],
    registry=None,
)
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


def build_registry(app: Any, daemon: Any = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StoreCollector(app))
    if daemon is not None:
        registry.register(LoopCollector(daemon))
    registry.register(PROBE_DURATION)
    registry.register(SCHEDULE_LAG)
    registry.register(PROBE_CHECKS)
    return registry
