"""The satisfaction SMS (P6.1): a signed, expiring link queued with the closing step.

The link token is the signed-claims format of the incident acknowledgement links
(services/ack.py) with its own secret, HOTLINE_OPS_SECRET_<sms.secret of
tickets/satisfaction.yaml>, and its own claim key ``s`` (the ticket id), so an ack token is
never a survey token nor the reverse. The SMS goes through the transactional outbox in the
closing transaction: a closing that rolls back sends nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.errors import BadRequest
from hotline_ops.notify import render
from hotline_ops.services import ack, outbox
from hotline_ops.store.tickets import Ticket

MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")
# One SMS budget for the whole text (3 UCS-2 segments, 201 characters), less room for a
# provider signature such as 【梧州12345】: the link must never be cut.
SIGNATURE_ROOM = 12
PATH = "/api/survey/"


@dataclass(frozen=True)
class SurveyClaim:
    ticket_id: int
    expires_at: datetime


def mobile(number: str) -> str | None:
    """The 11-digit mainland mobile number, or None (a landline cannot receive the SMS)."""
    found = MOBILE.match(number.replace("-", ""))
    return found.group(1) if found else None


def masked(number: str) -> str:
    """138****0000: how the caller appears in the audit trail and on the form."""
    digits = mobile(number) or number
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else "****"


def secret_of(app: Any) -> str | None:
    return app.settings.secret(app.ticket_content.survey.sms.secret)


def token(secret: str, ticket_id: int, expires_at: datetime) -> str:
    return ack.sign_claims(secret, {"s": ticket_id, "e": int(expires_at.timestamp())})


def verify(app: Any, value: str) -> SurveyClaim:
    """The ticket a link names; BadRequest when forged, malformed, expired or unconfigured."""
    secret = secret_of(app)
    if not secret:
        raise BadRequest("token: survey links are not configured")
    claims = ack.verify_claims(secret, value, app.clock.now())
    try:
        return SurveyClaim(int(claims["s"]), datetime.fromtimestamp(claims["e"], UTC))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest("token: malformed") from exc


def link(app: Any, ticket_id: int, now: datetime) -> str | None:
    secret = secret_of(app)
    if not secret:
        return None
    cfg = app.ticket_content.survey.sms
    expires = now + timedelta(seconds=cfg.link_ttl)
    base = (cfg.public_url or f"http://{app.settings.listen}").rstrip("/")
    return f"{base}{PATH}{token(secret, ticket_id, expires)}"


def text(app: Any, ticket: Ticket, url: str) -> str | None:
    """The SMS in Chinese, the title shortened until the whole text fits one SMS budget;
    None when even without a title it does not (a very long public_url)."""
    template = app.ticket_content.survey.sms.text
    budget = render.sms_max_chars(3) - SIGNATURE_ROOM
    title = ticket.title
    while True:
        out = template.format(number=ticket.number, title=title, url=url)
        if len(out) <= budget or not title:
            break
        title = title[:-2] + "…" if len(title) > 1 else ""
    return out if len(out) <= budget else None


def queue(session: Session, app: Any, ticket: Ticket, now: datetime) -> str:
    """Queue the survey SMS for a closed ticket; what happened, for the closing event."""
    cfg = app.ticket_content.survey.sms
    phone = mobile(ticket.caller_number)
    if cfg.channel is None:
        return "off"  # no SMS channel configured (tickets/satisfaction.yaml sms.channel)
    if phone is None:
        return "no_mobile"
    url = link(app, ticket.id, now)
    if url is None:
        return "no_secret"
    body = text(app, ticket, url)
    if body is None:
        # Closing must not fail over the survey: the event says why no SMS went out.
        return "too_long"
    outbox.enqueue(
        session,
        now=now,
        channel=cfg.channel,
        dedup_key=f"ticket:{ticket.id}:survey",
        subject=body,
        text=body,
        data={"kind": "survey", "ticket": ticket.number},
        recipient={"name": "诉求人", "phone": phone},
    )
    return "queued"
