"""Ticket use cases: intake, every lifecycle step, view and search.

Each function reads the clock once, locks the ticket row, asks the pure state machine
(core.ticket_rules) whether the step is allowed, applies its side effects (deadlines met or
planned, routing, review progress) and appends exactly one audit event — all in one
transaction, so a refused step leaves nothing behind.
"""

from __future__ import annotations

import functools
import uuid
from collections import namedtuple
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_ops.core import ticket_rules as rules
from hotline_ops.errors import BadRequest, IllegalTransition, NotFound
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import audit, survey_sms, timers
from hotline_ops.tickets.schemas import ActionIn, SearchIn, SyntheticIn, TicketIn


def caller_location(number: str) -> str:
    """P1.3: the caller's number location in Chinese (广西梧州市), '' when unknown."""
    # Imported here: the geocoder's data takes ~0.3 s to import, which every CLI command
    # and the server's start would otherwise pay.
    import phonenumbers
    from phonenumbers import geocoder

    try:
        parsed = phonenumbers.parse(number, "CN")
    except phonenumbers.NumberParseException:
        return ""
    return geocoder.description_for_number(parsed, "zh") or ""


def create(
    app: Any,
    *,
    body: TicketIn,
    actor: str,
    synthetic: bool = False,
    budget_s: float | None = None,
) -> Ticket:
    """Intake (P1.1). With ``budget_s`` the transaction gives up rather than wait
    (errors.Overrun, nothing written): see the API."""
    now = app.clock.now()
    content = app.ticket_content
    if content.catalogue.categories.get(body.category) is None:
        raise BadRequest(f"category: unknown category code '{body.category}'")
    writing = app.store.session() if budget_s is None else app.store.session_within(budget_s)
    with writing as session:
        ticket = Ticket(
            number=f"~{uuid.uuid4().hex[:24]}",
            **body.model_dump(),
            caller_location=caller_location(body.caller_number),
            status=rules.RECEIVED,
            synthetic=synthetic,
            review_chain=content.review.chain_for(body.category),
            created_by=actor,
            created_at=now,
            updated_at=now,
            last_hash=rules.GENESIS,
            events=0,
            assist_units=[],
            review_passed=0,
            extension_pending=False,
            extension_days=0,
            reply={},
            returns=0,
            closing_failures=0,
            callback_attempts=0,
        )
        session.add(ticket)
        session.flush()
        ticket.number = f"{now.astimezone(app.settings.tz):%Y%m%d}{ticket.id:08d}"
        audit.append(
            session,
            ticket,
            now=now,
            actor=actor,
            action="create",
            to_state=rules.RECEIVED,
            data={"channel": body.channel, "urgency": body.urgency},
        )
        if body.urgency == "urgent":
            timers.plan_minutes(
                session,
                ticket,
                "first_response",
                now,
                content.deadlines.urgent_first_response,
                content.deadlines.warn_before,
            )
        return ticket


SYNTHETIC = {
    "caller_number": "00000000000",
    "type": "consultation",
    "category": "999999",
    "district": "探测",
}


def create_synthetic(app: Any, *, body: SyntheticIn, actor: str) -> Ticket:
    """P9.1 probe ticket: no deadlines, out of searches and KPIs, closed by the probe."""
    fields = TicketIn(channel=body.channel, title=body.title, content=body.content, **SYNTHETIC)
    ticket = create(app, body=fields, actor=actor, synthetic=True)
    return ticket


def close_synthetic(app: Any, *, ticket_id: int, actor: str) -> Ticket:
    now = app.clock.now()
    with app.store.session() as session:
        ticket = get(session, ticket_id, lock=True)
        if not ticket.synthetic:
            raise IllegalTransition(f"ticket {ticket.number} is not a synthetic probe ticket")
        target = rules.next_state(ticket.status, "synthetic_close")
        ticket.archived_at = now
        timers.cancel(session, ticket, now)
        audit.append(
            session, ticket, now=now, actor=actor, action="synthetic_close", to_state=target
        )
        return ticket


def get(session: Session, ticket_id: int, *, lock: bool = False) -> Ticket:
    ticket = session.get(Ticket, ticket_id, with_for_update=lock)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def get_by_number(session: Session, number: str) -> Ticket:
    ticket = session.scalar(select(Ticket).where(Ticket.number == number))
    if ticket is None:
        raise NotFound(f"ticket {number} does not exist")
    return ticket


def act(app: Any, *, ticket_id: int, action: str, actor: str, body: ActionIn) -> Ticket:
    """Apply one lifecycle step; IllegalTransition (nothing stored) when not allowed."""
    if action in rules.INTERNAL or action not in rules.ACTIONS:
        raise IllegalTransition(f"action: '{action}' cannot be requested")
    via = body.satisfaction.via if body.satisfaction else "seat"
    if action == "evaluate" and via != "seat":
        # P6.1 coverage per channel must be true: only the IVR route and the signed SMS
        # link record ivr/sms evaluations (tickets/survey.py), never a seat's request.
        raise BadRequest(
            f"satisfaction.via: '{via}' evaluations come only through the IVR route or the "
            "SMS link; a seat agent records via=seat"
        )
    return apply(app, ticket_id=ticket_id, action=action, actor=actor, body=body)


def apply(app: Any, *, ticket_id: int, action: str, actor: str, body: ActionIn) -> Ticket:
    """:func:`act` without the request checks, for the survey channels' own evaluations."""
    now = app.clock.now()
    try:
        ticket, refused = _act(app, ticket_id, action, actor, body, now)
    except IntegrityError as exc:
        # Another step on this ticket took the same audit sequence number first.
        raise IllegalTransition(f"ticket {ticket_id} changed meanwhile; reload and retry") from exc
    if refused is not None:
        # The failed check is stored (it counts in the closing pass rate, P5.2); the
        # caller still gets an error naming what is missing.
        raise BadRequest(refused)
    return ticket


def _act(
    app: Any, ticket_id: int, action: str, actor: str, body: ActionIn, now: datetime
) -> tuple[Ticket, str | None]:
    refused: str | None = None
    with app.store.session() as session:
        ticket = get(session, ticket_id, lock=True)
        flow = rules.Flow(len(ticket.review_chain), ticket.review_passed, ticket.extension_pending)
        target = rules.next_state(ticket.status, action, flow)
        effect = EFFECTS.get(action)
        data = effect(session, app, ticket, body, now) if effect else {}
        if data is not None and "refused" in data:
            refused = data.pop("refused")
            action, target = "close_check_failed", ticket.status
        audit.append(
            session,
            ticket,
            now=now,
            actor=actor,
            action=action,
            to_state=target,
            reason=body.reason,
            data=data or {},
        )
        timers.meet(session, ticket, [k for a, k in timers.MET_BY.items() if a == action], now)
    return ticket, refused


# --- effects: validate the step's fields, change the ticket, return the event's data -------

Effect = Callable[[Session, Any, Ticket, ActionIn, datetime], "dict[str, Any] | None"]


def _need(body: ActionIn, *fields: str) -> None:
    for name in fields:
        if not getattr(body, name) and not (name == "reason" and body.reason):
            raise BadRequest(f"{name}: required for this action")


def _accept(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    cfg = app.ticket_content.deadlines
    t.accepted_at = now
    timers.plan_minutes(session, t, "dispatch", now, cfg.dispatch, cfg.warn_before)
    t.due_at = timers.plan_complete(session, app, t, now, cfg.working_days[t.type], now)
    return {"due_at": t.due_at.isoformat() if t.due_at else None}


def _route(app: Any, t: Ticket, body: ActionIn) -> dict[str, Any]:
    catalogue = app.ticket_content.catalogue
    if body.lead_unit is not None:
        for unit in (body.lead_unit, *(body.assist_units or [])):
            if unit not in catalogue.units:
                raise BadRequest(f"lead_unit: unknown unit '{unit}'")
        lead, assist, rule = body.lead_unit, list(body.assist_units or []), "manual"
    else:
        found = catalogue.route(t.district, t.category)
        if found is None:
            raise BadRequest(f"lead_unit: no catalogue rule for {t.district} × {t.category}")
        lead, assist, rule = found.lead, list(found.assist), "catalogue"
    t.lead_unit, t.assist_units = lead, assist
    return {"lead_unit": lead, "assist_units": assist, "by": rule}


def _dispatch(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    t.dispatched_at = t.dispatched_at or now
    return _route(app, t, body)


def _redispatch(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason")
    before = t.lead_unit
    data = _route(app, t, body)
    if data["lead_unit"] == before:
        raise BadRequest("lead_unit: re-dispatch must go to another unit")
    return {**data, "from_unit": before}


def _sign(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    t.signed_at = now
    return {"unit": t.lead_unit}


def _respond(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "handler", "measures")  # P4.3 first-response record
    t.first_response_at = t.first_response_at or now
    return {"handler": body.handler, "measures": body.measures, "feedback": body.reply or ""}


def _submit(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    t.reply = {k: v for k, v in body.data().items() if k in ("reply", "handler", "measures")}
    t.review_passed = 0
    return {"reply": t.reply, "chain": t.review_chain}


def _approve(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    node = t.review_chain[t.review_passed]
    t.review_passed += 1
    return {"level": t.review_passed, "node": node}


def _reject(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason")
    node = t.review_chain[min(t.review_passed, len(t.review_chain) - 1)]
    t.review_passed, t.returns = 0, t.returns + 1
    return {"level": t.review_passed + 1, "node": node}


def _close(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    """P5.2: the reply must be complete before the ticket closes."""
    rule = app.ticket_content.review.completeness
    missing = [f for f in rule.required if not str(t.reply.get(f) or "").strip()]
    if not missing and len(str(t.reply.get("reply", ""))) < rule.min_reply_chars:
        missing = [f"reply (≥ {rule.min_reply_chars} characters)"]
    if missing:
        t.closing_failures += 1
        return {"refused": f"reply: incomplete, missing {', '.join(missing)}", "missing": missing}
    cfg = app.ticket_content.deadlines
    t.closed_at = now
    limit = cfg.urgent_callback if t.urgency == "urgent" else cfg.callback
    timers.plan_minutes(session, t, "callback", now, limit, cfg.warn_before)
    # P6.1: the survey SMS leaves with the closing, in the same transaction.
    return {"checked": list(rule.required), "survey_sms": survey_sms.queue(session, app, t, now)}


def _evaluate(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "satisfaction")
    known = app.ticket_content.survey.custom
    for key in body.satisfaction.custom:
        if key not in known:
            raise BadRequest(
                f"satisfaction.custom.{key}: unknown item (tickets/satisfaction.yaml custom: "
                f"{', '.join(known) or 'none'})"
            )
    t.satisfaction = body.satisfaction.model_dump()
    t.evaluated_at = now
    return {"satisfaction": t.satisfaction}


def _script(app: Any, t: Ticket, body: ActionIn) -> dict[str, str]:
    """P7.2: the configured script used for this call, filled in."""
    callback = app.ticket_content.callback
    scripts = callback.scripts
    name = body.script or (
        "urgent"
        if t.urgency == "urgent" and "urgent" in scripts
        else callback.script_for(t.category) or "default"
    )
    if name not in scripts:
        raise BadRequest(f"script: unknown callback script '{name}' (tickets/callback.yaml)")
    return {"script": name, "text": scripts[name].format(number=t.number, title=t.title)}


def _callback(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    script = _script(app, t, body)
    t.called_back_at = now
    timers.cancel(session, t, now, ["redial"])
    return {**script, "attempt": t.callback_attempts + 1}


def _callback_missed(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _script(app, t, body)  # a bad script name is refused here too
    limit = app.ticket_content.callback.max_attempts
    if t.callback_attempts >= limit:
        raise BadRequest(
            f"callback_missed: all {limit} callback attempts are already recorded as "
            "unanswered (tickets/callback.yaml max_attempts)"
        )
    t.callback_attempts += 1
    timers.cancel(session, t, now, ["redial"])  # this call was the redial that was due
    if t.callback_attempts < limit:
        timers.schedule_redial(session, t, now, app.ticket_content.deadlines.callback_redial)
        return {"attempt": t.callback_attempts, "redial": True}
    timers.attempts_exhausted(session, app, t, now, limit)
    return {"attempt": t.callback_attempts, "redial": False}


def _archive(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    t.archived_at = now
    timers.cancel(session, t, now)
    return {}


def _object(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason")
    return {"unit": t.lead_unit}


def _objection_approve(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    cfg = app.ticket_content.deadlines
    t.lead_unit, t.assist_units, t.signed_at = None, [], None
    timers.plan_minutes(session, t, "dispatch", now, cfg.dispatch, cfg.warn_before)
    return {}


def _extend_request(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason", "days")
    t.extension_pending, t.extension_days = True, body.days
    return {"days": body.days}


def _extend_approve(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    t.extension_pending = False
    days = t.extension_days
    timers.cancel(session, t, now, ["complete"])
    start = t.due_at or now
    # The extension counts from the current deadline's last working day.
    t.due_at = (
        timers.plan_complete(session, app, t, start - timedelta(seconds=1), days, now) or t.due_at
    )
    return {"days": days, "due_at": t.due_at.isoformat() if t.due_at else None}


def _extend_reject(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason")
    t.extension_pending = False
    return {"days": t.extension_days}


def _supervise(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "reason")
    timers._popup(session, t, now, "supervise", f"工单{t.number}被督办：{body.reason}")
    return {"unit": t.lead_unit}


def _merge(session: Session, app: Any, t: Ticket, body: ActionIn, now: datetime):
    _need(body, "into")
    if body.into == t.id:
        raise BadRequest("into: a ticket cannot be merged into itself")
    main = get(session, body.into)
    if main.status in rules.TERMINAL:
        raise BadRequest(f"into: ticket {main.number} is {main.status}")
    t.merged_into = main.id
    timers.cancel(session, t, now)
    return {"into": main.id, "into_number": main.number}


EFFECTS: dict[str, Effect] = {
    "accept": _accept,
    "dispatch": _dispatch,
    "redispatch": _redispatch,
    "sign": _sign,
    "respond": _respond,
    "submit": _submit,
    "approve": _approve,
    "reject": _reject,
    "close": _close,
    "evaluate": _evaluate,
    "callback": _callback,
    "callback_missed": _callback_missed,
    "archive": _archive,
    "object": _object,
    "objection_approve": _objection_approve,
    "extend_request": _extend_request,
    "extend_approve": _extend_approve,
    "extend_reject": _extend_reject,
    "supervise": _supervise,
    "merge": _merge,
}


# --- reading ---------------------------------------------------------------------------------

OPEN = tuple(
    s
    for s in rules.STATES
    if s not in (rules.CLOSED, rules.EVALUATED, rules.CALLED_BACK, rules.ARCHIVED, rules.MERGED)
)


# What a search returns: the columns view.summary shows, not the ticket's content, reply or
# audit head. Table columns, not ORM attributes: the statement then runs as plain SQL, without
# the ORM's per-statement and per-row loading steps.
_COLUMNS = Ticket.__table__.c
SUMMARY_NAMES = (
    "id", "number", "status", "channel", "urgency", "type", "category", "title",
    "caller_number", "caller_name", "caller_location", "district", "street", "community",
    "tags", "confidential", "synthetic", "lead_unit", "assist_units", "review_chain",
    "review_passed", "merged_into", "created_at", "accepted_at", "dispatched_at",
    "signed_at", "first_response_at", "closed_at", "evaluated_at", "called_back_at",
    "archived_at", "due_at",
)  # fmt: skip
SUMMARY_COLUMNS = tuple(_COLUMNS[name] for name in SUMMARY_NAMES)
# A search row as a named tuple: reading a name from SQLAlchemy's Row costs ~0.5 µs and
# view.summary reads ~36 of them a ticket, more than the SQL spends on the row; a named
# tuple's fields are read at C speed.
SummaryRow = namedtuple("SummaryRow", SUMMARY_NAMES)


def search(app: Any, *, query: SearchIn, budget_s: float | None = None) -> tuple[list[Any], bool]:
    """Matching tickets, urgent open ones pinned on top (P4.2), newest first; and whether
    another page follows (no COUNT over millions of rows: one extra row is fetched).
    With ``budget_s`` the read is cut off past it (errors.Overrun): see the API."""
    reading = app.store.read() if budget_s is None else app.store.read_within(budget_s)
    with reading as session:
        rows = search_rows(session, query, app.clock.now())
    return rows[: query.per_page], len(rows) > query.per_page


def search_rows(session: Session, query: SearchIn, now: datetime) -> list[SummaryRow]:
    """The page's rows plus one. A search by number or caller matches a handful of rows:
    one statement sorts them. A broad search (status, region …) is read as two legs each
    ordered by id alone — the pinned tickets, then the others — so each leg walks an index
    backwards and stops, where one ORDER BY (pinned, id) would sort every matching row.
    Each leg skips the earlier pages in SQL: only the page's rows are loaded."""
    start = (query.page - 1) * query.per_page
    want = query.per_page + 1
    shape, values = _shape(query), _values(query, now)

    def rows(leg: str, limit: int, offset: int) -> list[SummaryRow]:
        stmt = _statement(shape, leg)
        params = {**values, "limit": limit, "offset": offset}
        return [SummaryRow._make(row) for row in session.execute(stmt, params)]

    if _narrow(query):
        return rows("sorted", want, start)
    if not _has_pin(shape):
        return rows("rest", want, start)
    top = rows("pinned", want, start)
    if len(top) == want:
        return top
    # The pinned tickets end on or before this page; the others follow the last of them.
    ahead = start + len(top) if top or not start else _count_pinned(session, shape, values, start)
    return top + rows("rest", want - len(top), max(0, start - ahead))


def search_statements(query: SearchIn, now: datetime) -> list[Any]:
    """The statements ``search_rows`` runs for the first page, values bound (EXPLAIN, the
    benchmark)."""
    shape = _shape(query)
    values = {**_values(query, now), "limit": query.per_page + 1, "offset": 0}
    legs = ["sorted"] if _narrow(query) else ["pinned", "rest"] if _has_pin(shape) else ["rest"]
    return [_statement(shape, leg).params(values) for leg in legs]


def _narrow(query: SearchIn) -> bool:
    return bool(query.number or query.caller)


# A search's statements are built once per shape (which filters are given, whether the
# status is an open one, overdue or not) with the values as bound parameters: building a
# 32-column select and its cache key cost more per request than SQLite spent running it.
_BOUND = ("number", "caller", "status", "category", "region")


def _shape(query: SearchIn) -> tuple[Any, ...]:
    given = tuple(name for name in _BOUND if getattr(query, name))
    return given, query.overdue, (query.status in OPEN) if query.status else None


def _values(query: SearchIn, now: datetime) -> dict[str, Any]:
    if query.status and query.status not in rules.STATES:
        raise BadRequest(f"status: unknown status '{query.status}'")
    values = {name: getattr(query, name) for name in _BOUND if getattr(query, name)}
    return {**values, "now": now} if query.overdue is not None else values


def _has_pin(shape: tuple[Any, ...]) -> bool:
    return _legs(shape)[0] is not None


@functools.cache
def _statement(shape: tuple[Any, ...], leg: str) -> Any:
    limit, offset = bindparam("limit"), bindparam("offset")
    stmt = select(*SUMMARY_COLUMNS).where(*_where(shape))
    if leg == "sorted":
        pinned = ((_COLUMNS.urgency == "urgent") & _COLUMNS.status.in_(OPEN)).desc()
        return stmt.order_by(pinned, _COLUMNS.id.desc()).offset(offset).limit(limit)
    cond = _legs(shape)[0 if leg == "pinned" else 1]
    order = _rest_order(shape) if leg == "rest" else [_COLUMNS.id.desc()]
    return stmt.where(cond).order_by(*order).offset(offset).limit(limit)


def _rest_order(shape: tuple[Any, ...]) -> list[Any]:
    """Newest first. With a status and a region given (equalities), ordering by them first
    changes nothing in the result but names (status, district, id) as the index to walk:
    PostgreSQL otherwise walked the primary key backwards and filtered ~41 of 42 rows out,
    or more past the newest tickets, which are open (a closed status: 11-66 ms a page).
    The pinned leg keeps (status, district, urgency, id): its urgency is an equality."""
    given = shape[0]
    if "status" in given and "region" in given:
        return [_COLUMNS.status.desc(), _COLUMNS.district.desc(), _COLUMNS.id.desc()]
    return [_COLUMNS.id.desc()]


def _count_pinned(session: Session, shape: tuple[Any, ...], values: dict, limit: int) -> int:
    """How many pinned rows match, counting no further than ``limit`` (ids off the index)."""
    ids = select(_COLUMNS.id).where(*_where(shape), _legs(shape)[0]).limit(bindparam("limit"))
    count = select(func.count()).select_from(ids.subquery())
    return session.scalar(count, {**values, "limit": limit}) or 0


def _legs(shape: tuple[Any, ...]) -> tuple[Any, Any]:
    """(pinned condition or None, the others' condition). With a status given the pin is
    urgency alone, and 'not urgent' is an equality, so (status, district, urgency, id)
    serves both legs as plain index ranges."""
    _, _, status_open = shape
    urgent = _COLUMNS.urgency == "urgent"
    calm = _COLUMNS.urgency.in_([u for u in rules.URGENCIES if u != "urgent"])
    if status_open is not None:
        return (urgent, calm) if status_open else (None, true())
    pinned = urgent & _COLUMNS.status.in_(OPEN)
    return pinned, calm | _COLUMNS.status.not_in(OPEN)


def _where(shape: tuple[Any, ...]) -> list[Any]:
    given, overdue, _ = shape
    where: list[Any] = [_COLUMNS.synthetic.is_(False)]
    if "number" in given:
        where.append(_COLUMNS.number == bindparam("number"))
    if "caller" in given:
        where.append(_COLUMNS.caller_number == bindparam("caller"))
    if "status" in given:
        where.append(_COLUMNS.status == bindparam("status"))
    if "category" in given:
        where.append(_COLUMNS.category.startswith(bindparam("category")))
    if "region" in given:
        where.append(_COLUMNS.district == bindparam("region"))
    if overdue is not None:
        late = _COLUMNS.status.in_(OPEN) & (_COLUMNS.due_at < bindparam("now"))
        where.append(late if overdue else ~late | _COLUMNS.due_at.is_(None))
    return where


def history(session: Session, ticket: Ticket, limit: int = 20) -> list[Ticket]:
    """P1.3: the caller's earlier tickets."""
    return list(
        session.scalars(
            select(Ticket)
            .where(Ticket.caller_number == ticket.caller_number, Ticket.id < ticket.id)
            .order_by(Ticket.id.desc())
            .limit(limit)
        )
    )


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Ticket)) or 0
