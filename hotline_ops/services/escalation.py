"""Escalation: while an incident stays unacknowledged, tell a widening circle on a fixed
schedule, so the 30-minute response (CONTRACT.md M2.1b) is not missed in silence.

``start`` snapshots the chain onto the incident and stores its first run as a deadline row;
the timer loop (services/timers.py) claims each due row exactly once and calls ``run_step``,
which notifies through the outbox and stores the next run; ``stop`` cancels the pending row
once the incident is acknowledged or resolved. Every run is a row, never a sleep, so the
schedule survives a crash, and the claim is the fence: a redelivered step never runs twice.

The policy comes from ``app.content.escalation`` (``None`` or absent: no escalation), or is
passed to ``start`` explicitly.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core import escalation as core
from hotline_ops.core.durations import format_duration
from hotline_ops.core.incidents import IncidentStatus
from hotline_ops.services import deadlines, messages, outbox, routing
from hotline_ops.store.models import Deadline, Incident, IncidentEvent

log = logging.getLogger(__name__)

PURPOSE = KIND = ACTOR = "escalation"
CLAUSE = "M2.1b"  # escalation exists to get the fault answered within the response time
STOP_REASONS = {
    IncidentStatus.ACKNOWLEDGED: "已响应，停止升级",
    IncidentStatus.PLAN: "已启动应急预案，停止升级",
    IncidentStatus.MITIGATED: "已缓解，停止升级",
    IncidentStatus.RESOLVED: "已恢复，停止升级",
}


def policy_of(app: Any) -> core.EscalationPolicy | None:
    # getattr: Content gains the `escalation` field when the loader is wired in.
    return getattr(app.content, "escalation", None)


def start(
    session: Session,
    app: Any,
    incident: Incident,
    *,
    now: datetime,
    policy: core.EscalationPolicy | None = None,
) -> Deadline | None:
    """Snapshot the incident's chain and store its first run; None when there is no policy
    or the incident already has a chain (a snapshot is never replaced behind its back)."""
    policy = policy or policy_of(app)
    if policy is None or incident.escalation is not None:
        return None
    chain = policy.select(incident.level, incident.labels or {})
    return _begin(session, incident, chain, since=incident.opened_at, run=1, now=now)


def _begin(
    session: Session,
    incident: Incident,
    chain: core.Chain,
    *,
    since: datetime,
    run: int,
    now: datetime,
    kind: str = "escalation.started",
    data: dict[str, Any] | None = None,
) -> Deadline:
    """Snapshot ``chain`` with the time its steps count from (``since``) and which run of a
    chain on this incident it is (its notifications' dedup keys carry it), and store its
    first step."""
    incident.escalation = {**core.snapshot(chain), "since": since.isoformat(), "run": run}
    first = core.first_step(chain, since)
    row = _schedule(session, incident, first)
    _event(
        session,
        incident,
        now,
        kind,
        f"升级链 {chain.name}，共 {len(chain.steps)} 级",
        {**(data or {}), "chain": chain.name, "first_due": first.due_at.isoformat()},
    )
    return row


def restart(session: Session, app: Any, incident: Incident, *, now: datetime) -> Deadline | None:
    """A reopened incident is unanswered again: a fresh snapshot of the chain its level and
    labels route to, steps counted from the reopening (not the first opening, which would
    fire every step at once)."""
    policy = policy_of(app)
    if policy is None:
        return None
    deadlines.cancel_pending(session, incident, now, purposes=(PURPOSE,), reason=deadlines.STOPPED)
    chain = policy.select(incident.level, incident.labels or {})
    run = _run_number(incident) + 1
    return _begin(
        session, incident, chain, since=now, run=run, now=now, kind="escalation.restarted"
    )


def reroute(session: Session, app: Any, incident: Incident, *, now: datetime) -> Deadline | None:
    """After a level change, an unanswered incident follows the chain of its new level
    (snapshotted, steps from now, logged); the same chain keeps its schedule. An answered
    incident has no escalation running: its reopen will pick the new level's chain."""
    policy = policy_of(app)
    if policy is None or incident.status != IncidentStatus.OPEN:
        return None
    chain = policy.select(incident.level, incident.labels or {})
    old = (incident.escalation or {}).get("name")
    if old == chain.name:
        return None
    deadlines.cancel_pending(session, incident, now, purposes=(PURPOSE,), reason=deadlines.LEVEL)
    run = _run_number(incident) + 1
    return _begin(
        session,
        incident,
        chain,
        since=now,
        run=run,
        now=now,
        kind="escalation.rerouted",
        data={"from": old, "level": incident.level},
    )


def _run_number(incident: Incident) -> int:
    return int((incident.escalation or {}).get("run", 1 if incident.escalation else 0))


def _since(incident: Incident) -> datetime:
    """What the running chain's steps count from: the opening, or a reopen / re-route."""
    since = (incident.escalation or {}).get("since")
    return datetime.fromisoformat(since) if since else incident.opened_at


def run_step(
    session: Session, app: Any, incident: Incident, deadline: Deadline, *, now: datetime
) -> core.Run | None:
    """Run the claimed step: notify, record, store the next run (returned; None at the end).

    Call only after claiming ``deadline`` (fired_at set by a conditional UPDATE in this same
    transaction). An incident acknowledged after the claim may have missed the row this
    inserts (stop() cancels only the rows it can see), so a run on an incident that is no
    longer open does nothing and schedules nothing.
    """
    if incident.escalation is None or incident.status != IncidentStatus.OPEN:
        log.info(
            "escalation row %s: incident #%s is %s, skipped",
            deadline.id,
            incident.id,
            incident.status,
        )
        return None
    chain = core.from_snapshot(incident.escalation)
    step = deadline.step or 0
    since = _since(incident)
    repeat = core.repeat_of(chain, step, deadline.due_at, since)
    channels = _notify(session, app, incident, chain, step, repeat, now)
    following = core.next_step(chain, step, repeat, since, now)
    if following is not None:
        _schedule(session, incident, following)
    data = {
        "deadline_id": deadline.id,
        "step": step,
        "repeat": repeat,
        "channels": list(channels),
        "next_due": following.due_at.isoformat() if following else None,
    }
    _event(session, incident, now, "escalation", _run_label(chain, step, repeat), data)
    return following


def stop(session: Session, incident: Incident, *, now: datetime) -> int:
    """Cancel the pending escalation run (the timer loop skips cancelled rows); how many."""
    cancelled = deadlines.cancel_pending(
        session, incident, now, purposes=(PURPOSE,), reason=deadlines.STOPPED
    )
    if cancelled:
        reason = STOP_REASONS.get(incident.status, "停止升级")
        data = {"cancelled": cancelled, "status": str(incident.status)}
        _event(session, incident, now, "escalation.stopped", reason, data)
    return cancelled


def _schedule(session: Session, incident: Incident, run: core.Run) -> Deadline:
    row = Deadline(
        incident_id=incident.id,
        kind=KIND,
        clause=CLAUSE,
        due_at=run.due_at,
        purpose=PURPOSE,
        step=run.step,
    )
    session.add(row)
    session.flush()
    return row


def _notify(
    session: Session,
    app: Any,
    incident: Incident,
    chain: core.Chain,
    step: int,
    repeat: int,
    now: datetime,
) -> tuple[str, ...]:
    spec = chain.steps[step]
    channels = spec.channels_now()
    subject, text = _text(app, incident, chain, step, repeat, now)
    data = {
        **messages.incident_data("escalation", incident),
        "escalation": {
            "chain": chain.name,
            "step": step,
            "repeat": repeat,
            # For receivers that can page people themselves before rosters arrive.
            "people": list(spec.people),
            "roster": spec.roster,
        },
    }
    key = f"incident:{incident.id}:escalation{_run_key(incident)}:{step}:{repeat}"
    pages = routing.page_step(
        session, app, incident, spec, key=key, subject=subject, text=text, data=data, now=now
    )
    if pages is not None:
        _record_pages(session, incident, now, pages)
        # The step's `channels` are the fallback for a roster gap: somebody must hear of it.
        channels = (*spec.notify, *(() if pages else spec.channels))
    for channel in dict.fromkeys(channels):
        outbox.enqueue(
            session,
            now=now,
            channel=channel,
            incident_id=incident.id,
            dedup_key=f"{key}:{channel}",
            subject=subject,
            text=text,
            data=data,
        )
    return tuple(dict.fromkeys(channels))


def _record_pages(
    session: Session, incident: Incident, now: datetime, pages: list[routing.Page]
) -> None:
    if not pages:
        _event(session, incident, now, "escalation.gap", "值班表无人值守，改用备用渠道通知", {})
        return
    for page in pages:
        deferred = page.deferred_to.isoformat() if page.deferred_to else None
        reason = f"呼叫 {page.person}（{page.channel}）" + (
            "，免打扰时段后发送" if deferred else ""
        )
        data = {"person": page.person, "channel": page.channel, "deferred_to": deferred}
        _event(session, incident, now, "escalation.page", reason, data)


def _run_key(incident: Incident) -> str:
    """The chain's first run keeps the plain key; a restart or re-route gets ``#<run>``."""
    run = _run_number(incident)
    return f"#{run}" if run > 1 else ""


def _run_label(chain: core.Chain, step: int, repeat: int) -> str:
    label = f"第 {step + 1}/{len(chain.steps)} 级升级"
    return f"{label}，第 {repeat + 1} 次通知" if repeat else label


def _text(
    app: Any, incident: Incident, chain: core.Chain, step: int, repeat: int, now: datetime
) -> tuple[str, str]:
    """(subject, text) in zh-CN, times in the site's zone; the subject is the first line."""
    tz = app.settings.tz
    spec = chain.steps[step]
    level = messages.LEVEL_LABELS.get(incident.level, str(incident.level))
    elapsed = format_duration((now - incident.opened_at).total_seconds())
    subject = f"【{app.settings.site.name}·故障升级】{incident.title}"
    lines = [
        subject,
        f"事件编号：#{incident.id}",
        f"故障等级：{level}（{incident.policy.get('name', '')}）",
        *([f"监测对象：{incident.target}"] if incident.target else []),
        f"发生时间：{messages.local(incident.opened_at, tz)}",
        f"已持续 {elapsed} 仍未响应",
        *_response_line(incident, tz),
        f"升级：{_run_label(chain, step, repeat)}（升级链 {chain.name}）",
        *_people_line(spec),
    ]
    return subject, "\n".join(lines)


def _response_line(incident: Incident, tz: Any) -> list[str]:
    for timer in incident.policy.get("timers", []):
        if timer.get("kind") == "response":
            at = incident.opened_at + timedelta(seconds=timer["after_s"])
            return [f"响应时限（{timer['clause']}）：{messages.local(at, tz)} 前"]
    return []


def _people_line(spec: core.Step) -> list[str]:
    who = [*spec.people, *([f"值班表 {spec.roster}"] if spec.roster else [])]
    return [f"通知对象：{'、'.join(who)}"] if who else []


def _event(
    session: Session,
    incident: Incident,
    now: datetime,
    kind: str,
    reason: str,
    data: dict[str, Any],
) -> None:
    # Written directly, not through services.incidents, which will call into this module.
    session.add(
        IncidentEvent(
            incident_id=incident.id, at=now, actor=ACTOR, kind=kind, reason=reason, data=data
        )
    )
