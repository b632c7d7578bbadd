"""The daemon: the probe engine; the timer loop (sleeps until the next stored deadline) and
the outbox loop (woken when a commit queues a message), each with its poll as a fallback;
APScheduler for cadences only (alert expiry, rollup flushes, the 08:00 daily line
inspection). Business deadlines live in the store and are claimed by the timer loop, never
scheduled as jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from hotline_ops.engine import ProbeEngine
from hotline_ops.services import (
    alerts,
    first_notice,
    inspection,
    journal,
    outbox,
    probing,
    timers,
    watchdog,
)
from hotline_ops.services import reports as report_service
from hotline_ops.store.db import CHECKPOINT_S

log = logging.getLogger(__name__)
LOOPS = ("timers", "outbox", "rollups", "alerts")
# The journal consumer in a burst: checks for a gap every JOURNAL_GAP_S, drains at least a
# JOURNAL_BUSY_BATCH every JOURNAL_DEFER_S (and stops deferring after journal_defer_s).
JOURNAL_GAP_S = 0.002
JOURNAL_DEFER_S = 0.25
JOURNAL_BUSY_BATCH = 25
JOURNAL_TURN_S = 0.05
SWITCH_INTERVAL_S = 0.0005
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
        self.outbox_task: asyncio.Task | None = None
        self.timer_task: asyncio.Task | None = None
        self.journal_task: asyncio.Task | None = None
        self.last_tick: dict[str, float] = {}
        self.started: float | None = None

    def start(self) -> None:
        cfg = self.app.settings.daemon
        try:
            outbox.recover(self.app)  # a crashed predecessor's leases: retry those now
        except Exception:
            log.exception("outbox lease recovery failed; leases expire on their own")
        self._warm_channels()
        if self.probes:
            self.engine_task = asyncio.get_running_loop().create_task(self.engine.run())
        self.started = self.app.clock.monotonic()
        loop = asyncio.get_running_loop()
        # Not an APScheduler job: it sleeps until the next deadline is due (timer_poll_s at
        # most), so a timer fires at its due time, not up to a poll later.
        self.timer_task = loop.create_task(self._timer_loop(cfg.timer_poll_s))
        # Not an APScheduler job: it wakes as soon as a message is queued (outbox_poll_s is
        # the fallback), so a notification does not wait for the next poll.
        self.outbox_task = loop.create_task(self._outbox_loop(cfg.outbox_poll_s))
        if cfg.alert_ingest == "journal":
            # Counted before the server accepts a request: from now on a POST of alerts
            # answers once journaled and this loop opens the incidents (first: what a crash
            # left in the journal).
            journal.state(self.app).consumers += 1
            first_notice.state(self.app).consumer = True
            first_notice.install(self.app)
            # The consumer's thread hands the interpreter back to the event loop within
            # 0.5 ms instead of 5 ms when an alert comes in (services.first_notice).
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            # Opened now, before any request: opening adopts a pre-0016 journal table, store
            # work that must not fall to the first POST's commit on the event loop.
            journal.spool(self.app)
            self.journal_task = loop.create_task(self._journal_loop(cfg.journal_poll_s))
        self._add_loop("rollups", lambda _app: self.recorder.flush(), 30)
        # The store's WAL into its file every few seconds (store.db.WAL_AUTOCHECKPOINT_PAGES);
        # the journal consumer's trims do it too while alerts flow.
        self._add_loop("checkpoint", lambda app: app.store.checkpoint_if_older(CHECKPOINT_S), 1)
        # v2 API alerts without endsAt resolve when not re-sent within resolve_timeout.
        self._add_loop("alerts", alerts.expire_stale, 5)
        self._add_inspection()
        self._add_heartbeat()
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
        """An APScheduler job: one tick; cancelled at shutdown, it ends quietly (APScheduler
        would log the CancelledError with a traceback, as if the loop had failed)."""
        try:
            await self._tick(name, func)
        except asyncio.CancelledError:
            log.debug("%s loop cancelled at shutdown", name)

    async def _tick(self, name: str, func: Any) -> bool:
        """A loop's failure is logged and retried on the next tick, never fatal; True when
        the tick completed."""
        try:
            await asyncio.to_thread(func, self.app)
            self.last_tick[name] = self.app.clock.monotonic()
            return True
        except Exception:
            log.exception("%s loop failed; retrying next tick", name)
            return False

    async def _timer_loop(self, poll_s: float) -> None:
        """Fire what is due, then sleep until the next deadline (at most ``poll_s``: a
        deadline another process or request inserts is seen within a poll)."""
        while True:
            known, due = timers.peek_next_due(self.app)
            if known and (due is None or due > self.app.clock.now()):
                self.last_tick["timers"] = self.app.clock.monotonic()  # nothing due: no pass
            elif await self._tick("timers", timers.fire_due):
                due = await asyncio.to_thread(self._next_due)
            else:
                due = None
            await asyncio.sleep(self._until(due, poll_s))

    def _until(self, due: datetime | None, poll_s: float) -> float:
        """Sleep until ``due``, ``poll_s`` at most; 10 ms at least: never a busy loop on a
        row that is due but not fired."""
        if due is None:
            return poll_s
        return min(poll_s, max(0.01, (due - self.app.clock.now()).total_seconds()))

    def _warm_channels(self) -> None:
        """Each HTTP channel's client, built before the server accepts a request (see
        notify._http.HttpChannel.warm); a failure here is the first send's to report."""
        for channel in self.app.channels.values():
            warm = getattr(channel, "warm", None)
            if warm is None:
                continue
            try:
                warm()
            except Exception:
                log.warning("channel %s: building its HTTP client failed", channel.name,
                            exc_info=True)  # fmt: skip

    def _next_due(self) -> datetime | None:
        try:
            return timers.next_due(self.app)
        except Exception:
            log.exception("timers loop: reading the next due time failed")
            return None

    async def _outbox_loop(self, poll_s: float) -> None:
        """Deliver, then wait for a wake-up (a commit that queued a message) or the poll."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def signal() -> None:  # called from whichever thread committed
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(wake.set)

        stop = outbox.deliver_here(self.app, signal)
        try:
            while True:
                wake.clear()  # before the pass: a message queued during it wakes the next
                if outbox.surely_idle(self.app):
                    self.last_tick["outbox"] = self.app.clock.monotonic()
                else:
                    await self._tick("outbox", outbox.deliver_due)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), poll_s)
        finally:
            stop()

    async def _journal_loop(self, poll_s: float) -> None:
        """Drain the alert journal, then wait for a journal commit (or the poll: entries
        another process journaled)."""
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        mine = threading.get_ident()

        def signal() -> None:  # called from the thread that committed
            if threading.get_ident() == mine:
                wake.set()  # the API's commit, on this loop: no self-pipe write per commit
                return
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)

        unsubscribe = journal.on_append(signal)
        try:
            while True:
                wake.clear()  # before the pass: an entry journaled during it wakes the next
                await self._first_notices()  # ready at once when nothing was left waiting
                await self._drain_journal()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), poll_s)
        finally:
            unsubscribe()

    async def _first_notices(self) -> None:
        """Once the journal is caught up (what a predecessor left is ingested), alerts'
        first notices may leave from the requests (services.first_notice)."""
        notices = first_notice.state(self.app)
        if notices.ready or not first_notice.enabled(self.app):
            return
        try:
            if not await asyncio.to_thread(journal.pending, self.app):
                await asyncio.to_thread(first_notice.begin, self.app)
        except Exception:
            log.exception("first notices: starting failed; alerts notify through the outbox")

    async def _drain_journal(self) -> None:
        """Drain the journal in batches. In a burst (requests waiting for the journal) a
        batch first waits for a gap, JOURNAL_DEFER_S at most: a drain is milliseconds of
        Python per alert that the requests would wait behind (one interpreter lock), so the
        answers come first. Once the consumer
        has been deferring for ``journal_defer_s`` it stops waiting and drains back to back
        until it catches up: under sustained load the lag stays bounded."""
        cfg = self.app.settings.daemon
        current = journal.state(self.app)
        deferring_since: float | None = None
        while True:
            now = self.app.clock.monotonic()
            if current.busy(now):
                deferring_since = now if deferring_since is None else deferring_since
                if now - deferring_since < cfg.journal_defer_s:
                    await self._gap(current)
                else:
                    await self._turn(current)
            else:
                deferring_since = None
            recent = self.app.clock.monotonic() - current.appended < JOURNAL_DEFER_S
            limit = JOURNAL_BUSY_BATCH if recent else cfg.journal_batch
            try:
                step = await asyncio.to_thread(journal.drain, self.app, limit=limit)
            except Exception:
                log.exception("journal loop failed; retrying next wake-up")
                return
            self.last_tick["journal"] = self.app.clock.monotonic()
            if not step.entries:
                return

    async def _turn(self, current: journal.JournalState) -> None:
        """Catching up: take turns with the journal writer. Requests waiting for the journal
        get one commit through before the next drain (back to back drains would keep them
        waiting for whole batches)."""
        seen, waited = current.appended, 0.0
        while current.in_flight and current.appended == seen and waited < JOURNAL_TURN_S:
            await asyncio.sleep(JOURNAL_GAP_S)
            waited += JOURNAL_GAP_S

    async def _gap(self, current: journal.JournalState) -> None:
        """Wait until no request waits for the journal, JOURNAL_DEFER_S at most."""
        waited = 0.0
        while current.busy(self.app.clock.monotonic()) and waited < JOURNAL_DEFER_S:
            await asyncio.sleep(JOURNAL_GAP_S)
            waited += JOURNAL_GAP_S

    def loop_ages(self) -> dict[str, float | None]:
        now = self.app.clock.monotonic()
        return {
            name: (now - self.last_tick[name]) if name in self.last_tick else None for name in LOOPS
        }

    def loop_ages_for_metrics(self) -> dict[str, float]:
        """Seconds since each loop last completed a tick; a loop that never did counts from
        the daemon's start, so a loop stuck from the beginning ages too."""
        now = self.app.clock.monotonic()
        since = self.started if self.started is not None else now
        return {name: now - self.last_tick.get(name, since) for name in LOOPS}

    async def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = {t for t in (self.timer_task, self.outbox_task, self.journal_task) if t is not None}
        for task in tasks:
            task.cancel()
        if self.journal_task is not None:
            journal.state(self.app).consumers -= 1  # requests drain themselves again
            self.journal_task = None
        if tasks:
            await asyncio.wait(tasks, timeout=3)
        if self.engine_task is not None:
            self.engine.stop()
            await asyncio.wait({self.engine_task}, timeout=3)
        await asyncio.to_thread(self.recorder.flush, final=True)
