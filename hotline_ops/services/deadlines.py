"""Deadline rows of an incident: planned from its level snapshot, met by its milestones,
cancelled when they stop applying (level change, handling switch). The timer loop
(services/timers.py) fires whatever is due, unmet and not cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hotline_ops.core import levels as core_levels
from hotline_ops.store.models import Deadline, Incident

CONTRACT_PURPOSES = ("breach", "warning", "budget")
# cancel_reason values: the handling rule (M2.1c/d), a level change, an escalation stop.
HANDLING, LEVEL, STOPPED = "handling", "level", "stopped"


def plan(
    session: Session,
    incident: Incident,
    level: core_levels.Level,
    budget,
    *,
    skip_kinds: frozenset[str] = frozenset(),
    skip_warnings: frozenset[tuple[str, float]] = frozenset(),
    flush: bool = True,
) -> list[Deadline]:
    """Insert the level's deadlines counted from the incident's opening, except the timers
    in ``skip_kinds`` and the (kind, fraction) warnings in ``skip_warnings``."""
    rows = []
    for spec in core_levels.plan_deadlines(level, incident.opened_at, budget):
        if spec.kind in skip_kinds or (spec.kind, spec.fraction) in skip_warnings:
            continue
        row = Deadline(
            incident_id=incident.id,
            kind=spec.kind,
            clause=spec.clause,
            due_at=spec.due_at,
            purpose=spec.purpose,
            fraction=spec.fraction,
        )
        if not core_levels.applies(spec.kind, incident.handling):
            row.cancelled_at, row.cancel_reason = incident.opened_at, HANDLING
        rows.append(row)
    session.add_all(rows)
    if flush:
        session.flush()
    return rows


@dataclass
class Planned:
    """A deadline inserted by ``plan_many``, with what messages read of a row."""

    kind: str
    clause: str
    due_at: datetime
    purpose: str
    fraction: float | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    met_at: datetime | None = None
    fired_at: datetime | None = None


def planned(incident: Incident, level: core_levels.Level, budget) -> list[Planned]:
    """The deadlines ``plan_many`` inserts for a new incident (nothing is written)."""
    rows = []
    for spec in core_levels.plan_deadlines(level, incident.opened_at, budget):
        row = Planned(spec.kind, spec.clause, spec.due_at, spec.purpose, spec.fraction)
        if not core_levels.applies(spec.kind, incident.handling):
            row.cancelled_at, row.cancel_reason = incident.opened_at, HANDLING
        rows.append(row)
    return rows


def plan_many(
    session: Session, items: list[tuple[Incident, core_levels.Level]], budget
) -> dict[int, list[Planned]]:
    """``plan`` for many new incidents at once (alert ingest opens hundreds in one request):
    one executemany INSERT, no ORM object per row. Returns each incident's rows."""
    out: dict[int, list[Planned]] = {}
    values = []
    for incident, level in items:
        rows = out[incident.id] = planned(incident, level, budget)
        for row in rows:
            values.append(
                {
                    "incident_id": incident.id,
                    "kind": row.kind,
                    "clause": row.clause,
                    "due_at": row.due_at,
                    "purpose": row.purpose,
                    "fraction": row.fraction,
                    "cancelled_at": row.cancelled_at,
                    "cancel_reason": row.cancel_reason,
                }
            )
    if values:
        # The table, not the mapped class: one Core executemany, without the ORM's bulk
        # insert (which cost a third of the statement and split rows by their None columns).
        session.execute(insert(Deadline.__table__), values)
    return out


def meet(session: Session, incident: Incident, kinds: list[str], now: datetime) -> None:
    """Timers of these kinds (and their warnings) are met now, if not met already."""
    if not kinds:
        return
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.kind.in_(kinds))
        .where(Deadline.met_at.is_(None), Deadline.purpose.in_(CONTRACT_PURPOSES))
        .values(met_at=now)
    )


def unmeet(session: Session, incident: Incident, at: datetime) -> None:
    """Timers the resolution at ``at`` stopped run on again (from their original due)."""
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.fired_at.is_(None))
        .where(Deadline.met_at == at, Deadline.purpose.in_(CONTRACT_PURPOSES))
        .values(met_at=None)
    )


def cancel_pending(
    session: Session,
    incident: Incident,
    now: datetime,
    purposes: tuple[str, ...] = CONTRACT_PURPOSES,
    reason: str = LEVEL,
) -> int:
    """Cancel the rows that could still fire; how many."""
    return session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.purpose.in_(purposes))
        .where(Deadline.fired_at.is_(None), Deadline.met_at.is_(None))
        .where(Deadline.cancelled_at.is_(None))
        .values(cancelled_at=now, cancel_reason=reason)
    ).rowcount


def supersede(session: Session, incident: Incident, now: datetime) -> int:
    """A level change replaces the level's timers: cancel the pending rows (how many) and
    re-mark the rows the handling rule had cancelled, so that a later handling switch can
    never bring back a timer of the old level."""
    cancelled = cancel_pending(session, incident, now, reason=LEVEL)
    session.execute(
        update(Deadline)
        .where(Deadline.incident_id == incident.id, Deadline.purpose.in_(CONTRACT_PURPOSES))
        .where(Deadline.fired_at.is_(None), Deadline.met_at.is_(None))
        .where(Deadline.cancel_reason == HANDLING)
        .values(cancel_reason=LEVEL)
    )
    return cancelled


def fired(session: Session, incident: Incident) -> tuple[frozenset[str], frozenset[tuple]]:
    """(kinds whose breach has fired, (kind, fraction) of warnings that fired): a level
    change must not plan these again (the breach is on record, the warning was sent)."""
    found = session.execute(
        select(Deadline.kind, Deadline.purpose, Deadline.fraction).where(
            Deadline.incident_id == incident.id,
            Deadline.fired_at.is_not(None),
            Deadline.purpose.in_(("breach", "warning")),
        )
    ).all()
    breached = frozenset(k for k, p, _ in found if p == "breach")
    warned = frozenset((k, f) for k, p, f in found if p == "warning" and k not in breached)
    return breached, warned


def met_kinds(session: Session, incident: Incident) -> frozenset[str]:
    rows = session.scalars(
        select(Deadline.kind).where(
            Deadline.incident_id == incident.id,
            Deadline.purpose == "breach",
            Deadline.met_at.is_not(None),
        )
    ).all()
    return frozenset(rows)


def switch_handling(session: Session, incident: Incident, now: datetime) -> None:
    """M2.1c/d: only the timer for the incident's handling (remote or on-site) runs."""
    for kind, only_for in core_levels.HANDLING_TIMERS.items():
        pending = (
            Deadline.incident_id == incident.id,
            Deadline.kind == kind,
            Deadline.fired_at.is_(None),
            Deadline.met_at.is_(None),
        )
        if only_for == incident.handling:
            # Only what the handling rule cancelled: rows a level change replaced stay so.
            session.execute(
                update(Deadline)
                .where(*pending, Deadline.cancel_reason == HANDLING)
                .values(cancelled_at=None, cancel_reason=None)
            )
        else:
            session.execute(
                update(Deadline)
                .where(*pending, Deadline.cancelled_at.is_(None))
                .values(cancelled_at=now, cancel_reason=HANDLING)
            )
