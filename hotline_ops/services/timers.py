"""The timer loop's work: claim each due deadline exactly once and act on it.

Deadlines are rows, never sleeps or scheduler date jobs, so they survive a crash; the claim
is a conditional UPDATE, so two processes (or a restarted one) can never fire one twice.
What firing means depends on the row's purpose: a contract timer breached, a warning at a
fraction of one, the P9.4 fault-duration warning, or an escalation step.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline_ops.services import escalation, incidents, messages
from hotline_ops.store.models import Deadline, Incident

PENDING = (Deadline.fired_at.is_(None), Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None))


def fire_due(app: Any, *, limit: int = 100) -> int:
    """Fire every due, unmet, uncancelled deadline; return how many this process fired."""
    now = app.clock.now()
    fired = 0
    for deadline_id in _due_ids(app, now, limit):
        fired += _fire(app, deadline_id, now)
    return fired


def _due_ids(app: Any, now: datetime, limit: int) -> list[int]:
    # A read: on SQLite it need not wait for the writer, which the journal consumer holds
    # for milliseconds per drain; the claim in _fire decides who fires a deadline.
    with app.store.read() as session:
        return list(
            session.scalars(
                select(Deadline.id)
                .where(*PENDING, Deadline.due_at <= now)
                .order_by(Deadline.due_at, Deadline.id)
                .limit(limit)
            )
        )


def _fire(app: Any, deadline_id: int, now: datetime) -> int:
    with app.store.session() as session:
        claimed = session.execute(
            update(Deadline).where(Deadline.id == deadline_id, *PENDING).values(fired_at=now)
        ).rowcount
        if claimed != 1:
            return 0  # another process got there, or it was met or cancelled meanwhile
        deadline = session.get(Deadline, deadline_id)
        if deadline.ticket_id is not None:
            _ticket_action()(session, app, deadline, now)
            return 1
        incident = incidents.get(session, incident_id=deadline.incident_id)
        ACTIONS[deadline.purpose](session, app, incident, deadline, now)
        return 1


def _breach(
    session: Session, app: Any, incident: Incident, deadline: Deadline, now: datetime
) -> None:
    label = messages.TIMER_LABELS.get(deadline.kind, deadline.kind)
    incidents.add_event(
        session,
        incident,
        now=now,
        actor="timer",
        kind="timer.breach",
        reason=f"{label}时限已过（{deadline.clause}）",
        data=_data(deadline),
    )
    incidents.notify(
        session, app, incident, "breach", now=now, suffix=f":{deadline.kind}", breach=deadline
    )


def _warning(
    session: Session, app: Any, incident: Incident, deadline: Deadline, now: datetime
) -> None:
    percent = round((deadline.fraction or 0) * 100)
    label = messages.TIMER_LABELS.get(deadline.kind, deadline.kind)
    incidents.add_event(
        session,
        incident,
        now=now,
        actor="timer",
        kind="timer.warning",
        reason=f"{label}时限已用 {percent}%（{deadline.clause}）",
        data={**_data(deadline), "fraction": deadline.fraction},
    )
    breach = _breach_row(session, deadline)
    incidents.notify(
        session,
        app,
        incident,
        "warning",
        now=now,
        suffix=f":{deadline.kind}:{percent}",
        breach=breach or deadline,
        percent=percent,
    )


def _budget(
    session: Session, app: Any, incident: Incident, deadline: Deadline, now: datetime
) -> None:
    policy = app.levels.budget
    minutes = round((now - incident.opened_at).total_seconds() / 60)
    reason = (
        f"系统故障已持续 {minutes} 分钟，单次故障时长上限 "
        f"{policy.max_duration_s // 60} 分钟（{deadline.clause}）"
    )
    incidents.add_event(
        session,
        incident,
        now=now,
        actor="timer",
        kind="budget.warning",
        reason=reason,
        data=_data(deadline),
    )
    incidents.notify(
        session, app, incident, "budget", now=now, suffix=":duration", reason=reason, actor="timer"
    )


def _escalation(
    session: Session, app: Any, incident: Incident, deadline: Deadline, now: datetime
) -> None:
    escalation.run_step(session, app, incident, deadline, now=now)


ACTIONS = {"breach": _breach, "warning": _warning, "budget": _budget, "escalation": _escalation}


# The ticket service sits above services (it uses the outbox and incidents), so its timer
# action is looked up lazily by dotted path, like the probe and channel registries.
TICKET_ACTION = "hotline_ops.tickets.timers:fire"


def _ticket_action():
    module, _, name = TICKET_ACTION.partition(":")
    return getattr(importlib.import_module(module), name)


def _data(deadline: Deadline) -> dict:
    return {
        "deadline_id": deadline.id,
        "kind": deadline.kind,
        "clause": deadline.clause,
        "due_at": deadline.due_at.isoformat(),
    }


def _breach_row(session: Session, warning: Deadline) -> Deadline | None:
    return session.scalar(
        select(Deadline)
        .where(
            Deadline.incident_id == warning.incident_id,
            Deadline.kind == warning.kind,
            Deadline.purpose == "breach",
            Deadline.cancelled_at.is_(None),
        )
        .limit(1)
    )


_NEXT_DUE = select(Deadline.due_at).where(*PENDING).order_by(Deadline.due_at).limit(1)


def next_due(app: Any) -> datetime | None:
    with app.store.read() as session:
        return session.scalar(_NEXT_DUE)


def peek_next_due(app: Any) -> tuple[bool, datetime | None]:
    """(True, the next due time or None) from one read on the event loop; (False, None)
    when the store cannot be read there or the read failed. The timer loop then skips a
    pass that has nothing due, and the two worker threads it takes (see outbox.surely_idle)."""
    try:
        with app.store.loop_read() as connection:
            if connection is None:
                return False, None
            return True, connection.execute(_NEXT_DUE).scalar()
    except Exception:  # the pass itself then runs, and reports what is wrong
        return False, None
