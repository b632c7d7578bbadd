"""The daemon: APScheduler drives cadences only (probe intervals, the timer and outbox
polls); business deadlines live in the store and are claimed by the timer loop."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from hotline_ops.content import Target
from hotline_ops.metrics import PROBE_DURATION
from hotline_ops.services import outbox, probing, timers

log = logging.getLogger(__name__)


class Daemon:
    def __init__(self, app: Any, *, probes: bool = True) -> None:
        self.app = app
        self.probes = probes
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.last_tick: dict[str, float] = {}

    def start(self) -> None:
        cfg = self.app.settings.daemon
        if self.probes:
            for target in self.app.targets.values():
                self._add_probe(target)
        self._add_loop("timers", self._timers, cfg.timer_poll_s)
        self._add_loop("outbox", self._outbox, cfg.outbox_poll_s)
        self.scheduler.start()
        log.info(
            "daemon started: %d targets, timer poll %.1fs, outbox poll %.1fs",
            len(self.app.targets),
            cfg.timer_poll_s,
            cfg.outbox_poll_s,
        )

    def _add_probe(self, target: Target) -> None:
        # Spread first runs over the interval so 500 targets don't fire in one burst.
        first = datetime.now(UTC) + timedelta(seconds=random.uniform(0, min(target.interval_s, 2)))
        self.scheduler.add_job(
            self._probe,
            "interval",
            args=[target],
            id=f"probe:{target.name}",
            seconds=target.interval_s,
            next_run_time=first,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(target.interval_s / 2)),
        )

    def _add_loop(self, name: str, func: Any, every_s: float) -> None:
        self.scheduler.add_job(
            func,
            "interval",
            id=name,
            seconds=every_s,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(every_s * 5)),
        )

    async def _probe(self, target: Target) -> None:
        started = self.app.clock.monotonic()
        result = await probing.check(target)
        PROBE_DURATION.labels(target.kind).observe(self.app.clock.monotonic() - started)
        await asyncio.to_thread(probing.record, self.app, target, result)
        self.last_tick["probes"] = self.app.clock.monotonic()

    async def _timers(self) -> None:
        await self._guarded("timers", timers.fire_due, self.app)

    async def _outbox(self) -> None:
        await self._guarded("outbox", outbox.deliver_due, self.app)

    async def _guarded(self, name: str, func: Any, *args: Any) -> None:
        """A loop's failure is logged and retried on the next tick, never fatal."""
        try:
            await asyncio.to_thread(func, *args)
            self.last_tick[name] = self.app.clock.monotonic()
        except Exception:
            log.exception("%s loop failed; retrying next tick", name)

    def loop_ages(self) -> dict[str, float | None]:
        now = self.app.clock.monotonic()
        return {
            name: (now - self.last_tick[name]) if name in self.last_tick else None
            for name in ("timers", "outbox")
        }

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
