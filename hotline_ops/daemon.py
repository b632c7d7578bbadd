"""The daemon: the probe engine, plus APScheduler for cadences only (the timer and outbox
polls, rollup flushes, the 08:00 daily line inspection). Business deadlines live in the
store and are claimed by the timer loop, never scheduled as jobs."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from hotline_ops.engine import ProbeEngine
from hotline_ops.services import alerts, inspection, outbox, probing, timers, watchdog

log = logging.getLogger(__name__)
LOOPS = ("timers", "outbox", "rollups", "alerts")


class Daemon:
    def __init__(self, app: Any, *, probes: bool = True) -> None:
        self.app = app
        self.probes = probes
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.recorder = probing.Recorder(app)
        self.engine = ProbeEngine(app, self.recorder)
        self.engine_task: asyncio.Task | None = None
        self.last_tick: dict[str, float] = {}

    def start(self) -> None:
        cfg = self.app.settings.daemon
        try:
            outbox.recover(self.app)  # a crashed predecessor's leases: retry those now
        except Exception:
            log.exception("outbox lease recovery failed; leases expire on their own")
        if self.probes:
            self.engine_task = asyncio.get_running_loop().create_task(self.engine.run())
        self._add_loop("timers", timers.fire_due, cfg.timer_poll_s)
        self._add_loop("outbox", outbox.deliver_due, cfg.outbox_poll_s)
        self._add_loop("rollups", lambda _app: self.recorder.flush(), 30)
        # v2 API alerts without endsAt resolve when not re-sent within resolve_timeout.
        self._add_loop("alerts", alerts.expire_stale, 5)
        self._add_inspection()
        self._add_heartbeat()
        self.scheduler.start()
        log.info(
            "daemon started: %d targets, timer poll %.1fs, outbox poll %.1fs",
            len(self.app.targets),
            cfg.timer_poll_s,
            cfg.outbox_poll_s,
        )

    def _add_loop(self, name: str, func: Any, every_s: float) -> None:
        self.scheduler.add_job(
            self._guarded,
            "interval",
            args=[name, func],
            id=name,
            seconds=every_s,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(every_s * 5)),
        )

    def _add_inspection(self) -> None:
        """The daily line inspection (M1.2) at 08:00 site time; a missed run (daemon down at
        08:00) still happens within the hour it comes back."""
        trigger = CronTrigger(hour=8, minute=0, timezone=self.app.settings.tz)
        self.scheduler.add_job(
            self._inspect,
            trigger,
            id="inspect-lines",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )

    def _add_heartbeat(self) -> None:
        """The dead-man ping (watchdog.heartbeat_url_secret); off when not configured."""
        if self.app.settings.watchdog.heartbeat_url_secret is None:
            return
        self.scheduler.add_job(
            self._heartbeat,
            "interval",
            id="heartbeat",
            seconds=self.app.settings.watchdog.heartbeat_every_s,
            next_run_time=datetime.now(UTC),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=30,
        )

    async def _heartbeat(self) -> None:
        try:
            await asyncio.to_thread(watchdog.beat, self.app, self.loop_ages())
        except Exception:
            log.exception("heartbeat failed; next beat retries")

    async def _inspect(self) -> None:
        try:
            await inspection.inspect_lines(self.app, self.recorder, trigger="schedule")
        except Exception:
            log.exception("scheduled line inspection failed")

    async def _guarded(self, name: str, func: Any) -> None:
        """A loop's failure is logged and retried on the next tick, never fatal."""
        try:
            await asyncio.to_thread(func, self.app)
            self.last_tick[name] = self.app.clock.monotonic()
        except Exception:
            log.exception("%s loop failed; retrying next tick", name)

    def loop_ages(self) -> dict[str, float | None]:
        now = self.app.clock.monotonic()
        return {
            name: (now - self.last_tick[name]) if name in self.last_tick else None for name in LOOPS
        }

    async def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.engine_task is not None:
            self.engine.stop()
            await asyncio.wait({self.engine_task}, timeout=3)
        await asyncio.to_thread(self.recorder.flush, final=True)
