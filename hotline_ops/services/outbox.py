"""The transactional outbox: enqueue inside the caller's transaction, deliver in a loop.

Delivery is at-least-once (a crash between send and mark re-sends) and every message carries
its dedup key as the Idempotency-Key, so a receiver that honours it sees each message once.
Messages to one channel go out in order: a message waiting for its retry holds back the
later ones of the same channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Message
from hotline_ops.store.models import IncidentEvent, OutboxMessage

log = logging.getLogger(__name__)


def enqueue(
    session: Session,
    *,
    now: datetime,
    channel: str,
    dedup_key: str,
    subject: str,
    text: str,
    data: dict[str, Any],
    incident_id: int | None = None,
) -> bool:
    """Add a message unless one with this dedup key exists; True when added."""
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup_key))
    if exists is not None:
        return False
    session.add(
        OutboxMessage(
            dedup_key=dedup_key,
            incident_id=incident_id,
            channel=channel,
            subject=subject,
            text=text,
            data=data,
            status="pending",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
            last_error="",
        )
    )
    session.info[WAKE] = True  # wake the delivery loop once this transaction commits
    return True


# Wake-up on enqueue: the daemon's delivery loop waits on an event instead of sleeping a
# whole poll, so a message leaves as soon as the transaction that queued it commits (the
# poll stays as the fallback, e.g. for messages queued by another process).
WAKE = "outbox.wake"
_wakers: list[Callable[[], None]] = []


def on_enqueue(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (from the committing thread) after every commit that queued a
    message; returns the function that unsubscribes it."""
    _wakers.append(callback)
    return lambda: _wakers.remove(callback) if callback in _wakers else None


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # A rolled-back session is thrown away with its flag (store.session() makes one per
    # transaction), so only a commit that really queued something wakes the loop.
    if session.info.pop(WAKE, False):
        for callback in list(_wakers):
            callback()


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential: base, 2·base, 4·base … capped (attempts counts tries made so far)."""
    return min(max_s, base_s * (2 ** max(0, attempts - 1)))


def deliver_due(app: Any) -> DeliveryStats:
    """One pass over pending messages; safe to run in several processes at once."""
    now = app.clock.now()
    stats = DeliveryStats()
    blocked: set[str] = set()
    for row in _pending(app):
        if row.channel in blocked:
            continue
        if row.next_attempt_at > now or not _claim(app, row.id, now):
            blocked.add(row.channel)
            continue
        outcome = _send(app, row)
        if outcome != "sent":
            blocked.add(row.channel)
        setattr(stats, outcome, getattr(stats, outcome) + 1)
    return stats


def _pending(app: Any) -> list[OutboxMessage]:
    cfg = app.settings.daemon
    with app.store.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            # Leased rows stay in the list: their failed claim blocks the rest of the channel,
            # which keeps each channel's messages in order.
            .where(OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id)
            .limit(cfg.outbox_batch)
        ).all()
        return list(rows)


def _claim(app: Any, message_id: int, now: datetime) -> bool:
    """A lease, so a crashed worker's message is retried by the next one after it expires."""
    lease = now + timedelta(seconds=app.settings.daemon.claim_lease_s)
    with app.store.session() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
            .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until <= now))
            .values(claimed_until=lease)
        )
        return result.rowcount == 1


def _send(app: Any, row: OutboxMessage) -> str:
    channel = app.channels.get(row.channel)
    try:
        if channel is None:
            raise ChannelError(f"channel '{row.channel}' is not configured", permanent=True)
        channel.send(Message(row.dedup_key, row.subject, row.text, row.data))
    except ChannelError as exc:
        return _failed(app, row, exc)
    _mark(
        app,
        row.id,
        status="sent",
        attempts=row.attempts + 1,
        sent_at=app.clock.now(),
        claimed_until=None,
        last_error="",
    )
    return "sent"


def _failed(app: Any, row: OutboxMessage, exc: ChannelError) -> str:
    now = app.clock.now()
    attempts = row.attempts + 1
    cfg = app.settings.daemon
    if not exc.permanent and attempts < cfg.outbox_max_attempts:
        delay = backoff(attempts, cfg.backoff_base_s, cfg.backoff_max_s)
        log.warning("outbox %s via %s: %s (retry in %.0fs)", row.id, row.channel, exc, delay)
        _mark(
            app,
            row.id,
            attempts=attempts,
            last_error=str(exc),
            claimed_until=None,
            next_attempt_at=now + timedelta(seconds=delay),
        )
        return "retried"
    log.error("outbox %s via %s failed for good: %s", row.id, row.channel, exc)
    _mark(
        app,
        row.id,
        status="failed",
        attempts=attempts,
        last_error=str(exc),
        claimed_until=None,
        event=(row.incident_id, now, row.channel, str(exc)),
    )
    return "failed"


def _mark(app: Any, message_id: int, event: tuple | None = None, **values: Any) -> None:
    with app.store.session() as session:
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
        )
        if event is not None and event[0] is not None:
            incident_id, at, channel, error = event
            session.add(
                IncidentEvent(
                    incident_id=incident_id,
                    at=at,
                    actor="outbox",
                    kind="notify.failed",
                    reason=error,
                    data={"channel": channel, "outbox_id": message_id},
                )
            )
