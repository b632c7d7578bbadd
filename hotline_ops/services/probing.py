"""Probe use cases: run targets, fold results into health state, turn hard flips into
incidents (DOWN opens one per target, UP resolves it)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_ops.content import Target
from hotline_ops.core.health import Flip, HealthPolicy, HealthState, Status, observe
from hotline_ops.probes.base import ProbeResult
from hotline_ops.services import incidents
from hotline_ops.store.models import ProbeResult as ProbeResultRow
from hotline_ops.store.models import TargetState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    target: Target
    result: ProbeResult
    state: HealthState
    flip: Flip | None


async def check(target: Target) -> ProbeResult:
    """Run one probe; a probe that overruns its timeout is a failure, never a hang."""
    probe = target.probe()
    try:
        return await asyncio.wait_for(probe.check(target.timeout_s), target.timeout_s + 1.0)
    except TimeoutError:
        return ProbeResult(False, None, f"timeout after {target.timeout_s:g}s")


async def run_targets(app: Any, names: list[str] | None = None) -> list[Outcome]:
    targets = [app.targets[n] for n in names] if names else list(app.targets.values())
    results = await asyncio.gather(*(check(t) for t in targets))
    return [record(app, t, r) for t, r in zip(targets, results, strict=True)]


def record(app: Any, target: Target, result: ProbeResult) -> Outcome:
    """Persist one result and act on a hard flip, all in one transaction."""
    now = app.clock.now()
    with app.store.session() as session:
        row = _state_row(session, target)
        state, flip = observe(
            _to_state(row), result.ok, now, HealthPolicy(target.attempts, target.rise)
        )
        _write_state(row, state, result)
        session.add(
            ProbeResultRow(
                target=target.name,
                at=now,
                ok=result.ok,
                latency_s=result.latency_s,
                detail=result.detail,
            )
        )
        if flip is not None:
            _on_flip(session, app, target, flip, result, now)
    return Outcome(target, result, state, flip)


def _state_row(session: Session, target: Target) -> TargetState:
    row = session.get(TargetState, target.name)
    if row is None:
        row = TargetState(
            target=target.name, kind=target.kind, status=Status.UNKNOWN, fails=0, oks=0, detail=""
        )
        session.add(row)
    return row


def _to_state(row: TargetState) -> HealthState:
    return HealthState(Status(row.status), row.fails, row.oks, row.changed_at, row.checked_at)


def _write_state(row: TargetState, state: HealthState, result: ProbeResult) -> None:
    row.status, row.fails, row.oks = str(state.status), state.fails, state.oks
    row.changed_at, row.checked_at = state.changed_at, state.checked_at
    row.latency_s, row.detail = result.latency_s, result.detail


def _on_flip(
    session: Session, app: Any, target: Target, flip: Flip, result: ProbeResult, now: datetime
) -> None:
    key = f"probe:{target.name}"
    log.info("%s is %s: %s", target.name, flip.new, result.detail)
    if flip.new == Status.DOWN:
        labels = {**target.labels, "target": target.name, "probe": target.kind}
        incidents.open_incident(
            session,
            app,
            now=now,
            dedup_key=key,
            source="probe",
            title=f"{target.name} 不可用：{result.detail}",
            actor="probe",
            labels=labels,
            target=target.name,
        )
    elif flip.old == Status.DOWN:
        incidents.resolve_by_key(
            session,
            app,
            now=now,
            dedup_key=key,
            actor="probe",
            reason=f"{target.name} 已恢复：{result.detail}",
        )


def states(session: Session) -> dict[str, TargetState]:
    return {row.target: row for row in session.scalars(select(TargetState))}
