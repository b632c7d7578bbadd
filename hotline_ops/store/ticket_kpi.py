"""Ticket and call KPI queries for one period: the ONE implementation behind the ticket API
(``hotline-ops ticket kpi``, ``GET /api/kpi``), the reports and the acceptance pack.

It sits in the store layer so that both the ticket service (above services) and the reports
(below them) can read it; the formulas stay in core.kpi. Ticket KPIs are computed over the
tickets taken in during the period (a cohort: each ticket counts once, wherever its later
steps fall); call KPIs over the calls offered in it. Deadline KPIs come from the stored
deadline rows: met in time vs fired (breached).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from hotline_ops.core import kpi as core
from hotline_ops.store.models import Deadline, UTCDateTime
from hotline_ops.store.tickets import CallRecord, Ticket

# Deadline.purpose of a ticket's contract timer and of its P8.2 warning (tickets.timers
# plans them with these values; it imports them from here).
BREACH, WARNING = "ticket", "ticket_warn"
# A warning fired within this many seconds of its due time is on time: the timer loop polls
# at most every 60 s (settings.timer_poll_s ≤ 60), so a later one means the loop was behind.
WARNING_GRACE_S = 60.0


def measure(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """core.kpi.compute over [start, end): every ratio with its numerator and denominator."""
    return core.compute(calls(session, start, end), tickets(session, start, end))


def measure_in(store: Any, start: datetime, end: datetime) -> dict[str, Any]:
    """``measure``, its five queries at once, each in a read session of its own: over 3 M
    tickets each scans a month's ~250 k rows for seconds, and run one after the other they
    took 10-15 s on this project's 2-core machine. The database (PostgreSQL's backends,
    SQLite's engine, which runs without the GIL) then uses every core. As consistent as
    ``measure``: there too each SELECT reads its own snapshot (READ COMMITTED; SQLite's
    driver opens no transaction for a SELECT)."""

    def part(query: Any) -> Any:
        with store.read() as session:
            return query(session, start, end)

    queries = (calls, _counts, _scores, _repeats, _deadlines)
    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="kpi") as pool:
        done = [pool.submit(part, query) for query in queries]
        the_calls, counts, scores, repeats, deadlines = (f.result() for f in done)
    return core.compute(the_calls, _assemble(counts, scores, repeats, deadlines))


def calls(session: Session, start: datetime, end: datetime) -> core.Calls:
    row = session.execute(
        select(
            func.count(),
            func.count(CallRecord.answered_at),
            func.sum(case((CallRecord.wait_s <= core.ANSWER_WITHIN_S, 1), else_=0)),
        ).where(CallRecord.offered_at >= start, CallRecord.offered_at < end)
    ).one()
    return core.Calls(row[0], row[1], int(row[2] or 0))


def _in(start: datetime, end: datetime) -> Any:
    return and_(Ticket.created_at >= start, Ticket.created_at < end, Ticket.synthetic.is_(False))


def tickets(session: Session, start: datetime, end: datetime) -> core.Tickets:
    return _assemble(
        _counts(session, start, end),
        _scores(session, start, end),
        _repeats(session, start, end),
        _deadlines(session, start, end),
    )


def _counts(session: Session, start: datetime, end: datetime) -> Any:
    return session.execute(
        select(
            func.count(),
            func.count(Ticket.closed_at),
            func.coalesce(func.sum(Ticket.closing_failures), 0),
            func.count(Ticket.evaluated_at),
            func.sum(case((Ticket.returns > 0, 1), else_=0)),
        ).where(_in(start, end))
    ).one()


def _scores(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    scores = session.scalars(
        select(Ticket.satisfaction).where(_in(start, end), Ticket.evaluated_at.is_not(None))
    ).all()
    return [s for s in scores if s]


def _assemble(
    row: Any, scores: list[dict[str, Any]], repeats: int, deadlines: dict[str, tuple[int, int]]
) -> core.Tickets:
    return core.Tickets(
        created=row[0],
        closed=row[1],
        close_attempts=row[1] + int(row[2]),
        evaluated=row[3],
        returned=int(row[4] or 0),
        repeat_calls=repeats,
        deadlines=deadlines,
        satisfaction=core.tally_satisfaction(scores),
        evaluated_via=core.tally_channels(scores),
    )


def _deadlines(session: Session, start: datetime, end: datetime) -> dict[str, tuple[int, int]]:
    rows = session.execute(
        select(Deadline.kind, func.count(Deadline.met_at), func.count(Deadline.fired_at))
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(_in(start, end), Deadline.purpose == BREACH)
        .group_by(Deadline.kind)
    ).all()
    return {kind: (met, fired) for kind, met, fired in rows}


def _repeats(session: Session, start: datetime, end: datetime) -> int:
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
        .where(Ticket.created_at >= start - window, Ticket.created_at < end)
        .subquery()
    )
    # The 30-day gap is compared here, not in SQL: datetime arithmetic differs between
    # SQLite and PostgreSQL, and only this period's tickets with a predecessor come back.
    rows = session.execute(
        select(inner.c.at, inner.c.prev).where(inner.c.at >= start, inner.c.prev.is_not(None))
    ).all()
    return sum(1 for at, before in rows if at - before <= window)


# -- the acceptance figures (reports.tickets.ticket_kpis) ----------------------------------


def evidence(session: Session, start: datetime, end: datetime) -> dict[str, Any] | None:
    """The figures the acceptance pack judges (keys of reports.tickets.KPI_KEYS), with
    ``detail`` saying how each was reached; None when the period has neither a ticket nor
    a call record (the ticket service recorded nothing: no evidence). A figure whose
    denominator is empty is None, never 0 late or 100 %."""
    figures = measure(session, start, end)
    created = session.scalar(select(func.count()).where(_in(start, end)).select_from(Ticket))
    if not created and not figures["answer_rate"]["den"]:
        return None
    dispatch = _longest(session, start, end, "dispatch", Ticket.accepted_at, Ticket.dispatched_at)
    urgent = _longest(
        session,
        start,
        end,
        "first_response",
        Ticket.created_at,
        Ticket.first_response_at,
        Ticket.urgency == "urgent",  # P4.1 times level I tickets only
    )
    callback = figures["callback_on_time"]
    warn_late, warn_fired = _warnings(session, start, end)
    out: dict[str, Any] = {
        "dispatch_max_min": dispatch[0],
        "urgent_response_max_min": urgent[0],
        "closure_pass_rate": figures["closing_pass_rate"]["value"],
        "evaluation_coverage": figures["evaluation_coverage"]["value"],
        "callback_late": callback["den"] - callback["num"] if callback["den"] else None,
        "warning_late": warn_late if created else None,
        # The ticket store keeps no login sessions: P9.3 stays "no evidence" until it does.
        "concurrent_users_peak": None,
        "seats_online_peak": None,
        "tickets": created or None,
    }
    out["detail"] = {
        "dispatch_max_min": f"{dispatch[1]} 张已派单工单",
        "urgent_response_max_min": f"{urgent[1]} 张紧急工单",
        "closure_pass_rate": _fraction(figures["closing_pass_rate"], "次办结审核通过"),
        "evaluation_coverage": _fraction(figures["evaluation_coverage"], "张办结工单已评价"),
        "callback_late": _fraction(callback, "次回访按时"),
        "warning_late": f"{warn_fired} 次预警已发出",
        "tickets": f"{created} 张工单",
    }
    return out


def _fraction(r: dict[str, Any], what: str) -> str:
    return f"{r['num']}/{r['den']} {what}"


def _longest(session, start, end, kind, since, done, *where) -> tuple[float | None, int]:
    """Longest ``since`` → ``done`` in minutes over the cohort, and how many were measured.
    A ticket never done whose timer fired counts up to that firing (a lower bound, already
    over the limit), so an undispatched ticket cannot hide a breach."""
    rows = session.execute(
        select(Ticket.id, since, done, Deadline.fired_at)
        .select_from(Ticket)
        .outerjoin(
            Deadline,
            and_(
                Deadline.ticket_id == Ticket.id,
                Deadline.kind == kind,
                Deadline.purpose == BREACH,
            ),
        )
        .where(_in(start, end), since.is_not(None), *where)
        .where((done.is_not(None)) | (Deadline.fired_at.is_not(None)))
    ).all()
    spans: dict[int, float] = {}  # a re-dispatched ticket has more than one dispatch timer
    for ticket_id, s, d, f in rows:
        minutes = ((d or f) - s).total_seconds() / 60
        spans[ticket_id] = max(minutes, spans.get(ticket_id, 0.0))
    return (round(max(spans.values()), 1) if spans else None), len(spans)


def _warnings(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """(late, fired) P8.2 warnings of the cohort; late = fired after its due time + grace."""
    rows = session.execute(
        select(Deadline.due_at, Deadline.fired_at)
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(_in(start, end), Deadline.purpose == WARNING, Deadline.fired_at.is_not(None))
    ).all()
    late = sum(1 for due, fired in rows if (fired - due).total_seconds() > WARNING_GRACE_S)
    return late, len(rows)
