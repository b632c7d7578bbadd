"""Satisfaction collected by IVR keypress and by the SMS link (P6.1, P6.2).

Both end in the ordinary ``evaluate`` step of the service (same state check, same audit
event, one evaluation per ticket: a second one is refused because the ticket is no longer
``closed``), with the channel kept in ``satisfaction.via`` for coverage per channel.
"""

from __future__ import annotations

from typing import Any

from hotline_ops.core.ticket_rules import CLOSED, LABELS_ZH
from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import service, survey_sms
from hotline_ops.tickets.schemas import ActionIn, IvrIn, Satisfaction

DIMENSIONS = ("attitude", "efficiency", "result")


def _satisfaction(via: str, scores: dict[str, int]) -> Satisfaction:
    custom = {k: v for k, v in scores.items() if k not in DIMENSIONS}
    return Satisfaction(via=via, custom=custom, **{k: scores[k] for k in DIMENSIONS})


def _evaluate(app: Any, ticket_id: int, actor: str, sat: Satisfaction, reason: str) -> Ticket:
    body = ActionIn(satisfaction=sat, reason=reason)
    return service.apply(app, ticket_id=ticket_id, action="evaluate", actor=actor, body=body)


# --- IVR keypress ----------------------------------------------------------------------------


def ivr_scores(app: Any, digits: str) -> dict[str, int]:
    """One key per configured item, in order; BadRequest naming the key and its position."""
    cfg = app.ticket_content.survey
    items = cfg.items()
    if len(digits) != len(items):
        names = ", ".join(f"{key}（{label}）" for key, label in items)
        raise BadRequest(
            f"digits: expected {len(items)} keys, one per item ({names}), got {len(digits)}"
        )
    allowed = ", ".join(f"{k}={cfg.scale.labels[v]}" for k, v in cfg.ivr.keys.items())
    scores = {}
    for position, ((key, label), digit) in enumerate(zip(items, digits, strict=True), 1):
        if digit not in cfg.ivr.keys:
            raise BadRequest(
                f"digits: key '{digit}' at position {position} ({label}) is not a survey key "
                f"({allowed})"
            )
        scores[key] = cfg.ivr.keys[digit]
    return scores


def record_ivr(app: Any, *, ticket_id: int, body: IvrIn, actor: str) -> Ticket:
    scores = ivr_scores(app, body.digits)
    reason = f"IVR按键评价，呼叫{body.call_id}" if body.call_id else "IVR按键评价"
    return _evaluate(app, ticket_id, f"ivr:{actor}", _satisfaction("ivr", scores), reason)


# --- SMS link --------------------------------------------------------------------------------


def form_scores(app: Any, form: dict[str, str]) -> dict[str, int]:
    """The form's answers; BadRequest naming the first missing or bad item."""
    cfg = app.ticket_content.survey
    scores = {}
    for key, label in cfg.items():
        value = str(form.get(key, "")).strip()
        if value not in ("1", "2", "3"):
            what = "missing" if not value else f"'{value[:10]}' is not 1, 2 or 3"
            raise BadRequest(f"{key}: {label} {what}")
        scores[key] = int(value)
    return scores


def open_link(app: Any, token: str) -> tuple[Ticket, survey_sms.SurveyClaim]:
    """The ticket a valid link names, checked for being open to evaluation."""
    claim = survey_sms.verify(app, token)
    with app.store.session() as session:
        ticket = service.get(session, claim.ticket_id)
        session.expunge(ticket)
    if ticket.evaluated_at is not None:
        raise IllegalTransition("该工单已评价，每张工单只能评价一次")
    if ticket.status != CLOSED:
        raise IllegalTransition(
            f"该工单当前状态为{LABELS_ZH.get(ticket.status, ticket.status)}，评价已结束"
        )
    return ticket, claim


def record_sms(app: Any, *, token: str, form: dict[str, str]) -> Ticket:
    ticket, _claim = open_link(app, token)
    scores = form_scores(app, form)
    actor = f"sms:{survey_sms.masked(ticket.caller_number)}"
    return _evaluate(app, ticket.id, actor, _satisfaction("sms", scores), "短信链接评价")


def link_for(app: Any, ticket_id: int) -> str:
    """The survey link of a closed ticket, to give the caller by hand (an SMS that never
    arrived, a caller who asks again); same signature and expiry as the SMS."""
    with app.store.session() as session:
        ticket = service.get(session, ticket_id)
        status = ticket.status
    if status != CLOSED:
        raise IllegalTransition(f"ticket {ticket_id} is {status}: only a closed ticket is rated")
    url = survey_sms.link(app, ticket_id, app.clock.now())
    if url is None:
        secret = app.ticket_content.survey.sms.secret.upper()
        raise BadRequest(f"secret: HOTLINE_OPS_SECRET_{secret} is not set (survey links)")
    return url
