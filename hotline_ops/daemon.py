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
from hotline_ops.services import alerts, inspection, outbox, probing, timers
from hotline_ops.services import reports as report_service

log = logging.getLogger(__name__)
LOOPS = ("timers", "outbox", "rollups", "alerts")
# Daily report after the 08:00 inspection; monthly on the 1st; quarterly in the quarter's
# first week; a draft of the acceptance pack on 2 January (C1: acceptance before 15 January).
REPORT_SCHEDULE = {
    "daily": {"hour": 8, "minute": 30},
    "monthly": {"day": 1, "hour": 9, "minute": 0},
    "quarterly": {"month": "1,4,7,10", "day": 3, "hour": 9, "minute": 30},
    "acceptance": {"month": 1, "day": 2, "hour": 10, "minute": 0},
}


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
        if self.probes:
            self.engine_task = asyncio.get_running_loop().create_task(self.engine.run())
        self._add_loop("timers", timers.fire_due, cfg.timer_poll_s)
        self._add_loop("outbox", outbox.deliver_due, cfg.outbox_poll_s)
        self._add_loop("rollups", lambda _app: self.recorder.flush(), 30)
        # v2 API alerts without endsAt resolve when not re-sent within resolve_timeout.
        self._add_loop("alerts", alerts.expire_stale, 5)
        self._add_inspection()
        self._add_reports()
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

    async def _inspect(self) -> None:
        try:
            await inspection.inspect_lines(self.app, self.recorder, trigger="schedule")
        except Exception:
            log.exception("scheduled line inspection failed")

    def _add_reports(self) -> None:
        """Report builds (M1.2, M2.2a/b, C1), site time: they land in the register for review
        and filing (`report file`). A missed run still happens within 6 h of coming back."""
        for kind, cron in REPORT_SCHEDULE.items():
            self.scheduler.add_job(
                self._report,
                CronTrigger(**cron, timezone=self.app.settings.tz),
                args=[kind],
                id=f"report-{kind}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=6 * 3600,
            )

    async def _report(self, kind: str) -> None:
        try:
            await asyncio.to_thread(report_service.scheduled, self.app, kind)
        except Exception:
            log.exception("scheduled %s report failed", kind)

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
