"""The probe engine: one asyncio loop runs every target on its own interval.

A heap of due times, not a scheduler job per target: 5 000 targets cost one timer, not
5 000. Each target's first run is spread over its interval (no thundering herd) and each
later run is jittered slightly. What a check costs is mostly the wake-ups around it, so:

- **Timer slack.** One wake-up starts every check due within the next ``slack`` seconds
  (at most 0.1 s, and never more than a target's own jitter band): a check may start a
  little *early*, never late by design. At 50 checks a second this alone halves the CPU.
- **No semaphore, no queue.** A counter bounds checks in flight (the rest wait in a deque,
  in due order); results go to a plain list that the writer swaps out every
  ``batch_window_s`` and records in one transaction.
- **Deadlines swept by the scheduler** instead of a timer per check: checks with the same
  timeout end in start order, so a FIFO per timeout value holds their deadlines and the
  scheduler, waking for whatever comes first (a due check or a deadline), cancels the
  overdue ones. Probes that offer ``attempt()`` (tcp, http) are bounded exactly at their
  timeout this way; the others keep their own deadline and are cancelled only if they
  overrun it by a second (a probe bug).
- The delay between a check's due time and its start is the *schedule lag*, a histogram;
  the clock is read once per burst.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import heapq
import itertools
import logging
import math
import random
from typing import Any

from hotline_ops import metrics
from hotline_ops.content import Target
from hotline_ops.metrics import SCHEDULE_LAG
from hotline_ops.probes.base import Probe, ProbeResult, timed_out
from hotline_ops.services import probing

log = logging.getLogger(__name__)

MAX_SLACK_S = 0.1
MAX_SLEEP_S = 0.25  # stop() takes effect within this
OVERRUN_S = 1.0
DRAIN_S = 2.0  # how long stop() lets checks in flight finish


class ProbeEngine:
    def __init__(
        self,
        app: Any,
        recorder: probing.Recorder,
        *,
        concurrency: int = 256,
        jitter: float = 0.05,
        slack_s: float = MAX_SLACK_S,
        batch_window_s: float = 0.5,
        seed: int | None = None,
    ) -> None:
        self.app = app
        self.recorder = recorder
        self.concurrency = concurrency
        self.jitter = jitter
        self.slack_s = slack_s
        self.batch_window_s = batch_window_s
        self.random = random.Random(seed)
        self.results: list[tuple[Target, ProbeResult]] = []
        self.waiting: collections.deque[tuple[Target, float]] = collections.deque()
        self.in_flight = 0
        self.probes: dict[str, Probe] = {}
        # (timeout, bounded) → (deadline, task) in start order, i.e. in deadline order.
        self.deadlines: dict[tuple[float, bool], collections.deque] = {}
        self.expired: dict[asyncio.Task, str] = {}
        self.tasks: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self.completed = 0

    async def run(self, targets: list[Target] | None = None) -> None:
        """Probe until stop(); results are recorded as they come."""
        clock = self.app.clock
        targets = list(self.app.targets.values()) if targets is None else targets
        slack = self._slack(targets)
        self._prepare(targets)
        seq = itertools.count()
        now = clock.monotonic()
        heap = [(now + self.random.uniform(0, t.interval_s), next(seq), t) for t in targets]
        heapq.heapify(heap)
        writer = asyncio.create_task(self._writer())
        try:
            while heap and not self.stopping.is_set():
                now = clock.monotonic()
                self._expire(now)
                self._start_due(heap, seq, slack, now)
                wake = min(heap[0][0], self._next_deadline(), now + MAX_SLEEP_S)
                if wake > now:
                    await asyncio.sleep(wake - now)
        finally:
            await self._drain(writer)

    def _prepare(self, targets: list[Target]) -> None:
        """Build every probe now, then freeze what exists (app, content, probes) out of the
        garbage collector's sight: it lives as long as the process, and a full collection
        walking it stalled the loop for 0.1-0.3 s and took a third of the CPU at 5 000
        targets (measured; bench/README.md). Refcounting still frees everything as usual."""
        for target in targets:
            with contextlib.suppress(Exception):  # reported by its first check instead
                self._probe(target)
        # No gc.collect() first: walking everything is exactly the stall this avoids (at
        # 11 000 targets it delayed the first checks by 0.1 s); whatever cyclic garbage
        # exists at start stays, once.
        gc.freeze()

    def _slack(self, targets: list[Target]) -> float:
        """How early a check may start: within every target's jitter band, at most slack_s."""
        if not targets:
            return 0.0
        shortest = min(t.interval_s for t in targets)
        return max(0.0, min(self.slack_s, shortest * self.jitter))

    def _start_due(self, heap: list, seq: Any, slack: float, now: float) -> None:
        """Start every check due within ``slack``: one wake-up for a burst, not one per check."""
        horizon = now + slack
        while heap and heap[0][0] <= horizon:
            due, _, target = heap[0]
            heapq.heapreplace(heap, (self._next(due, target), next(seq), target))
            if self.in_flight < self.concurrency:
                self._start(target, due, now)
            else:
                self.waiting.append((target, due))

    def _next(self, due: float, target: Target) -> float:
        spread = target.interval_s * self.jitter
        return due + target.interval_s + self.random.uniform(-spread, spread)

    def _start(self, target: Target, due: float, now: float) -> None:
        SCHEDULE_LAG.observe(now - due if now > due else 0.0)
        try:
            probe = self._probe(target)
        except Exception as exc:  # e.g. a CA file gone since start: a failed check, not a crash
            log.exception("cannot build the %s probe of %s", target.kind, target.name)
            self.results.append((target, ProbeResult(False, None, f"probe error: {exc}")))
            return
        self.in_flight += 1
        bounded = type(probe).attempt is not Probe.attempt
        task = asyncio.create_task(self._check(target, probe, bounded, now))
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        # Bounded here: exactly at the timeout. A probe with its own deadline: a second past it.
        key = (target.timeout_s, bounded)
        fifo = self.deadlines.get(key)
        if fifo is None:
            fifo = self.deadlines[key] = collections.deque()
        fifo.append((now + target.timeout_s + (0.0 if bounded else OVERRUN_S), task))

    def _finished(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.expired.pop(task, None)  # a probe that swallowed its cancellation
        self.in_flight -= 1
        if self.waiting and not self.stopping.is_set():
            target, due = self.waiting.popleft()
            self._start(target, due, self.app.clock.monotonic())

    async def _check(self, target: Target, probe: Probe, bounded: bool, started: float) -> None:
        try:
            if bounded:
                result = await probing.attempt(target, probe)
            else:
                result = await probing.check(target, probe, guard=False)
        except asyncio.CancelledError:
            detail = self.expired.pop(asyncio.current_task(), None)
            if detail is None:
                raise  # stop()
            result = ProbeResult(False, None, detail)
        metrics.probe_done(target.kind, result.ok, self.app.clock.monotonic() - started)
        self.results.append((target, result))

    def _next_deadline(self) -> float:
        """The earliest deadline of a check still running (finished ones are dropped)."""
        earliest = math.inf
        for fifo in self.deadlines.values():
            while fifo and fifo[0][1].done():
                fifo.popleft()
            if fifo and fifo[0][0] < earliest:
                earliest = fifo[0][0]
        return earliest

    def _expire(self, now: float) -> None:
        """Cancel every check past its deadline; it is recorded as a failure."""
        for (timeout, bounded), fifo in self.deadlines.items():
            while fifo and (fifo[0][0] <= now or fifo[0][1].done()):
                _, task = fifo.popleft()
                if task.done():
                    continue
                if bounded:
                    self.expired[task] = timed_out(timeout)
                else:
                    log.error(
                        "a probe overran its %gs timeout by %gs; cancelling it", timeout, OVERRUN_S
                    )
                    self.expired[task] = f"probe overran its {timeout:g}s timeout"
                task.cancel()

    def _probe(self, target: Target) -> Probe:
        # One instance per target, kept: probes may hold sockets or sessions between checks.
        probe = self.probes.get(target.name)
        if probe is None:
            probe = self.probes[target.name] = target.probe()
        return probe

    async def _writer(self) -> None:
        """Every ``batch_window_s``, record what came in since: one transaction per window
        instead of one per result (the difference is 10× in CPU per probe). Returns once
        stop() is called; _drain writes the rest."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):  # stop() cuts the window short
                await asyncio.wait_for(self.stopping.wait(), self.batch_window_s)
            await self._write()

    async def _write(self) -> None:
        batch, self.results = self.results, []
        if not batch:
            return
        try:
            await asyncio.to_thread(self.recorder.record_many, batch)
            self.completed += len(batch)
        except Exception:
            log.exception("recording %d results failed; they are lost", len(batch))

    async def _drain(self, writer: asyncio.Task) -> None:
        """Let checks in flight finish, write everything they returned, close the probes."""
        self.waiting.clear()  # queued behind the limit when stop() came: not started
        clock = self.app.clock
        end = clock.monotonic() + DRAIN_S
        while self.tasks and (now := clock.monotonic()) < end:
            self._expire(now)  # deadlines still hold: a timeout is recorded as one
            wait = min(self._next_deadline(), end) - now
            await asyncio.wait(set(self.tasks), timeout=max(wait, 0.001))
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=1)
        await writer
        await self._write()
        for probe in self.probes.values():
            await probe.close()

    def stop(self) -> None:
        self.stopping.set()
