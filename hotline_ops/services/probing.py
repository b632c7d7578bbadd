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
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_ops.content import Target
from hotline_ops.core import maintenance
from hotline_ops.core.health import HealthPolicy, HealthState, Status, Verdict, assess
from hotline_ops.core.rollup import BUCKET, Bucket, bucket_start, merge
from hotline_ops.probes.base import ProbeResult
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


async def check(target: Target, probe: Any = None) -> ProbeResult:
    """Run one probe; a probe that overruns its timeout is a failure, never a hang.

    Without ``probe`` a one-off instance is built and closed again (CLI use); the engine
    passes its long-lived instances, which keep sockets and sessions between checks.
    """
    own = probe is None
    probe = probe or target.probe()
    try:
        return await asyncio.wait_for(probe.check(target.timeout_s), target.timeout_s + 1.0)
    except TimeoutError:
        return ProbeResult(False, None, f"timeout after {target.timeout_s:g}s")
    except Exception as exc:  # a probe bug must not take the engine down
        log.exception("probe %s crashed", target.name)
        return ProbeResult(False, None, f"probe error: {type(exc).__name__}: {exc}")
    finally:
        if own:
            await probe.close()


def policy_of(target: Target) -> HealthPolicy:
    return HealthPolicy(
        target.attempts, target.rise, flap_high=target.flap_high, flap_low=target.flap_low
    )


class Recorder:
    """Writes results in batches (one transaction each) and buffers 5-minute rollups."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.buckets: dict[tuple[str, datetime], Bucket] = {}
        self.lock = threading.Lock()

    def record(self, target: Target, result: ProbeResult) -> Outcome:
        return self.record_many([(target, result)])[0]

    def record_many(self, items: list[tuple[Target, ProbeResult]]) -> list[Outcome]:
        now = self.app.clock.now()
        with self.lock, self.app.store.session() as session:
            rows = _rows(session, [t for t, _ in items])
            outcomes = [self._one(session, rows, t, r, now) for t, r in items]
        return outcomes

    def _one(
        self,
        session: Session,
        rows: dict[str, TargetState],
        target: Target,
        result: ProbeResult,
        now: datetime,
    ) -> Outcome:
        row = rows.get(target.name) or _new_row(session, rows, target)
        verdict = assess(_to_state(row), result.ok, now, policy_of(target))
        _write_state(row, verdict.state, result)
        self._bucket(target.name, now).add(
            result.ok, result.latency_s, result.metrics, result.classification
        )
        _act(session, self.app, target, row, verdict, result, now)
        return Outcome(target, result, verdict.state, verdict)

    def _bucket(self, name: str, now: datetime) -> Bucket:
        key = (name, bucket_start(now))
        if key not in self.buckets:
            self.buckets[key] = Bucket()
        return self.buckets[key]

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


def _rows(session: Session, targets: list[Target]) -> dict[str, TargetState]:
    names = [t.name for t in targets]
    return {
        r.target: r
        for r in session.scalars(select(TargetState).where(TargetState.target.in_(names)))
    }


def _new_row(session: Session, rows: dict[str, TargetState], target: Target) -> TargetState:
    row = TargetState(
        target=target.name,
        kind=target.kind,
        status=Status.UNKNOWN,
        fails=0,
        oks=0,
        detail="",
        history="",
        flapping=False,
        suppressed=False,
    )
    session.add(row)
    rows[target.name] = row
    return row


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


def _write_state(row: TargetState, state: HealthState, result: ProbeResult) -> None:
    row.status, row.fails, row.oks = str(state.status), state.fails, state.oks
    row.changed_at, row.checked_at = state.changed_at, state.checked_at
    row.history, row.flapping = state.history, state.flapping
    row.latency_s, row.detail = result.latency_s, result.detail


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
    row: TargetState,
    verdict: Verdict,
    result: ProbeResult,
    now: datetime,
) -> None:
    state = verdict.state
    _log_changes(session, target, verdict, result, now)
    window = maintenance.active(
        app.content.maintenance, target.name, target.labels, now, app.settings.tz
    )
    trouble = (
        verdict.flip is not None and verdict.flip.new == Status.DOWN
    ) or verdict.flap == "start"
    if window is not None:
        if trouble:
            row.suppressed = True
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
        return
    if trouble or (row.suppressed and state.status == Status.DOWN):
        row.suppressed = False
        _open(session, app, target, verdict, result, now)
    elif _recovered(verdict):
        row.suppressed = False
        incidents.resolve_by_key(
            session,
            app,
            now=now,
            dedup_key=_key(target),
            actor="probe",
            reason=f"{target.name} 已恢复：{result.detail}",
        )


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
