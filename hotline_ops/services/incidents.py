"""Incident use cases: open (deduplicated), the lifecycle, regrading, reads.

Every change writes, in one transaction: the incident row, a timeline event, the deadline
rows it creates or meets, and the outbox messages it causes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_ops.core import levels as core_levels
from hotline_ops.core.incidents import (
    ACTIVE,
    IncidentStatus,
    TransitionRefused,
    is_open,
    next_status,
    reached,
)
from hotline_ops.errors import BadRequest, IllegalTransition, NotFound
from hotline_ops.services import budget, deadlines, escalation, messages, outbox
from hotline_ops.store import ids
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
    fields = {"title": title, "source": source, "actor": actor, "labels": labels, "target": target}
    incident = new_row(dedup_key, chosen, now, fields, ids.incident_ids(session, 1)[0])
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:
        # Another process opened it between our check and insert: theirs wins.
        return _open_by_key(session, dedup_key), False
    _opened(session, app, incident, chosen, now, fields=fields)
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


def open_or_reopen_many(
    session: Session, app: Any, *, now: datetime, specs: dict[str, dict[str, Any]]
) -> dict[str, tuple[Incident, bool]]:
    """``open_or_reopen`` for many dedup keys at once (alert ingest): the open incidents and
    the recently resolved ones are fetched in one query each, the new incidents inserted in
    one flush, and no savepoint is taken. A concurrent request opening the same key makes
    the caller's transaction fail on the unique ``open_key``; the caller retries it whole.
    ``specs`` maps each key to open_incident's fields (title, source, actor, labels)."""
    found = {i.open_key: i for i in _open_by_keys(session, list(specs))}
    out: dict[str, tuple[Incident, bool]] = {k: (i, False) for k, i in found.items()}
    missing = [key for key in specs if key not in found]
    window = app.levels.reopen_window_s
    fresh = []
    for key, latest in _latest_by_key(session, missing).items():
        if latest is None or not _within(latest, now, window):
            fresh.append(key)
            continue
        fields = specs[key]
        reason = f"reopened: {fields.get('title', '')}"
        actor = fields.get("actor", "system")
        out[key] = (
            _transition(session, app, latest, "reopen", now=now, actor=actor, reason=reason),
            False,
        )
    for key, incident in _open_new(session, app, now, {k: specs[k] for k in fresh}).items():
        out[key] = (incident, True)
    return out


def _open_new(
    session: Session, app: Any, now: datetime, specs: dict[str, dict[str, Any]]
) -> dict[str, Incident]:
    """Insert one incident per key in one flush, then their deadlines, events and messages
    (flushed with the caller's commit). A key whose alert had its first notice sent takes
    the id and opening time that notice named; the others take new ids."""
    plain = iter(ids.incident_ids(session, sum(1 for f in specs.values() if not f.get("notice"))))
    made = {}
    for key, fields in specs.items():
        chosen = app.levels.classify(fields["labels"])
        notice = fields.get("notice")
        if notice is None:
            row = new_row(key, chosen, now, fields, next(plain))
        else:
            row = new_row(key, chosen, notice.opened_at, fields, notice.incident_id)
        made[key] = (row, chosen)
    session.add_all([incident for incident, _ in made.values()])
    session.flush()
    # Deadlines and "opened" events in one executemany each (no ORM objects), before
    # anything else of these incidents so the timeline keeps its order.
    planned = deadlines.plan_many(session, list(made.values()), app.levels.budget)
    add_events(
        session,
        [
            _event_values(
                incident,
                now,
                specs[key]["actor"],
                "opened",
                specs[key]["title"],
                {
                    "level": chosen.level,
                    "labels": specs[key]["labels"],
                    "source": specs[key]["source"],
                },
            )
            for key, (incident, chosen) in made.items()
        ],
    )
    # New incidents cannot have messages yet: their notices go in one executemany without
    # the outbox's dedup-key lookups (each cost a query and an autoflush round). Those sent
    # first (services.first_notice) go in as sent.
    notices = []
    with session.no_autoflush:
        for key, (incident, _chosen) in made.items():
            escalation.start(session, app, incident, now=now)
            opened = _opened_messages(app, incident, planned[incident.id], specs[key])
            notices += _already_sent(opened, specs[key].get("sent") or {})
            _budget_count(session, app, incident, now)
    outbox.enqueue_new(session, app, now=now, messages=notices)
    return {key: incident for key, (incident, _) in made.items()}


def _opened_messages(
    app: Any, incident: Incident, rows: list[Any], spec: dict[str, Any]
) -> list[dict[str, Any]]:
    """The "opened" notices: as the first notice sent them when it did (the store keeps
    what went out, and rendering them again cost a third of a millisecond per incident),
    else rendered now. Rendered again if the channels differ (levels.yaml reloaded since)."""
    sent = spec.get("messages") or []
    channels = list(incident.policy.get("channels", []))
    same = all(m["incident_id"] == incident.id for m in sent)
    if sent and same and [m["channel"] for m in sent] == channels:
        return sent
    return messages.for_event(app, incident, "opened", rows)


def _already_sent(
    notices: list[dict[str, Any]], sent: dict[str, datetime | None]
) -> list[dict[str, Any]]:
    """The notices, those sent first (channel -> when, services.first_notice) marked so."""
    return [{**n, "sent_at": sent[n["channel"]]} if sent.get(n["channel"]) else n for n in notices]


def _event_values(
    incident: Incident, now: datetime, actor: str, kind: str, reason: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "incident_id": incident.id,
        "at": now,
        "actor": actor,
        "kind": kind,
        "reason": reason,
        "data": data,
    }


def add_events(session: Session, values: list[dict[str, Any]]) -> None:
    """Append many timeline events in one executemany INSERT (in list order)."""
    if values:
        session.execute(insert(IncidentEvent.__table__), values)  # Core: no ORM bulk pass


def new_row(
    key: str, chosen: Any, now: datetime, fields: dict[str, Any], incident_id: int
) -> Incident:
    return Incident(**new_fields(key, chosen, now, fields, incident_id))


def new_fields(
    key: str, chosen: Any, now: datetime, fields: dict[str, Any], incident_id: int
) -> dict[str, Any]:
    """A new incident's columns (a first notice renders from them before the row exists)."""
    return {
        "id": incident_id,
        "dedup_key": key,
        "open_key": key,
        "title": fields["title"],
        "source": fields["source"],
        "target": fields.get("target"),
        "level": chosen.level,
        "status": IncidentStatus.OPEN,
        "labels": fields["labels"],
        "policy": core_levels.snapshot(chosen),
        "opened_at": now,
        "handling": "remote",  # the column's default, set here for unsaved rows
    }


def _opened(
    session: Session, app: Any, incident: Incident, chosen: Any, now: datetime, *, fields: dict
) -> None:
    """What opening an incident writes besides its row: deadlines, the timeline event, the
    escalation chain, the notification, the P9.4 count."""
    rows = deadlines.plan(session, incident, chosen, app.levels.budget, flush=False)
    data = {"level": chosen.level, "labels": fields["labels"], "source": fields["source"]}
    _event(session, incident, now, fields["actor"], "opened", fields["title"], data)
    escalation.start(session, app, incident, now=now)
    # A new incident has no messages yet: no dedup lookup (see outbox.enqueue_new).
    notices = messages.for_event(app, incident, "opened", rows)
    outbox.enqueue_new(session, app, now=now, messages=notices)
    _budget_count(session, app, incident, now)


CHUNK = 500  # keys per IN (...) query, well under every database's parameter limit


# Every ingest pass runs these: built once (see silences.active).
_OPEN_BY_KEY = select(Incident).where(Incident.open_key.in_(bindparam("keys", expanding=True)))
_LATEST_IDS = (
    select(func.max(Incident.id))
    .where(Incident.dedup_key.in_(bindparam("keys", expanding=True)))
    .group_by(Incident.dedup_key)
)
_BY_ID = select(Incident).where(Incident.id.in_(bindparam("ids", expanding=True)))


def _open_by_keys(session: Session, keys: list[str]) -> list[Incident]:
    found: list[Incident] = []
    for i in range(0, len(keys), CHUNK):
        found.extend(session.scalars(_OPEN_BY_KEY, {"keys": keys[i : i + CHUNK]}))
    return found


def _latest_by_key(session: Session, keys: list[str]) -> dict[str, Incident | None]:
    """The latest incident of each dedup key (None when there is none), in two queries."""
    ids: list[int] = []
    for i in range(0, len(keys), CHUNK):
        ids.extend(session.scalars(_LATEST_IDS, {"keys": keys[i : i + CHUNK]}))
    latest: dict[str, Incident | None] = dict.fromkeys(keys)
    for i in range(0, len(ids), CHUNK):
        for incident in session.scalars(_BY_ID, {"ids": ids[i : i + CHUNK]}):
            latest[incident.dedup_key] = incident
    return latest


def _within(latest: Incident, now: datetime, window_s: int) -> bool:
    """A resolved incident inside the reopen window continues; a closed one has had its
    postmortem, so the fault returning is a new incident."""
    if latest.status != IncidentStatus.RESOLVED:
        return False
    return (now - latest.resolved_at).total_seconds() <= window_s


def _recently_resolved(
    session: Session, dedup_key: str, now: datetime, window_s: int
) -> Incident | None:
    latest = session.scalar(
        select(Incident)
        .where(Incident.dedup_key == dedup_key)
        .order_by(Incident.id.desc())
        .limit(1)
    )
    # A closed incident has had its postmortem: the fault returning is a new incident.
    if latest is None or latest.status != IncidentStatus.RESOLVED:
        return None
    return latest if (now - latest.resolved_at).total_seconds() <= window_s else None


def _open_by_key(session: Session, dedup_key: str) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.open_key == dedup_key))


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
    for message in messages.for_event(app, incident, event, deadlines, suffix, **extra):
        outbox.enqueue(session, now=now, **message)


def _transition(
    session: Session,
    app: Any,
    incident: Incident,
    action: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
    postmortem: str | None = None,
) -> Incident:
    if postmortem:
        incident.postmortem = postmortem
    try:
        status = next_status(
            IncidentStatus(incident.status),
            action,
            level=incident.level,
            has_postmortem=bool(incident.postmortem),
        )
    except TransitionRefused as exc:
        raise IllegalTransition(f"incident #{incident.id}: {exc}") from exc
    event = "reopened" if action == "reopen" else str(status)
    suffix = _occurrence(session, incident, event, always=action == "reopen")
    if action == "reopen":
        deadlines.unmeet(session, incident, incident.resolved_at)
        incident.resolved_at, incident.open_key = None, incident.dedup_key
    incident.status = status
    _stamp(incident, status, now)
    _meet(session, incident, status, now)
    if status != IncidentStatus.OPEN:
        escalation.stop(session, incident, now=now)  # somebody has it: stop waking people
    _event(session, incident, now, actor, event, reason)
    if action == "reopen":
        # Nobody has it again: wake people from now on, as for a new fault.
        escalation.restart(session, app, incident, now=now)
    if status in QUIET:
        return incident
    rows = list(deadlines_of(session, incident.id))
    _notify(session, app, incident, event, now, rows, suffix, reason=reason, actor=actor)
    return incident


# Statuses whose transition is recorded but not announced (nothing for on-call to do).
QUIET = frozenset({IncidentStatus.CLOSED})
STAMPS = {
    IncidentStatus.ACKNOWLEDGED: ("acknowledged_at",),
    IncidentStatus.PLAN: ("plan_started_at", "acknowledged_at"),
    IncidentStatus.MITIGATED: ("mitigated_at", "acknowledged_at"),
    IncidentStatus.RESOLVED: ("resolved_at",),
    IncidentStatus.CLOSED: ("closed_at",),
}


def _stamp(incident: Incident, status: IncidentStatus, now: datetime) -> None:
    """Set the milestone times this status reaches (never overwriting an earlier one)."""
    for name in STAMPS.get(status, ()):
        if getattr(incident, name) is None or name == "resolved_at":
            setattr(incident, name, now)
    if status == IncidentStatus.RESOLVED:
        incident.open_key = None


def _meet(session: Session, incident: Incident, status: IncidentStatus, now: datetime) -> None:
    level = core_levels.from_snapshot(incident.policy)
    if status == IncidentStatus.RESOLVED:
        # Once resolved nothing more can be late; unmet timers stop here (the timeline
        # keeps which were met on time for the acceptance evidence).
        kinds = [t.kind for t in level.timers] + ["fault_duration"]
    else:
        kinds = core_levels.kinds_met(level, reached(status))
    deadlines.meet(session, incident, kinds, now)


def _occurrence(session: Session, incident: Incident, event: str, *, always: bool) -> str:
    """The dedup-key suffix of this occurrence of ``event`` on the incident: none the first
    time (``:1`` when ``always``), ``:<n>`` the n-th time, so that a transition repeated
    after a reopen (the second resolve, the second ack) is notified again."""
    n = _count_events(session, incident, event) + 1
    return f":{n}" if always or n > 1 else ""


def _count_events(session: Session, incident: Incident, kind: str) -> int:
    return len(
        session.scalars(
            select(IncidentEvent.id).where(
                IncidentEvent.incident_id == incident.id, IncidentEvent.kind == kind
            )
        ).all()
    )


def act(
    app: Any,
    *,
    incident_id: int,
    action: str,
    actor: str,
    reason: str = "",
    postmortem: str | None = None,
) -> Incident:
    """ack | plan | mitigate | resolve | close | reopen, by a person (CLI/API)."""
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        return _transition(
            session,
            app,
            incident,
            action,
            now=now,
            actor=actor,
            reason=reason,
            postmortem=postmortem,
        )


def note(app: Any, *, incident_id: int, actor: str, text: str) -> Incident:
    if not text.strip():
        raise BadRequest("note: the text is empty")
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        _event(session, incident, now, actor, "note", text)
        return incident


def set_level(app: Any, *, incident_id: int, level: int, actor: str, reason: str) -> Incident:
    """Regrade: the new level's timers replace the pending ones, counted from the opening;
    timers already met stay met. Logged with the reason."""
    if not reason.strip():
        raise BadRequest("--reason: say why the level changes (it goes on the timeline)")
    if level not in app.levels.levels:
        raise BadRequest(f"level: no level {level} in incidents/levels.yaml")
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        _check_active(incident, "change the level of")
        if incident.level == level:
            raise IllegalTransition(f"incident #{incident.id} is already level {level}")
        old = incident.level
        chosen = app.levels.levels[level]
        met = deadlines.met_kinds(session, incident)
        breached, warned = deadlines.fired(session, incident)
        cancelled = deadlines.supersede(session, incident, now)
        incident.level, incident.policy = level, core_levels.snapshot(chosen)
        rows = deadlines.plan(
            session,
            incident,
            chosen,
            app.levels.budget,
            skip_kinds=met | breached,
            skip_warnings=warned,
        )
        data = {
            "from": old,
            "to": level,
            "cancelled": cancelled,
            "deadlines": {r.kind: r.due_at.isoformat() for r in rows if r.purpose == "breach"},
            "kept": _kept(met, breached, warned),
        }
        _event(session, incident, now, actor, "level", reason, data)
        escalation.reroute(session, app, incident, now=now)
        _notify(
            session,
            app,
            incident,
            "level",
            now,
            rows,
            f":{_count_events(session, incident, 'level')}",
            reason=reason,
            actor=actor,
        )
        _budget_count(session, app, incident, now)
        return incident


def _kept(met: frozenset, breached: frozenset, warned: frozenset) -> dict[str, str]:
    """Why a level change did not plan a timer again: met already, breach already on
    record (planning it again would breach it twice), warning already sent."""
    kept = {kind: "met" for kind in met}
    kept |= {kind: "breached" for kind in breached if kind not in met}
    kept |= {f"{kind}@{fraction:g}": "warned" for kind, fraction in warned if kind not in met}
    return dict(sorted(kept.items()))


def set_handling(
    app: Any, *, incident_id: int, handling: str, actor: str, reason: str = ""
) -> Incident:
    """Remote or on-site handling decides which resolve timer runs (M2.1c ≤ 2 h, M2.1d ≤ 4 h)."""
    if handling not in ("remote", "onsite"):
        raise BadRequest(f"handling: '{handling}' is not remote or onsite")
    now = app.clock.now()
    with app.store.session() as session:
        incident = get(session, incident_id=incident_id)
        _check_active(incident, "change the handling of")
        if incident.handling != handling:
            incident.handling = handling
            deadlines.switch_handling(session, incident, now)
            _event(session, incident, now, actor, "handling", reason, {"handling": handling})
        return incident


def _budget_count(session: Session, app: Any, incident: Incident, now: datetime) -> None:
    """P9.4: when this system fault reaches the year's allowance, say so (once per fault)."""
    policy = app.levels.budget
    if incident.level != policy.level:
        return
    year = incident.opened_at.astimezone(app.settings.tz).year
    count = budget.count_in_year(session, policy.level, year, app.settings.tz)
    if count < policy.per_year:
        return
    reason = (
        f"{count} system faults in {year}; the contract allows {policy.per_year} ({policy.clause})"
    )
    _event(
        session,
        incident,
        now,
        "budget",
        "budget.count",
        reason,
        {"year": year, "count": count, "allowed": policy.per_year},
    )
    _notify(session, app, incident, "budget", now, [], ":count", reason=reason, actor="budget")


def _check_active(incident: Incident, what: str) -> None:
    if not is_open(IncidentStatus(incident.status)):
        raise IllegalTransition(f"cannot {what} incident #{incident.id}: it is {incident.status}")


def acknowledge(app: Any, *, incident_id: int, actor: str, reason: str = "") -> Incident:
    return act(app, incident_id=incident_id, action="ack", actor=actor, reason=reason)


def resolve(app: Any, *, incident_id: int, actor: str, reason: str = "") -> Incident:
    return act(app, incident_id=incident_id, action="resolve", actor=actor, reason=reason)


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
        query = query.where(Incident.status.in_([str(x) for x in ACTIVE]))
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
