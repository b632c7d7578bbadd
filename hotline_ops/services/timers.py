"""The timer loop's work: claim each due deadline exactly once and record its breach.

Deadlines are rows, never sleeps or scheduler date jobs, so they survive a crash; the claim
is a conditional UPDATE, so two processes (or a restarted one) can never fire one twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from hotline_ops.services import incidents
from hotline_ops.store.models import Deadline


def fire_due(app: Any, *, limit: int = 100) -> int:
    """Fire every due, unmet deadline; return how many this process fired."""
    now = app.clock.now()
    fired = 0
    for deadline_id in _due_ids(app, now, limit):
        fired += _fire(app, deadline_id, now)
    return fired


def _due_ids(app: Any, now: datetime, limit: int) -> list[int]:
    with app.store.session() as session:
        return list(
            session.scalars(
                select(Deadline.id)
                .where(
                    Deadline.fired_at.is_(None), Deadline.met_at.is_(None), Deadline.due_at <= now
                )
                .order_by(Deadline.due_at)
                .limit(limit)
            )
        )


def _fire(app: Any, deadline_id: int, now: datetime) -> int:
    with app.store.session() as session:
        claimed = session.execute(
            update(Deadline)
            .where(
                Deadline.id == deadline_id, Deadline.fired_at.is_(None), Deadline.met_at.is_(None)
            )
            .values(fired_at=now)
        ).rowcount
        if claimed != 1:
            return 0  # another process got there, or the deadline was met meanwhile
        deadline = session.get(Deadline, deadline_id)
        incident = incidents.get(session, incident_id=deadline.incident_id)
        incidents.add_event(
            session,
            incident,
            now=now,
            actor="timer",
            kind="timer.breach",
            reason=f"{deadline.kind} deadline ({deadline.clause}) passed",
            data={
                "deadline_id": deadline.id,
                "kind": deadline.kind,
                "clause": deadline.clause,
                "due_at": deadline.due_at.isoformat(),
            },
        )
        incidents.notify(
            session, app, incident, "breach", now=now, suffix=f":{deadline.kind}", breach=deadline
        )
        return 1


def next_due(app: Any) -> datetime | None:
    with app.store.session() as session:
        return session.scalar(
            select(Deadline.due_at)
            .where(Deadline.fired_at.is_(None), Deadline.met_at.is_(None))
            .order_by(Deadline.due_at)
            .limit(1)
        )
