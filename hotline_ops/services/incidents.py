"""Incident use cases: open (deduplicated), acknowledge, resolve, read.

Every change writes, in one transaction: the incident row, a timeline event, the deadline
rows it creates or meets, and the outbox messages it causes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_ops.core import levels as core_levels
from hotline_ops.core.incidents import IncidentStatus, TransitionRefused, next_status
from hotline_ops.errors import IllegalTransition, NotFound
from hotline_ops.services import messages, outbox
from hotline_ops.store.models import Deadline, Incident, IncidentEvent, OutboxMessage


def open_incident(
    session: Session,
    app: Any,
    *,
    now: datetime,
    dedup_key: str,
    title: str,
    source: str,
    actor: str,
    labels: dict[str, str],
    target: str | None = None,
    level: int | None = None,
) -> tuple[Incident, bool]:
    """Open an incident, or return the open one with the same key (created=False)."""
    existing = _open_by_key(session, dedup_key)
    if existing is not None:
        return existing, False
    chosen = app.levels.levels[level] if level else app.levels.classify(labels)
    incident = Incident(
        dedup_key=dedup_key,
        open_key=dedup_key,
        title=title,
        source=source,
        target=target,
        level=chosen.level,
        status=IncidentStatus.OPEN,
        labels=labels,
        policy=core_levels.snapshot(chosen),
        opened_at=now,
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        # Another process opened it between our check and insert: theirs wins.
        return _open_by_key(session, dedup_key), False
    deadlines = _add_deadlines(session, incident, chosen, now)
    _event(
        session,
        incident,
        now,
        actor,
        "opened",
        title,
        {"level": chosen.level, "labels": labels, "source": source},
    )
    _notify(session, app, incident, "opened", now, deadlines)
    return incident, True


def open_or_reopen(
    session: Session, app: Any, *, now: datetime, dedup_key: str, **fields: Any
) -> tuple[Incident, bool]:
    """Like open_incident, but the same fault back within the level policy's reopen window
    continues the incident it resolved (created=False)."""
    if _open_by_key(session, dedup_key) is None:
        recent = _recently_resolved(session, dedup_key, now, app.levels.reopen_window_s)
        if recent is not None:
            reason = f"reopened: {fields.get('title', '')}"
            return _transition(
                session,
                app,
                recent,
                "reopen",
                now=now,
                actor=fields.get("actor", "system"),
                reason=reason,
            ), False
    return open_incident(session, app, now=now, dedup_key=dedup_key, **fields)


def _recently_resolved(
    session: Session, dedup_key: str, now: datetime, window_s: int
) -> Incident | None:
    latest = session.scalar(
        select(Incident)
        .where(Incident.dedup_key == dedup_key)
        .order_by(Incident.id.desc())
        .limit(1)
    )
    if latest is None or latest.resolved_at is None:
        return None
    return latest if (now - latest.resolved_at).total_seconds() <= window_s else None


def _open_by_key(session: Session, dedup_key: str) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.open_key == dedup_key))


def _add_deadlines(
    session: Session, incident: Incident, level: core_levels.Level, now: datetime
) -> list[Deadline]:
    rows = [
        Deadline(incident_id=incident.id, kind=timer.kind, clause=timer.clause, due_at=due)
        for timer, due in core_levels.deadlines(level, now)
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _event(
    session: Session,
    incident: Incident,
    now: datetime,
    actor: str,
    kind: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        IncidentEvent(
            incident_id=incident.id, at=now, actor=actor, kind=kind, reason=reason, data=data or {}
        )
    )


def _notify(
    session: Session,
    app: Any,
    incident: Incident,
    event: str,
    now: datetime,
    deadlines: list[Deadline],
    suffix: str = "",
    **extra: Any,
) -> None:
    """Queue the event's message on every channel the incident's level snapshot names."""
    subject, text = messages.incident_text(
        event, incident, deadlines, site=app.settings.site.name, tz=app.settings.tz, **extra
    )
    data = messages.incident_data(event, incident)
    for channel in incident.policy.get("channels", []):
        outbox.enqueue(
            session,
            now=now,
            channel=channel,
            incident_id=incident.id,
            dedup_key=f"incident:{incident.id}:{event}{suffix}:{channel}",
            subject=subject,
            text=text,
            data=data,
        )


def _transition(
    session: Session,
    app: Any,
    incident: Incident,
    action: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> Incident:
    try:
        status = next_status(IncidentStatus(incident.status), action)
    except TransitionRefused as exc:
        raise IllegalTransition(f"incident #{incident.id}: {exc}") from exc
    event = "reopened" if action == "reopen" else str(status)
    suffix = f":{_count_events(session, incident, event) + 1}" if action == "reopen" else ""
    if action == "reopen":
        _unmeet_deadlines(session, incident)
        incident.resolved_at, incident.open_key = None, incident.dedup_key
    incident.status = status
    if status == IncidentStatus.ACKNOWLEDGED:
        incident.acknowledged_at = now
    if status == IncidentStatus.RESOLVED:
        incident.resolved_at = now
        incident.open_key = None
    _meet_deadlines(session, incident, str(status), now)
    _event(session, incident, now, actor, event, reason)
    deadlines = list(deadlines_of(session, incident.id))
    _notify(session, app, incident, event, now, deadlines, suffix, reason=reason, actor=actor)
    return incident


def _count_events(session: Session, incident: Incident, kind: str) -> int:
    return len(
        session.scalars(
            select(IncidentEvent.id).where(
                IncidentEvent.incident_id == incident.id, IncidentEvent.kind == kind
            )
        ).all()
    )


def _unmeet_deadlines(session: Session, incident: Incident) -> None:
    """Timers the resolution stopped run on again (from their original due time)."""
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.fired_at.is_(None))
        .where(Deadline.met_at == incident.resolved_at)
        .values(met_at=None)
    )


def _meet_deadlines(session: Session, incident: Incident, status: str, now: datetime) -> None:
    level = core_levels.from_snapshot(incident.policy)
    kinds = core_levels.timers_met_by(level, status)
    if status == IncidentStatus.RESOLVED:
        # Once resolved nothing more can be late; unmet timers stop here (the timeline
        # keeps which were met on time for the acceptance evidence).
        kinds = [t.kind for t in level.timers]
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.kind.in_(kinds))
        .where(Deadline.met_at.is_(None))
        .values(met_at=now)
    )


def acknowledge(app: Any, *, incident_id: int, actor: str, reason: str = "") -> Incident:
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        return _transition(session, app, incident, "ack", now=now, actor=actor, reason=reason)


def resolve(app: Any, *, incident_id: int, actor: str, reason: str = "") -> Incident:
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        return _transition(session, app, incident, "resolve", now=now, actor=actor, reason=reason)


def resolve_by_key(
    session: Session, app: Any, *, now: datetime, dedup_key: str, actor: str, reason: str
) -> Incident | None:
    """Auto-resolve from a source (a probe coming back); no open incident is not an error."""
    incident = _open_by_key(session, dedup_key)
    if incident is None:
        return None
    return _transition(session, app, incident, "resolve", now=now, actor=actor, reason=reason)


def create(
    app: Any,
    *,
    title: str,
    actor: str,
    level: int | None = None,
    labels: dict[str, str] | None = None,
    dedup_key: str | None = None,
    source: str = "manual",
) -> tuple[Incident, bool]:
    """Open an incident by hand (CLI/API)."""
    now = app.clock.now()
    with app.store.session() as session:
        key = dedup_key or f"manual:{now.isoformat()}:{title}"
        return open_incident(
            session,
            app,
            now=now,
            dedup_key=key,
            title=title,
            source=source,
            actor=actor,
            labels=labels or {},
            level=level,
        )


def get(session: Session, *, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident #{incident_id} does not exist")
    return incident


def get_all(session: Session, *, open_only: bool = False, limit: int = 100) -> list[Incident]:
    query = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if open_only:
        query = query.where(Incident.status != IncidentStatus.RESOLVED)
    return list(session.scalars(query))


def deadlines_of(session: Session, incident_id: int) -> list[Deadline]:
    return list(
        session.scalars(
            select(Deadline).where(Deadline.incident_id == incident_id).order_by(Deadline.due_at)
        )
    )


def events_of(session: Session, incident_id: int) -> list[IncidentEvent]:
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.id)
        )
    )


def deliveries_of(session: Session, incident_id: int) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == incident_id)
            .order_by(OutboxMessage.id)
        )
    )


def add_event(
    session: Session,
    incident: Incident,
    *,
    now: datetime,
    actor: str,
    kind: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    _event(session, incident, now, actor, kind, reason, data)


def notify(
    session: Session,
    app: Any,
    incident: Incident,
    event: str,
    *,
    now: datetime,
    suffix: str = "",
    **extra: Any,
) -> None:
    _notify(session, app, incident, event, now, deadlines_of(session, incident.id), suffix, **extra)
