"""KPI figures from the store for one period (formulas in core.kpi).

Ticket KPIs are computed over the tickets taken in during the period (a cohort: each
ticket counts once, wherever its later steps fall); call KPIs over the calls offered in it.
Deadline KPIs come from the stored deadline rows: met in time vs fired (breached).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, func, select

from hotline_ops.core import kpi as core
from hotline_ops.store.models import Deadline, UTCDateTime
from hotline_ops.store.tickets import CallRecord, Ticket
from hotline_ops.tickets import timers


def compute(app: Any, *, period: core.Period) -> dict[str, Any]:
    with app.store.session() as session:
        calls = _calls(session, period)
        tickets = _tickets(session, period)
    return {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "kpi": core.compute(calls, tickets),
    }


def _calls(session: Any, p: core.Period) -> core.Calls:
    row = session.execute(
        select(
            func.count(),
            func.count(CallRecord.answered_at),
            func.sum(case((CallRecord.wait_s <= core.ANSWER_WITHIN_S, 1), else_=0)),
        ).where(CallRecord.offered_at >= p.start, CallRecord.offered_at < p.end)
    ).one()
    return core.Calls(row[0], row[1], int(row[2] or 0))


def _in(p: core.Period) -> Any:
    return and_(
        Ticket.created_at >= p.start, Ticket.created_at < p.end, Ticket.synthetic.is_(False)
    )


def _tickets(session: Any, p: core.Period) -> core.Tickets:
    row = session.execute(
        select(
            func.count(),
            func.count(Ticket.closed_at),
            func.coalesce(func.sum(Ticket.closing_failures), 0),
            func.count(Ticket.evaluated_at),
            func.sum(case((Ticket.returns > 0, 1), else_=0)),
        ).where(_in(p))
    ).one()
    scores = session.scalars(
        select(Ticket.satisfaction).where(_in(p), Ticket.evaluated_at.is_not(None))
    ).all()
    return core.Tickets(
        created=row[0],
        closed=row[1],
        close_attempts=row[1] + int(row[2]),
        evaluated=row[3],
        returned=int(row[4] or 0),
        repeat_calls=_repeats(session, p),
        deadlines=_deadlines(session, p),
        satisfaction=core.tally_satisfaction([s for s in scores if s]),
        evaluated_via=core.tally_channels([s for s in scores if s]),
    )


def _deadlines(session: Any, p: core.Period) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(
            Deadline.kind,
            func.count(Deadline.met_at),
            func.count(Deadline.fired_at),
        )
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(_in(p), Deadline.purpose == timers.BREACH)
        .group_by(Deadline.kind)
    ).all()
    return {kind: (met, fired) for kind, met, fired in rows}


def _repeats(session: Any, p: core.Period) -> int:
    """Tickets whose caller had a ticket on the same 2-level subject within 30 days before."""
    window = timedelta(days=core.REPEAT_WINDOW_DAYS)
    prev = (
        func.lag(Ticket.created_at, type_=UTCDateTime())
        .over(
            partition_by=(Ticket.caller_number, func.substr(Ticket.category, 1, 4)),
            order_by=Ticket.created_at,
        )
        .label("prev")
    )
    inner = (
        select(Ticket.created_at.label("at"), prev)
        .where(Ticket.created_at >= p.start - window, Ticket.created_at < p.end)
        .subquery()
    )
    # The 30-day gap is compared here, not in SQL: datetime arithmetic differs between
    # SQLite and PostgreSQL, and only this period's tickets with a predecessor come back.
    rows = session.execute(
        select(inner.c.at, inner.c.prev).where(inner.c.at >= p.start, inner.c.prev.is_not(None))
    ).all()
    return sum(1 for at, before in rows if at - before <= window)
