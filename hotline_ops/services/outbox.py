"""The transactional outbox: enqueue inside the caller's transaction, deliver in a loop.

Delivery is at-least-once (a crash between send and mark re-sends) and every message carries
its dedup key as the Idempotency-Key, so a receiver that honours it sees each message once.

Order: messages to one channel *for one person* (or the channel's announcements) go out in
order — a message waiting for its retry holds back the later ones of the same queue, while
another person's pages on the same channel are not held hostage.

Guarantees carried here (issue [4/7]):
- per-channel rate limits (``channel.rate_limit = (n, period_s)``, a token bucket per channel
  instance in this process): a message over the limit waits in the queue, it is never dropped;
  a provider's rate-limit answer (``ChannelError.retry_after``) empties the bucket until then;
- transient errors back off exponentially (or wait ``retry_after``);
- a permanent error, or transient ones past ``outbox_max_attempts``, fail over to the person's
  next channel, recorded on the timeline and in the delivery log;
- a lease of a few times the channel's timeout, owned by this worker, so a crash stalls a
  channel for seconds, not a minute; ``recover`` releases a dead predecessor's leases at start.

Hand-off: in a process whose daemon delivers (``serve``), a new incident's notices are
inserted already leased to this worker and their ids handed to its delivery loop, so the
first pass sends them without a claim: that UPDATE waited for the store's single writer,
held by the very consumer that queued them. A crash leaves them leased like any claim.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import and_, event, insert, or_, select, update
from sqlalchemy.orm import Session

from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Message, Recipient
from hotline_ops.store.models import IncidentEvent, OutboxMessage
from hotline_ops.store.routing import DeliveryAttempt

log = logging.getLogger(__name__)

# A lease must outlive one send (bounded by the channel's timeout) with room to mark it.
LEASE_TIMEOUTS = 3
LEASE_SLACK_S = 5.0
PASS_LEASE_S = 300.0  # one pass's claim lasts at most this long (its sends, one by one)
DEFAULT_TIMEOUT_S = 5.0


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
    person: str | None = None,
    recipient: dict[str, Any] | None = None,
    failover: Sequence[str] = (),
    not_before: datetime | None = None,
) -> bool:
    """Add a message unless one with this dedup key exists; True when added.

    ``person``/``recipient`` address it to someone; ``failover`` are that person's channels
    to try next; ``not_before`` defers it (quiet hours)."""
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
            **_fresh(now, person, recipient, failover, not_before),
        )
    )
    session.info[WAKE] = True  # wake the delivery loop once this transaction commits
    return True


def _fresh(
    now: datetime,
    person: str | None = None,
    recipient: dict[str, Any] | None = None,
    failover: Sequence[str] = (),
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """A new message's delivery state and addressee (both enqueue paths)."""
    return {
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": max(now, not_before) if not_before else now,
        "last_error": "",
        "person": person,
        "recipient": recipient,
        "failover": list(failover),
    }


def enqueue_new(
    session: Session, app: Any, *, now: datetime, messages: list[dict[str, Any]]
) -> None:
    """Add messages whose dedup keys cannot exist yet (a new incident's notices: the key
    holds the incident's new id) in one executemany, without the per-message lookup
    ``enqueue`` does. Should a key exist after all, the unique ``dedup_key`` fails the
    transaction instead of sending twice. Each message: channel, dedup_key, subject, text,
    data, incident_id; ``sent_at`` when it was already sent (a first notice): stored as
    sent, with its attempt in the delivery log. Where this process delivers
    (``deliver_here``), the rest are handed to its loop: inserted leased to its worker,
    their ids passed on at commit."""
    sent = [m for m in messages if m.get("sent_at") is not None]
    if sent:
        _insert_sent(session, sent, now)
    messages = [m for m in messages if m.get("sent_at") is None]
    if not messages:
        return
    worker = state(app)
    rows = [{**_plain(message), **_fresh(now)} for message in messages]
    statement = insert(OutboxMessage.__table__)
    session.info[WAKE] = True
    if not worker.delivering:
        session.execute(statement, rows)
        return
    for row in rows:
        row["claimed_until"] = now + timedelta(seconds=lease_s(app, row["channel"]))
        row["claimed_by"] = worker.worker
    leased = session.execute(
        statement.returning(OutboxMessage.id, OutboxMessage.claimed_until), rows
    )
    session.info[HANDED] = (worker, dict(leased.all()))  # id → lease end


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "sent_at"}


def _insert_sent(session: Session, messages: list[dict[str, Any]], now: datetime) -> None:
    """Messages sent before their incident was stored: the row as a pass that sent them
    leaves it, and the attempt in the delivery log (one executemany each)."""
    rows = [
        {**_plain(m), **_fresh(now), "status": "sent", "attempts": 1, "sent_at": m["sent_at"]}
        for m in messages
    ]
    statement = insert(OutboxMessage.__table__)
    ids = dict(
        session.execute(statement.returning(OutboxMessage.dedup_key, OutboxMessage.id), rows).all()
    )
    session.execute(
        insert(DeliveryAttempt.__table__),
        [
            {
                "outbox_id": ids[m["dedup_key"]],
                "incident_id": m["incident_id"],
                "at": m["sent_at"],
                "channel": m["channel"],
                "person": None,
                "attempt": 1,
                "status": "sent",
                "error": "",
            }
            for m in messages
        ],
    )


# Wake-up on enqueue: the daemon's delivery loop waits on an event instead of sleeping a
# whole poll, so a message leaves as soon as the transaction that queued it commits (the
# poll stays as the fallback, e.g. for messages queued by another process).
WAKE = "outbox.wake"
HANDED = "outbox.handed"
_wakers: list[Callable[[], None]] = []


def deliver_here(app: Any, wake: Callable[[], None]) -> Callable[[], None]:
    """Register this process's delivery loop for ``app``: ``wake`` is called (from the
    committing thread) after every commit that queued a message, and new incidents' notices
    are handed to the loop (``enqueue_new``). Returns the function that ends both; a process
    without a loop (the CLI) leaves what it queues unleased for the daemon's passes."""
    worker = state(app)
    worker.delivering = True
    _wakers.append(wake)

    def stop() -> None:
        worker.delivering = False
        if wake in _wakers:
            _wakers.remove(wake)

    return stop


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # A rolled-back session is thrown away with its flag (store.session() makes one per
    # transaction), so only a commit that really queued something wakes the loop.
    handed = session.info.pop(HANDED, None)
    if handed is not None:
        worker, leases = handed
        worker.handed.update(leases)  # before the wake-up: the pass it starts finds them
    if session.info.pop(WAKE, False):
        for callback in list(_wakers):
            callback()


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    failed_over: int = 0
    rate_limited: int = 0


def backoff(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential: base, 2·base, 4·base … capped (attempts counts tries made so far)."""
    return min(max_s, base_s * (2 ** max(0, attempts - 1)))


class TokenBucket:
    """``capacity`` sends, refilled at capacity/period per second; ``pause`` empties it."""

    def __init__(self, capacity: int, period_s: float, now: datetime) -> None:
        self.capacity = capacity
        self.rate = capacity / period_s
        self.tokens = float(capacity)
        self.at = now

    def _refill(self, now: datetime) -> None:
        if now <= self.at:
            return  # paused until self.at, or no time passed
        elapsed = (now - self.at).total_seconds()
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.at = now

    def take(self, now: datetime) -> bool:
        self._refill(now)
        if now < self.at or self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def refund(self) -> None:
        self.tokens = min(self.capacity, self.tokens + 1)

    def pause(self, until: datetime) -> None:
        self.tokens = 0.0
        self.at = max(self.at, until)


@dataclass
class WorkerState:
    """Per-process outbox state: who holds leases, and the rate-limit buckets."""

    worker: str
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    # Set by deliver_here while this process runs a delivery loop (the daemon): only then
    # are new messages handed to it (a CLI process that leased them would exit and stall
    # them a lease).
    delivering: bool = False
    # Ids of messages inserted leased to this worker for its loop → the lease's end.
    handed: dict[int, datetime] = field(default_factory=dict)


def worker_id(pid: int | None = None) -> str:
    """host:pid:start-time; the start time tells a live process from a reused pid."""
    proc = psutil.Process(pid or os.getpid())
    return f"{socket.gethostname()}:{proc.pid}:{int(proc.create_time())}"


def state(app: Any) -> WorkerState:
    current = app.__dict__.get("_outbox_state")
    if current is None:
        current = WorkerState(worker_id())
        app.__dict__["_outbox_state"] = current
    return current


def bucket(app: Any, name: str, now: datetime) -> TokenBucket | None:
    limit = getattr(app.channels.get(name), "rate_limit", None)
    if not limit:
        return None
    buckets = state(app).buckets
    if name not in buckets:
        buckets[name] = TokenBucket(int(limit[0]), float(limit[1]), now)
    return buckets[name]


def deliver_due(app: Any) -> DeliveryStats:
    """One pass over pending messages; safe to run in several processes at once."""
    now = app.clock.now()
    stats = DeliveryStats()
    blocked: set[tuple[str, str]] = set()
    chosen = _choose(app, now, stats, blocked)
    held, renew = _held(app, chosen, now)
    # One claim for the whole pass: under a backlog a claim per message waited for the
    # store's writer once more per message. Messages handed to this loop need none.
    rest = [row for row, _ in chosen if row.id not in held]
    claimed, lease = _claim_all(app, rest, now, renew=renew)
    leases = {**dict.fromkeys(claimed, lease), **held}
    marks = _Marks(app)
    try:
        _send_claimed(app, chosen, leases, stats, blocked, marks)
    finally:
        try:
            marks.flush()
        finally:
            # Whatever this pass leased and did not mark (its queue stopped, the lease ran
            # short, an error escaped) is given back now rather than when the lease expires.
            _release(app, sorted(set(leases) - marks.done))
            _forget(app, [row.id for row, _ in chosen], now)
    return stats


# Sent messages whose marks may wait for the store's writer before the pass waits for it: a
# burst waits once per this many pages instead of once per page, and a crash re-sends at
# most this many (in a storm of 200 alerts/s with 3 SIGKILLs an unbounded pass re-sent 73).
MARKS_WAITING = 5


@dataclass
class _Marks:
    """A pass's sent messages whose "sent" is not stored yet.

    On SQLite the journal consumer holds the store's writer while it opens incidents; a
    mark per message waited for it once per page, so under a burst the pass sent one page
    per consumer transaction and fell behind. Marks are written as soon as the writer is
    free — right after the send when nobody is writing — else together with the next
    ones, MARKS_WAITING at most, at the latest at the pass's end. A crash in between
    re-sends those few messages with their Idempotency-Key, as a crash between any send and
    its mark does; the bound keeps that to a few pages for receivers that ignore the key
    (SMS, WeCom, DingTalk)."""

    app: Any
    waiting: list[tuple[OutboxMessage, datetime]] = field(default_factory=list)
    # Ids whose outcome is stored or waits here (the pass adds each message it sent or
    # failed): their leases are not given back at the pass's end.
    done: set[int] = field(default_factory=set)

    def sent(self, row: OutboxMessage, at: datetime) -> None:
        self.waiting.append((row, at))
        with self.app.store.session_if_free() as session:
            if session is not None:
                self._write(session)
        if len(self.waiting) >= MARKS_WAITING:
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            with self.app.store.session() as session:
                self._write(session)

    def _write(self, session: Session) -> None:
        for row, at in self.waiting:
            _mark_in(session, row, "sent", at, status="sent", attempts=row.attempts + 1,
                     sent_at=at, last_error="")  # fmt: skip
        self.waiting.clear()


def _held(
    app: Any, chosen: list[tuple[OutboxMessage, TokenBucket | None]], now: datetime
) -> tuple[dict[int, datetime], list[int]]:
    """The chosen messages handed to this loop whose lease covers one more send → its end;
    and those whose lease has run short of that (they waited behind a backlog), for the
    pass's claim to renew. The row must still name this worker: a lease that expired may
    have been taken over since."""
    current = state(app)
    held, renew = {}, []
    for row, _ in chosen:
        if row.id not in current.handed or row.claimed_by != current.worker:
            continue
        if row.claimed_until is not None and _lease_left(app, row, row.claimed_until) >= 0:
            held[row.id] = row.claimed_until
        else:
            renew.append(row.id)
    return held, renew


def _forget(app: Any, seen: list[int], now: datetime) -> None:
    """Drop the hand-offs this pass has seen (sent, renewed or given back: from now on
    claimed like any message) and those expired."""
    handed = state(app).handed
    for message_id in seen:
        handed.pop(message_id, None)
    for message_id in [i for i, until in list(handed.items()) if until <= now]:
        handed.pop(message_id, None)


def _send_claimed(
    app: Any,
    chosen: list[tuple[OutboxMessage, TokenBucket | None]],
    leases: dict[int, datetime],
    stats: DeliveryStats,
    blocked: set[tuple[str, str]],
    marks: _Marks,
) -> None:
    """Send the leased messages (id → lease end) in order; ``marks`` collects those whose
    outcome is stored (sent, retry or failed: their lease released with it)."""
    for row, bucket in chosen:
        queue = (row.channel, row.person or "")
        if row.id in leases and _lease_left(app, row, leases[row.id]) < 0:
            if bucket is not None:  # not enough lease left for one more send: next pass
                bucket.refund()
            blocked.add(queue)  # a later message of the queue may hold a longer lease
            continue
        if row.id not in leases or queue in blocked:
            # Someone else holds it, or an earlier message of its queue failed: the queue
            # waits, in order.
            if bucket is not None:
                bucket.refund()
            blocked.add(queue)
            continue
        outcome = _send(app, row, bucket, marks)
        marks.done.add(row.id)
        if outcome != "sent":
            blocked.add(queue)
        setattr(stats, outcome, getattr(stats, outcome) + 1)


def _choose(
    app: Any, now: datetime, stats: DeliveryStats, blocked: set[tuple[str, str]]
) -> list[tuple[OutboxMessage, TokenBucket | None]]:
    """The pending messages this pass may send, in order, each with its channel's token
    taken: not held back by a retry earlier in its queue, quiet hours or a rate limit."""
    limited: set[str] = set()
    chosen = []
    for row in _pending(app):
        queue = (row.channel, row.person or "")
        if queue in blocked or row.channel in limited:
            continue
        if row.next_attempt_at > now:
            if row.attempts:
                blocked.add(queue)  # a retry holds back its queue, keeping the order
            # else: deferred for quiet hours; a later urgent (level 1) page must not wait
            continue
        limit = bucket(app, row.channel, now)
        if limit is not None and not limit.take(now):
            limited.add(row.channel)  # queued, not dropped: next pass, once a token is back
            stats.rate_limited += 1
            continue
        chosen.append((row, limit))
    return chosen


# Most passes find nothing (the poll is the fallback for other processes' messages): one
# indexed probe, no ORM objects. An idle pass cost 2.2 ms of a worker thread, which shares
# the interpreter lock with the requests (one in 20 alerts at the bench's 50 ms poll).
_ANY_PENDING = select(OutboxMessage.id).where(OutboxMessage.status == "pending").limit(1)


def surely_idle(app: Any) -> bool:
    """No message is pending, as one read on the event loop tells (False: some are, or the
    store cannot be read there, or the read failed): the delivery loop then skips the pass
    and its worker thread."""
    try:
        with app.store.loop_read() as connection:
            return connection is not None and connection.execute(_ANY_PENDING).first() is None
    except Exception:  # the pass itself then runs, and reports what is wrong
        return False


def _pending(app: Any) -> list[OutboxMessage]:
    """A read, not a transaction: on SQLite it need not wait for the consumer holding the
    writer (a stale view costs nothing: the claim is what decides)."""
    cfg = app.settings.daemon
    with app.store.read() as session:
        rows = session.scalars(
            select(OutboxMessage)
            # Leased rows stay in the list: their failed claim blocks the rest of the queue,
            # which keeps each queue's messages in order.
            .where(OutboxMessage.status == "pending")
            .order_by(OutboxMessage.id)
            .limit(cfg.outbox_batch)
        ).all()
        session.expunge_all()  # kept as loaded: read() ends in a rollback, which expires
        return list(rows)


def lease_s(app: Any, channel_name: str) -> float:
    """A few times the channel's own timeout, never above ``daemon.claim_lease_s``."""
    channel = app.channels.get(channel_name)
    params = getattr(channel, "params", None)
    timeout = getattr(params, "timeout_s", None) or DEFAULT_TIMEOUT_S
    return min(app.settings.daemon.claim_lease_s, LEASE_TIMEOUTS * timeout + LEASE_SLACK_S)


def _claim(app: Any, message_id: int, now: datetime, channel: str = "") -> bool:
    """A lease, so a crashed worker's message is retried by the next one after it expires."""
    until = now + timedelta(seconds=lease_s(app, channel))
    return message_id in _lease(app, [message_id], now, until)


def _claim_all(
    app: Any, rows: list[OutboxMessage], now: datetime, renew: Sequence[int] = ()
) -> tuple[set[int], datetime]:
    """Lease every row that is still pending and unleased (or leased to this worker, for
    the ids in ``renew``), in one transaction: the ids leased and the lease's end. The lease
    covers sending them one after the other (the sum of their leases, at most PASS_LEASE_S;
    the pass stops when it runs short)."""
    if not rows:
        return set(), now
    total = min(PASS_LEASE_S, sum(lease_s(app, row.channel) for row in rows))
    until = now + timedelta(seconds=total)
    return _lease(app, [row.id for row in rows], now, until, renew), until


def _lease(
    app: Any, ids: list[int], now: datetime, until: datetime, renew: Sequence[int] = ()
) -> set[int]:
    """Lease those of ``ids`` still pending and unleased (or whose lease expired, or, for
    ``renew``, leased to this worker) until ``until``, in one UPDATE … RETURNING; the ids
    leased."""
    table = OutboxMessage.__table__
    worker = state(app).worker
    free = or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now)
    if renew:
        free = or_(free, and_(table.c.id.in_(renew), table.c.claimed_by == worker))
    with app.store.session() as session:
        leased = session.execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.status == "pending")
            .where(free)
            .values(claimed_until=until, claimed_by=worker)
            .returning(table.c.id)
        )
        return set(leased.scalars())


def _lease_left(app: Any, row: OutboxMessage, lease: datetime) -> float:
    """Seconds of ``lease`` (the pass's, or a handed row's own) left beyond one more send of
    ``row`` (its timeouts, not its slack: the pass's first message always fits, however long
    the claim took)."""
    needed = lease_s(app, row.channel) - LEASE_SLACK_S
    return (lease - app.clock.now()).total_seconds() - needed


def _release(app: Any, ids: list[int]) -> None:
    """Give back the leases of ``ids`` this worker still holds (a marked message holds
    none: marking released it)."""
    if not ids:
        return
    table = OutboxMessage.__table__
    with app.store.session() as session:  # ids: at most one pass (daemon.outbox_batch)
        session.execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.claimed_by == state(app).worker)
            .where(table.c.status == "pending")
            .values(claimed_until=None, claimed_by=None)
        )


def recover(app: Any) -> int:
    """Release the leases of dead workers on this host (a crash before marking); how many.

    Run at daemon start: the message is then retried at once instead of after its lease."""
    host = socket.gethostname()
    me = state(app).worker
    with app.store.session() as session:
        held = session.execute(
            select(OutboxMessage.id, OutboxMessage.claimed_by).where(
                OutboxMessage.status == "pending",
                OutboxMessage.claimed_by.is_not(None),
                OutboxMessage.claimed_by.like(f"{host}:%"),
            )
        ).all()
        stale = [i for i, owner in held if owner != me and not _alive(owner)]
        if stale:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(stale), OutboxMessage.status == "pending")
                .values(claimed_until=None, claimed_by=None)
            )
    if stale:
        log.warning("outbox: released %d lease(s) of a dead worker on %s", len(stale), host)
    return len(stale)


def _alive(owner: str) -> bool:
    _host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    try:
        return worker_id(int(pid)).endswith(f":{pid}:{started}")
    except (ValueError, psutil.Error):
        return False


def _message(row: OutboxMessage) -> Message:
    recipient = Recipient(**row.recipient) if row.recipient else None
    return Message(row.dedup_key, row.subject, row.text, row.data, recipient=recipient)


def send_now(app: Any, channel_name: str, message: Message) -> None:
    """One synchronous attempt outside the queue (``notify test``); ChannelError on failure."""
    channel = app.channels.get(channel_name)
    if channel is None:
        raise ChannelError(f"channel '{channel_name}' is not configured", permanent=True)
    channel.send(message)


def _send(app: Any, row: OutboxMessage, bucket: TokenBucket | None, marks: _Marks) -> str:
    try:
        send_now(app, row.channel, _message(row))
    except ChannelError as exc:
        if exc.retry_after and bucket is not None:
            bucket.pause(app.clock.now() + timedelta(seconds=exc.retry_after))
        marks.flush()  # the delivery log keeps the order of the attempts
        return _failed(app, row, exc)
    marks.sent(row, app.clock.now())
    return "sent"


def _failed(app: Any, row: OutboxMessage, exc: ChannelError) -> str:
    now = app.clock.now()
    attempts = row.attempts + 1
    cfg = app.settings.daemon
    error = str(exc)
    if not exc.permanent and attempts < cfg.outbox_max_attempts:
        delay = exc.retry_after or backoff(attempts, cfg.backoff_base_s, cfg.backoff_max_s)
        log.warning("outbox %s via %s: %s (retry in %.0fs)", row.id, row.channel, error, delay)
        after = now + timedelta(seconds=delay)
        _mark(app, row, "retry", now, attempts=attempts, last_error=error, next_attempt_at=after)
        return "retried"
    if row.failover:
        return _fail_over(app, row, now, attempts, error)
    log.error("outbox %s via %s failed for good: %s", row.id, row.channel, error)
    _mark(app, row, "failed", now, status="failed", attempts=attempts, last_error=error)
    return "failed"


def _fail_over(app: Any, row: OutboxMessage, now: datetime, attempts: int, error: str) -> str:
    """Mark this channel failed and queue the same page on the person's next channel, in one
    transaction: a crash in between must not lose the page."""
    following, *rest = row.failover
    log.warning(
        "outbox %s via %s failed: %s; failing over to %s", row.id, row.channel, error, following
    )

    def queue_next(session: Session) -> None:
        enqueue(
            session,
            now=now,
            channel=following,
            dedup_key=f"{row.dedup_key}>{following}",
            subject=row.subject,
            text=row.text,
            data=row.data,
            incident_id=row.incident_id,
            person=row.person,
            recipient=row.recipient,
            failover=rest,
        )
        if row.incident_id is not None:
            session.add(
                IncidentEvent(
                    incident_id=row.incident_id,
                    at=now,
                    actor="outbox",
                    kind="notify.failover",
                    reason=f"{row.channel} → {following}: {error}",
                    data={
                        "from": row.channel,
                        "to": following,
                        "person": row.person,
                        "outbox_id": row.id,
                    },
                )
            )

    _mark(
        app,
        row,
        "failover",
        now,
        then=queue_next,
        status="failed",
        attempts=attempts,
        last_error=error,
    )
    return "failed_over"


def _mark(
    app: Any, row: OutboxMessage, outcome: str, now: datetime, then: Any = None, **values: Any
) -> None:
    """Update the row, release its lease and append to the delivery log, in one transaction
    (with ``then(session)`` for follow-up writes)."""
    with app.store.session() as session:
        _mark_in(session, row, outcome, now, then, **values)


def _mark_in(
    session: Session,
    row: OutboxMessage,
    outcome: str,
    now: datetime,
    then: Any = None,
    **values: Any,
) -> None:
    if then is not None:
        then(session)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id)
        .values(claimed_until=None, claimed_by=None, **values)
    )
    # Core, not an ORM object: no unit-of-work flush on the path every page takes.
    session.execute(
        insert(DeliveryAttempt.__table__).values(
            outbox_id=row.id,
            incident_id=row.incident_id,
            at=now,
            channel=row.channel,
            person=row.person,
            attempt=values.get("attempts", row.attempts + 1),
            status=outcome,
            error=values.get("last_error", ""),
        )
    )
    if outcome == "failed" and row.incident_id is not None:
        session.add(
            IncidentEvent(
                incident_id=row.incident_id,
                at=now,
                actor="outbox",
                kind="notify.failed",
                reason=values.get("last_error", ""),
                data={
                    "channel": row.channel,
                    "outbox_id": row.id,
                    **({"person": row.person} if row.person else {}),
                },
            )
        )


def log_of(session: Session, incident_id: int) -> list[DeliveryAttempt]:
    """The incident's delivery log, oldest first."""
    return list(
        session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.incident_id == incident_id)
            .order_by(DeliveryAttempt.id)
        )
    )
