"""Routing a page to people: an escalation step's ``roster``/``people`` become the persons
on call at the step's time, each paged on their FIRST channel with their address, the rest
of their channels queued as failover (services/outbox.py does the failing over).

Quiet hours defer a person's level 2/3 pages to the end of the quiet hours; they never apply
to level 1 (system down, CONTRACT.md M2.3a: the emergency plan starts within 1 hour).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core import escalation as esc
from hotline_ops.core import roster as core
from hotline_ops.errors import NotFound
from hotline_ops.notify.base import Message, Recipient
from hotline_ops.services import ack, oncall, outbox
from hotline_ops.store.models import Incident

QUIET_EXEMPT_LEVELS = frozenset({1})


@dataclass(frozen=True)
class Page:
    person: str
    channel: str
    deferred_to: datetime | None


def recipient(person: core.Person) -> dict[str, Any]:
    return {
        "name": person.name,
        "phone": person.phone,
        "email": person.email,
        "wecom_id": person.wecom_id,
        "dingtalk_id": person.dingtalk_id,
    }


def page_step(
    session: Session,
    app: Any,
    incident: Incident,
    step: esc.Step,
    *,
    key: str,
    subject: str,
    text: str,
    data: dict[str, Any],
    now: datetime,
) -> list[Page] | None:
    """Page the step's people; None when rosters are not configured (callers fall back to
    the step's channels). An empty list is a roster gap: nobody could be found."""
    if getattr(app.content, "roster", None) is None or not (step.people or step.roster):
        return None
    people = oncall.resolve_targets(app, session, people=step.people, roster=step.roster, at=now)
    pages = []
    for person in people:
        pages.append(_page(session, app, incident, person, key, subject, text, data, now))
    return pages


def _page(
    session: Session,
    app: Any,
    incident: Incident,
    person: core.Person,
    key: str,
    subject: str,
    text: str,
    data: dict[str, Any],
    now: datetime,
) -> Page:
    quiet_until = None
    if incident.level not in QUIET_EXEMPT_LEVELS:
        quiet_until = core.in_quiet_hours(person, now, app.settings.tz)
    link = ack.link(app, incident.id, person.key, now)
    body = f"{text}\n确认接手：{link}" if link else text
    first, *rest = person.channels
    outbox.enqueue(
        session,
        now=now,
        channel=first,
        incident_id=incident.id,
        dedup_key=f"{key}:person:{person.key}",
        subject=subject,
        text=f"{person.name}：{body}",
        data={**data, "person": person.key, "ack_url": link},
        person=person.key,
        recipient=recipient(person),
        failover=rest,
        not_before=quiet_until,
    )
    return Page(person.key, first, quiet_until)


def test_page(app: Any, *, channel: str, person: str) -> dict[str, Any]:
    """Send a zh-CN test message to ``person`` through ``channel`` now, synchronously
    (``notify test``); ChannelError when it fails."""
    pol = oncall.base_policy(app)
    if person not in pol.people and person not in pol.roles:
        raise NotFound(f"person '{person}' is not in incidents/roster.yaml")
    if channel not in app.channels:
        raise NotFound(f"channel '{channel}' is not configured (known: {', '.join(app.channels)})")
    who = pol.person(person)
    now = app.clock.now()
    stamp = now.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M:%S")
    subject = f"【{app.settings.site.name}·通知测试】"
    text = (
        f"{subject}\n{who.name}，您好：这是一条测试消息，经 {channel} 渠道发送，"
        f"发送时间 {stamp}。收到即表示该渠道可以联系到您，无需回复。"
    )
    message = Message(
        f"notify-test:{channel}:{who.key}:{now.isoformat()}",
        subject,
        text,
        {"event": "notify.test", "person": who.key},
        recipient=Recipient(**recipient(who)),
    )
    started = app.clock.monotonic()
    outbox.send_now(app, channel, message)
    return {
        "channel": channel,
        "person": who.key,
        "name": who.name,
        "status": "sent",
        "at": now,
        "elapsed_s": round(app.clock.monotonic() - started, 3),
    }
