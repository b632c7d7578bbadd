"""Probe use cases: run targets, fold results into health state, act on what changed.

- A hard DOWN (or the start of flapping) opens one incident per target; UP resolves it,
  unless the target is flapping, in which case it stays open until flapping stops.
- Inside a maintenance window nothing opens, but everything is recorded; a target still
  DOWN when the window ends gets its incident then.
- History is kept as state changes plus 5-minute rollups (``core/rollup.py``), buffered in
  the Recorder and written when a bucket closes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hotline_ops.content import Target
from hotline_ops.core import maintenance
from hotline_ops.core.health import HealthPolicy, HealthState, Status, Verdict, assess
from hotline_ops.core.rollup import BUCKET, Bucket, bucket_start, merge
from hotline_ops.probes.base import ProbeResult, TargetError, describe_error
from hotline_ops.services import incidents
from hotline_ops.store.models import ProbeRollup, StateChange, TargetState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    target: Target
    result: ProbeResult
    state: HealthState
    verdict: Verdict

    @property
    def flip(self):
        return self.verdict.flip


async def check(target: Target, probe: Any = None, *, guard: bool = True) -> ProbeResult:
    """Run one probe; a probe that overruns its timeout is a failure, never a hang.

    Without ``probe`` a one-off instance is built and closed again (CLI use); the engine
    passes its long-lived instances, which keep sockets and sessions between checks.
    """
    own = probe is None
    probe = probe or target.probe()
    try:
        if not guard:  # the engine, running thousands of checks, keeps one watchdog instead
            return await probe.check(target.timeout_s)
        # A safety net one second past the probe's own timeout.
        async with asyncio.timeout(target.timeout_s + 1.0):
            return await probe.check(target.timeout_s)
    except TimeoutError:
        return ProbeResult(False, None, f"timeout after {target.timeout_s:g}s")
    except Exception as exc:  # a probe bug must not take the engine down
        log.exception("probe %s crashed", target.name)
        return ProbeResult(False, None, f"probe error: {type(exc).__name__}: {exc}")
    finally:
        if own:
            await probe.close()


async def attempt(target: Target, probe: Any) -> ProbeResult | None:
    """Run ``probe.attempt()`` with no deadline of its own (the caller cancels it when due),
    turning target failures and probe bugs into results; None if the probe has no
    unbounded attempt (then use check())."""
    coro = probe.attempt()
    if coro is None:
        return None
    try:
        return await coro
    except (OSError, EOFError, TargetError) as exc:
        # A TimeoutError here is the kernel's (ETIMEDOUT); ours arrives as a cancellation.
        return ProbeResult(False, None, describe_error(exc))
    except Exception as exc:  # a probe bug must not take the engine down
        log.exception("probe %s crashed", target.name)
        return ProbeResult(False, None, f"probe error: {type(exc).__name__}: {exc}")


def policy_of(target: Target) -> HealthPolicy:
    return _policy(target.attempts, target.rise, target.flap_high, target.flap_low)


@functools.lru_cache(maxsize=256)
def _policy(attempts: int, rise: int, flap_high: float, flap_low: float) -> HealthPolicy:
    # Policies are few and immutable; building (and validating) one per result is not free.
    return HealthPolicy(attempts, rise, flap_high=flap_high, flap_low=flap_low)


class Recorder:
    """Folds results into health state and writes them in batches (one transaction each).

    The recorder owns probe state while it runs: states live in memory (loaded from the
    store on first use), so a batch costs one bulk write, not a read per target. A target's
    row is written at once when anything that matters changed (a failure, a flip, flapping,
    maintenance) and otherwise every ``persist_every_s`` (60 s) — a steady UP target costs
    almost nothing. Rollups are buffered per 5-minute bucket and written when it closes.
    """

    def __init__(self, app: Any, *, persist_every_s: float = 60.0) -> None:
        self.app = app
        self.persist_every_s = persist_every_s
        self.buckets: dict[tuple[str, datetime], Bucket] = {}
        self.states: dict[str, HealthState] | None = None
        self.suppressed: dict[str, bool] = {}
        self.persisted_at: dict[str, datetime] = {}
        self.known: set[str] = set()
        self.lock = threading.Lock()

    def record(self, target: Target, result: ProbeResult) -> Outcome:
        return self.record_many([(target, result)])[0]

    def record_many(self, items: list[tuple[Target, ProbeResult]]) -> list[Outcome]:
        now = self.app.clock.now()
        with self.lock, self.app.store.session() as session:
            if self.states is None:
                self._load(session)
            outcomes, rows = [], {}
            start = bucket_start(now)  # one clock reading, one bucket per batch
            for target, result in items:
                outcome, row = self._one(session, target, result, now, start)
                outcomes.append(outcome)
                if row is not None:
                    rows[target.name] = row  # a target checked twice in a batch: last wins
            self._write(session, list(rows.values()))
        return outcomes

    def _load(self, session: Session) -> None:
        self.states = {}
        for row in session.scalars(select(TargetState)):
            self.states[row.target] = _to_state(row)
            self.suppressed[row.target] = bool(row.suppressed)
            self.known.add(row.target)

    def _one(
        self,
        session: Session,
        target: Target,
        result: ProbeResult,
        now: datetime,
        start: datetime,
    ) -> tuple[Outcome, dict | None]:
        previous = self.states.get(target.name, HealthState())
        verdict = assess(previous, result.ok, now, policy_of(target))
        self.states[target.name] = verdict.state
        self._bucket(target.name, start).add(
            result.ok, result.latency_s, result.metrics, result.classification
        )
        was_suppressed = self.suppressed.get(target.name, False)
        suppressed = _act(session, self.app, target, was_suppressed, verdict, result, now)
        self.suppressed[target.name] = suppressed
        outcome = Outcome(target, result, verdict.state, verdict)
        changed = _matters(previous, verdict) or suppressed != was_suppressed
        if not changed and not self._due(target.name, now):
            return outcome, None
        self.persisted_at[target.name] = now
        return outcome, _row(target, verdict.state, result, suppressed)

    def _due(self, name: str, now: datetime) -> bool:
        last = self.persisted_at.get(name)
        return last is None or (now - last).total_seconds() >= self.persist_every_s

    def _write(self, session: Session, rows: list[dict]) -> None:
        new = [r for r in rows if r["target"] not in self.known]
        old = [r for r in rows if r["target"] in self.known]
        if new:
            session.execute(insert(TargetState), new)
            self.known.update(r["target"] for r in new)
        if old:
            session.execute(update(TargetState), old)

    def _bucket(self, name: str, start: datetime) -> Bucket:
        key = (name, start)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket()
        return bucket

    def flush(self, *, final: bool = False) -> int:
        """Write closed buckets (all of them when ``final``); returns rows written."""
        now = self.app.clock.now()
        with self.lock:
            done = [k for k in self.buckets if final or k[1] + BUCKET <= now]
            ready = {k: self.buckets.pop(k).summary() for k in done}
        if ready:
            with self.app.store.session() as session:
                for (name, start), summary in ready.items():
                    _upsert_rollup(session, name, start, summary)
        return len(ready)


def _matters(previous: HealthState, verdict: Verdict) -> bool:
    """A change worth writing at once (the rest is written on the persist cadence)."""
    state = verdict.state
    return (
        verdict.flip is not None
        or verdict.flap is not None
        or state.fails > 0
        or previous.fails > 0
        or previous.status != state.status
    )


def _to_state(row: TargetState) -> HealthState:
    return HealthState(
        Status(row.status),
        row.fails,
        row.oks,
        row.changed_at,
        row.checked_at,
        row.history or "",
        bool(row.flapping),
    )


def _row(target: Target, state: HealthState, result: ProbeResult, suppressed: bool) -> dict:
    return {
        "target": target.name,
        "kind": target.kind,
        "status": str(state.status),
        "fails": state.fails,
        "oks": state.oks,
        "changed_at": state.changed_at,
        "checked_at": state.checked_at,
        "history": state.history,
        "flapping": state.flapping,
        "latency_s": result.latency_s,
        "detail": result.detail,
        "suppressed": suppressed,
    }


def _upsert_rollup(session: Session, name: str, start: datetime, summary: dict) -> None:
    row = session.get(ProbeRollup, (name, start))
    if row is None:
        session.add(ProbeRollup(target=name, bucket=start, **summary))
        return
    merged = merge(_summary_of(row), summary)
    for key, value in merged.items():
        setattr(row, key, value)


def _summary_of(row: ProbeRollup) -> dict:
    return {
        "count": row.count,
        "failures": row.failures,
        "rtt_p50": row.rtt_p50,
        "rtt_p95": row.rtt_p95,
        "rtt_max": row.rtt_max,
        "peaks": dict(row.peaks),
        "classes": dict(row.classes),
    }


def _act(
    session: Session,
    app: Any,
    target: Target,
    suppressed: bool,
    verdict: Verdict,
    result: ProbeResult,
    now: datetime,
) -> bool:
    """Open, reopen or resolve the target's incident; returns the new 'suppressed' flag."""
    state = verdict.state
    if verdict.flip is None and verdict.flap is None and not suppressed:
        return False  # the common case: nothing changed, nothing to decide
    _log_changes(session, target, verdict, result, now)
    window = maintenance.active(
        app.content.maintenance, target.name, target.labels, now, app.settings.tz
    )
    trouble = (verdict.flip is not None and verdict.flip.new == Status.DOWN) or (
        verdict.flap == "start"
    )
    if window is not None:
        if trouble:
            session.add(
                StateChange(
                    target=target.name,
                    at=now,
                    kind="maintenance",
                    old="",
                    new=str(state.status),
                    detail=window.name,
                )
            )
            return True
        return suppressed
    if trouble or (suppressed and state.status == Status.DOWN):
        _open(session, app, target, verdict, result, now)
    elif _recovered(verdict):
        incidents.resolve_by_key(
            session,
            app,
            now=now,
            dedup_key=_key(target),
            actor="probe",
            reason=f"{target.name} 已恢复：{result.detail}",
        )
    return False


def _recovered(verdict: Verdict) -> bool:
    """UP and not flapping: either it just came up, or it just stopped flapping while up."""
    state = verdict.state
    came_up = verdict.flip is not None and verdict.flip.new == Status.UP and not state.flapping
    calmed = verdict.flap == "stop" and state.status == Status.UP
    return came_up or calmed


def _key(target: Target) -> str:
    return f"probe:{target.name}"


def _open(
    session: Session, app: Any, target: Target, verdict: Verdict, result: ProbeResult, now: datetime
) -> None:
    flapping = verdict.flap == "start"
    what = "状态频繁波动" if flapping else "不可用"
    labels = {**target.labels, "target": target.name, "probe": target.kind}
    incident, created = incidents.open_or_reopen(
        session,
        app,
        now=now,
        dedup_key=_key(target),
        source="probe",
        actor="probe",
        title=f"{target.name} {what}：{result.detail}",
        labels=labels,
        target=target.name,
    )
    if flapping and not created:
        incidents.add_event(
            session,
            incident,
            now=now,
            actor="probe",
            kind="flapping",
            reason=f"{target.name} started flapping",
        )


def _log_changes(
    session: Session, target: Target, verdict: Verdict, result: ProbeResult, now: datetime
) -> None:
    if verdict.flip is not None:
        log.info("%s is %s: %s", target.name, verdict.flip.new, result.detail)
        session.add(
            StateChange(
                target=target.name,
                at=now,
                kind="flip",
                old=str(verdict.flip.old),
                new=str(verdict.flip.new),
                detail=result.detail,
            )
        )
    if verdict.flap is not None:
        log.info("%s flapping %s", target.name, verdict.flap)
        session.add(
            StateChange(
                target=target.name,
                at=now,
                kind="flap",
                old="",
                new=verdict.flap,
                detail=result.detail,
            )
        )


async def run_targets(
    app: Any, recorder: Recorder, names: list[str] | None = None
) -> list[Outcome]:
    """Check targets now (all by default) and record the results as one batch."""
    targets = [app.targets[n] for n in names] if names else list(app.targets.values())
    results = await asyncio.gather(*(check(t) for t in targets))
    return recorder.record_many(list(zip(targets, results, strict=True)))


def states(session: Session) -> dict[str, TargetState]:
    return {row.target: row for row in session.scalars(select(TargetState))}
