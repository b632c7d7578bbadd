"""Ticket deadlines as stored ``Deadline`` rows (ticket_id set) and what firing one does.

Each deadline gets a warning row ``warn_before`` (60 min, P8.2) ahead of it; a deadline
shorter than twice that warns at half its span instead, so a 5-minute urgent first response
warns after 2.5 minutes rather than at the moment the clock starts. The timer loop
(services/timers.py) claims due rows and calls :func:`fire` for those with a ticket.
Warnings and breaches write an audit event, a console popup row and an SMS-kind outbox
message in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotline_ops.core import ticket_rules as rules
from hotline_ops.core.workdays import NoCalendarData, working_day_deadline
from hotline_ops.services import incidents, outbox
from hotline_ops.store.models import Deadline
from hotline_ops.store.ticket_kpi import BREACH, WARNING
from hotline_ops.store.tickets import Ticket, TicketPopup
from hotline_ops.tickets import audit

REDIAL = "ticket_redial"
PURPOSES = (BREACH, WARNING, REDIAL)
CLAUSES = {
    "dispatch": "P3.1",
    "first_response": "P4.1",
    "complete": "R3.1",
    "callback": "P7.1",
    "redial": "P7.3",
}
LABELS = {
    "dispatch": "派单",
    "first_response": "紧急工单首次响应",
    "complete": "办理",
    "callback": "回访",
    "redial": "回访重拨",
}
MET_BY = {
    "dispatch": "dispatch",
    "respond": "first_response",
    "close": "complete",
    "callback": "callback",
}


def plan(
    session: Session, ticket: Ticket, kind: str, start: datetime, due: datetime, warn_s: float
) -> Deadline:
    """The deadline and its warning (P8.2)."""
    span = (due - start).total_seconds()
    lead = warn_s if span >= 2 * warn_s else span / 2
    rows = [
        Deadline(ticket_id=ticket.id, kind=kind, clause=CLAUSES[kind], due_at=due, purpose=BREACH),
        Deadline(
            ticket_id=ticket.id,
            kind=kind,
            clause="P8.2",
            due_at=due - timedelta(seconds=lead),
            purpose=WARNING,
        ),
    ]
    session.add_all(rows)
    return rows[0]


def plan_minutes(
    session: Session, ticket: Ticket, kind: str, start: datetime, seconds: float, warn_s: float
) -> Deadline:
    return plan(session, ticket, kind, start, start + timedelta(seconds=seconds), warn_s)


def plan_complete(
    session: Session, app: Any, ticket: Ticket, start: datetime, days: int, now: datetime
) -> datetime | None:
    """The working-day handling deadline; a year without calendar data is refused with an
    alert (an incident and a popup), never guessed as Monday–Friday."""
    content = app.ticket_content
    try:
        due = working_day_deadline(content.calendar, start, days, app.settings.tz)
    except NoCalendarData as exc:
        calendar_missing(session, app, ticket, exc, now)
        return None
    plan(session, ticket, "complete", start, due, content.deadlines.warn_before)
    return due


def calendar_missing(
    session: Session, app: Any, ticket: Ticket, exc: NoCalendarData, now: datetime
) -> None:
    audit.append(
        session,
        ticket,
        now=now,
        actor="timer",
        action="timer",
        to_state=ticket.status,
        reason=str(exc),
        data={"event": "calendar_missing", "year": exc.year},
    )
    _popup(session, ticket, now, "calendar_missing", f"工单{ticket.number}无法计算办理时限：{exc}")
    incidents.open_incident(
        session,
        app,
        now=now,
        dedup_key=f"tickets:calendar-missing:{exc.year}",
        title=f"工作日历缺少{exc.year}年节假日和调休数据，工单办理时限无法计算",
        source="tickets",
        actor="tickets",
        labels={"alertname": "TicketCalendarMissing", "year": str(exc.year)},
    )


def meet(session: Session, ticket: Ticket, kinds: list[str], now: datetime) -> None:
    session.execute(
        update(Deadline)
        .where(Deadline.ticket_id == ticket.id, Deadline.kind.in_(kinds))
        .where(Deadline.met_at.is_(None), Deadline.fired_at.is_(None))
        .where(Deadline.cancelled_at.is_(None))
        .values(met_at=now)
    )


def cancel(session: Session, ticket: Ticket, now: datetime, kinds: list[str] | None = None):
    query = (
        update(Deadline)
        .where(Deadline.ticket_id == ticket.id, Deadline.fired_at.is_(None))
        .where(Deadline.met_at.is_(None), Deadline.cancelled_at.is_(None))
    )
    if kinds is not None:
        query = query.where(Deadline.kind.in_(kinds))
    session.execute(query.values(cancelled_at=now))


def schedule_redial(session: Session, ticket: Ticket, now: datetime, after_s: float) -> None:
    session.add(
        Deadline(
            ticket_id=ticket.id,
            kind="redial",
            clause=CLAUSES["redial"],
            due_at=now + timedelta(seconds=after_s),
            purpose=REDIAL,
        )
    )


def attempts_exhausted(
    session: Session, app: Any, ticket: Ticket, now: datetime, attempts: int
) -> None:
    """P7.3: the last allowed redial went unanswered too: a console popup and an alert on
    the warning channel, so a supervisor decides (another number, a letter, a visit)."""
    text = f"工单{ticket.number}回访{attempts}次均未接通，已停止重拨，请人工处理（P7.3）"
    _alert(
        session,
        app,
        ticket,
        now,
        text,
        popup_kind="redial_exhausted",
        dedup_key=f"ticket:{ticket.id}:redial-exhausted",
        data={"purpose": "redial_exhausted"},
    )


def of_ticket(session: Session, ticket_id: int) -> list[Deadline]:
    return list(
        session.scalars(
            select(Deadline).where(Deadline.ticket_id == ticket_id).order_by(Deadline.due_at)
        )
    )


# --- firing (called by the timer loop inside its claiming transaction) ----------------------


def fire(session: Session, app: Any, deadline: Deadline, now: datetime) -> None:
    ticket = session.get(Ticket, deadline.ticket_id, with_for_update=True)
    if ticket is None or ticket.status in rules.TERMINAL:
        return
    label = LABELS[deadline.kind]
    local = _breach_due(session, deadline).astimezone(app.settings.tz)
    if deadline.purpose == REDIAL:
        text = f"工单{ticket.number}回访未接通，请重拨（P7.3）"
    elif deadline.purpose == WARNING:
        text = f"工单{ticket.number}{label}时限将于{local:%m-%d %H:%M}到期，请及时处理（P8.2）"
    else:
        text = f"工单{ticket.number}{label}已超时（时限{local:%m-%d %H:%M}，{deadline.clause}）"
    audit.append(
        session,
        ticket,
        now=now,
        actor="timer",
        action="timer",
        to_state=ticket.status,
        reason=text,
        data={"deadline_id": deadline.id, "kind": deadline.kind, "purpose": deadline.purpose},
    )
    if deadline.purpose == BREACH:
        breach_incident(session, app, ticket, deadline, text, now)
    _alert(
        session,
        app,
        ticket,
        now,
        text,
        popup_kind=f"{deadline.purpose}:{deadline.kind}",
        dedup_key=f"ticket:{ticket.id}:deadline:{deadline.id}",
        data={
            "deadline": deadline.kind,
            "purpose": deadline.purpose,
            "due_at": deadline.due_at.isoformat(),
        },
    )


def _alert(
    session: Session,
    app: Any,
    ticket: Ticket,
    now: datetime,
    text: str,
    *,
    popup_kind: str,
    dedup_key: str,
    data: dict[str, Any],
) -> None:
    """P8.2: a console popup and an SMS-kind message on the warning channel, one text."""
    _popup(session, ticket, now, popup_kind, text)
    outbox.enqueue(
        session,
        now=now,
        channel=app.ticket_content.deadlines.warning_channel,
        dedup_key=dedup_key,
        subject=text,
        text=text,
        data={"kind": "sms", "ticket": ticket.number, **data},
    )


def breach_incident(
    session: Session, app: Any, ticket: Ticket, deadline: Deadline, text: str, now: datetime
) -> None:
    """A missed ticket deadline is an SLA breach of the ticket service (issue [3/7] source):
    one open incident per deadline kind gathers the breaches, each one a timeline event, so
    a dispatch backlog pages once instead of once per ticket."""
    incident, created = incidents.open_incident(
        session,
        app,
        now=now,
        dedup_key=f"tickets:sla-breach:{deadline.kind}",
        title=f"工单{LABELS[deadline.kind]}时限超时（{deadline.clause}）",
        source="tickets",
        actor="tickets",
        labels={
            "alertname": "TicketDeadlineBreached",
            "component": "tickets",
            "deadline": deadline.kind,
            "clause": deadline.clause,
        },
    )
    incidents.add_event(
        session,
        incident,
        now=now,
        actor="tickets",
        kind="ticket_breach",
        reason=text,
        data={"ticket": ticket.number, "deadline_id": deadline.id, "first": created},
    )


def _breach_due(session: Session, deadline: Deadline) -> datetime:
    """A warning names the deadline it warns of, not its own due time."""
    if deadline.purpose != WARNING:
        return deadline.due_at
    due = session.scalar(
        select(Deadline.due_at)
        .where(Deadline.ticket_id == deadline.ticket_id, Deadline.kind == deadline.kind)
        .where(Deadline.purpose == BREACH, Deadline.due_at > deadline.due_at)
        .order_by(Deadline.due_at)
        .limit(1)
    )
    return due or deadline.due_at


def _popup(session: Session, ticket: Ticket, now: datetime, kind: str, text: str) -> None:
    session.add(TicketPopup(ticket_id=ticket.id, at=now, kind=kind, text=text))
