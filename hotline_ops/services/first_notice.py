"""An alert's first notice, sent by the request that received the alert (issue [3/7]).

Without it a new alert's "opened" notification waits for the journal consumer to open the
incident (milliseconds of Python in one store transaction, behind the alerts ahead of it)
and then for the outbox: 40-250 ms, where Alertmanager notifies from memory in 2-3 ms.

So, right after the alert is received, the request decides whether it opens a new incident,
with the rules the consumer applies (core.alerts) and one indexed read. If it surely
does, the incident's id is taken from a block reserved in advance (store.ids) and written
into the journal entry with the opening time (``AlertIn.notice``). Once the entry is
committed, the notice, rendered as the consumer would render it, is POSTed from the event
loop, on a kept-alive connection (probes.http_pool) when one is idle: then it is written
before the request is answered. What each channel took is recorded in the journal file
(table ``notices``). The consumer later opens the incident with that id and time and
stores the notice as sent. If the send failed or timed out, or the process died between the
channel's answer and that record, it stores it pending instead and the outbox sends it again
under the same Idempotency-Key, as after a crash between any send and its mark.

"Surely" means every condition below holds; otherwise the alert takes the ordinary path,
which stays correct in every case:
- a journal consumer runs in this process and has caught up with what was journaled before
  it started (``begin``); this process journals every entry (one ``serve`` per store);
- the alert fires; no grouping rule and no inhibit rule's target covers it (both depend on
  other alerts); no silence in force matches it;
- neither its fingerprint nor its incident's dedup key is firing, open, resolved within the
  reopen window, or waiting in the journal;
- each of its level's channels can send one on the event loop (webhook), has a token in its
  rate limit, and an id is in the reserved block; at most MAX_IN_FLIGHT sends at once, and
  fewer than MAX_WAITING alerts wait in the journal.

Order is kept per incident, as the outbox keeps it: a first notice is its incident's first
message, and the incident's later ones are queued only once the consumer stored it, after
the send ended. Other incidents' notices waiting in the outbox (a retry, a rate limit) do
not hold it back, as Alertmanager's groups do not hold each other back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy import event as sqlalchemy_event

from hotline_ops.core import alerts as core
from hotline_ops.core.alerts import AlertIn, Notice
from hotline_ops.core.incidents import IncidentStatus
from hotline_ops.core.levels import Level
from hotline_ops.core.matchers import from_dict, matches_all
from hotline_ops.notify.base import Message
from hotline_ops.probes.http_pool import Pool
from hotline_ops.services import deadlines, incidents, messages, outbox, silences
from hotline_ops.store import ids
from hotline_ops.store.db import Overrun
from hotline_ops.store.models import Alert, Incident

log = logging.getLogger(__name__)

BLOCK = 32  # ids reserved per store transaction (a restart leaves the rest unused)
# The consumer refills below LOW, after a drain: it waits for the store's writer, which a
# drain holds for milliseconds, and the ids must not run out meanwhile (about 0.5 s at 50
# alerts/s). A request refills only below DRY (a burst outrunning the consumer): its refill
# runs on a worker thread while the request is still on its way to its notice, and the two
# share one interpreter lock (+2.4 ms on the 3 % of requests that started one).
LOW = 24
DRY = 8
MAX_IN_FLIGHT = 16
MAX_WAITING = 256  # journaled alerts not yet ingested, beyond which first notices stop
READ_BUDGET_S = 0.005  # the decision's reads, on the event loop
GRACE_S = 0.05  # how long the consumer's transaction waits for a send still under way
# The consumer steps aside while alerts are being received or first notices sent: it waits
# at its next statement, up to STEP_ASIDE_S each time and STEP_ASIDE_MAX_S per drain.
STEP_ASIDE_S = 0.02
STEP_ASIDE_MAX_S = 0.25
UNSET = ("acknowledged_at", "resolved_at", "plan_started_at", "mitigated_at", "closed_at")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class Flight(NamedTuple):
    """A first notice this process sent, until the consumer stores it."""

    outcome: concurrent.futures.Future  # channel -> when it took the notice (see _send)
    messages: list[dict[str, Any]]  # as rendered and sent: stored as they are, not re-rendered


@dataclass
class NoticeState:
    """Per App. The counters cover alerts journaled by this process and not yet ingested."""

    consumer: bool = False  # a journal consumer runs in this process
    ready: bool = False  # … and has ingested what was journaled before it started
    refilling: bool = False
    fingerprints: Counter = field(default_factory=Counter)
    waiting: int = 0  # their total, kept as it changes (summing per request cost ms)
    # Past MAX_WAITING (a burst) alerts are no longer counted one by one (that cost more
    # than the rest of a request) and first notices stop, until the consumer finds the
    # journal empty with no append under way since it looked (``mark``/``caught_up``).
    overflowed: bool = False
    # The counts change on the loop (plan) and on the consumer's thread (drained): a
    # Counter's += is a read and a write, which a thread switch in between would lose.
    counting: threading.Lock = field(default_factory=threading.Lock)
    appending: int = 0  # batches planned and not yet committed (or failed)
    epoch: int = 0  # batches planned since the start
    keys: Counter = field(default_factory=Counter)
    in_flight: dict[int, Flight] = field(default_factory=dict)  # by incident id
    counts: Counter = field(default_factory=Counter)  # sent, failed, superseded, skipped
    tasks: set = field(default_factory=set)  # sends under way (the loop keeps weak refs)
    urgent: int = 0  # requests being received and first notices being sent (on the loop)
    calm: threading.Event = field(default_factory=threading.Event)  # set: urgent == 0
    stepping: threading.local = field(default_factory=threading.local)
    reader: Any = None  # _SqliteReader, on a SQLite store
    pool: Pool | None = None  # kept-alive connections to the channels, on the serving loop
    proxied: bool | None = None  # a proxy set in the environment (None: not looked yet)
    # Outcomes read back from the journal file (a send recorded before a crash), by id.
    known: dict[int, dict[str, datetime | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.calm.set()


@dataclass(frozen=True)
class Send:
    """One first notice to make once the journal entry is committed."""

    incident_id: int
    messages: list[dict[str, Any]]  # outbox fields (messages.for_event)


def state(app: Any) -> NoticeState:
    current = app.__dict__.get("_first_notice_state")
    if current is None:
        current = app.__dict__["_first_notice_state"] = NoticeState()
    return current


def enabled(app: Any) -> bool:
    return app.settings.daemon.first_notice and app.settings.daemon.alert_ingest == "journal"


def begin(app: Any) -> None:
    """The consumer has caught up: first notices may go out. Ids are reserved when the
    first alert comes (a store that never receives one keeps its ids dense)."""
    state(app).ready = True


def reserved(app: Any) -> deque[int]:
    return ids.reserve_of(app.store.engine)


def refill(app: Any) -> None:
    """Reserve a block of incident ids in a transaction of its own (a worker thread); the
    ids are usable once it commits."""
    current = state(app)
    try:
        with app.store.session() as session:
            ids.reserve(session, BLOCK)
    finally:
        current.refilling = False


# --------------------------------------------------------------------------- at ingest


def plan(
    app: Any, batch: list[AlertIn], source: str, now: datetime
) -> tuple[list[AlertIn], list[Send]]:
    """The batch to journal (alerts that get a first notice carry it) and the sends to
    make once it is committed. Runs on the event loop; counts the batch as waiting."""
    current = state(app)
    if not (current.consumer and enabled(app)):
        return batch, []
    current.appending += 1  # until ``appended``
    current.epoch += 1
    fps = _Prints(batch)
    try:
        out, sends = _noticed(app, current, batch, fps, source, now)
    except Exception:  # an optimisation failing must not fail the request: ordinary path
        log.exception("first notice: deciding failed; the alerts take the ordinary path")
        out, sends = batch, []
    _count(app, out, +1, fps)
    _top_up(app, current, DRY)  # the consumer tops up below LOW after its drains
    return out, sends


class _Prints:
    """Each alert's fingerprint, computed once and only when asked for: it is pure-Python
    FNV (it was computed thrice per alert), and a burst past MAX_WAITING needs none."""

    def __init__(self, batch: list[AlertIn]) -> None:
        self.batch = batch
        self.known: list[str | None] = [alert.fingerprint for alert in batch]

    def __getitem__(self, i: int) -> str:
        fp = self.known[i]
        if fp is None:
            fp = self.known[i] = core.fingerprint(self.batch[i].labels)
        return fp


def _noticed(
    app: Any, current: NoticeState, batch: list[AlertIn], fps: _Prints, source: str, now: datetime
) -> tuple[list[AlertIn], list[Send]]:
    chosen = _choose(app, current, batch, fps, now) if _open(app, current) else {}
    out, sends = [], []
    for i, alert in enumerate(batch):
        level = chosen.get(i)
        incident_id = _take(app) if level is not None else None
        if incident_id is not None:
            notice = Notice(incident_id, now)
            alert = alert.noticed(notice)
            texts = _render(app, alert, level, fps[i], source, notice)
            sends.append(Send(notice.incident_id, texts))
        out.append(alert)
    return out, sends


def appended(app: Any) -> None:
    """The planned batch is committed, or failed: not under way any more."""
    current = state(app)
    current.appending = max(0, current.appending - 1)


def _top_up(app: Any, current: NoticeState, low: int = LOW) -> None:
    """Reserve more ids when fewer than ``low`` are left, on a worker thread from the loop
    (every incident this process opens takes one, not only those with a first notice)."""
    if current.ready and not current.refilling and len(reserved(app)) < low:
        current.refilling = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not on the loop (the consumer's thread, a test): right here
            _refill_quietly(app)
            return
        loop.run_in_executor(None, _refill_quietly, app)


def _take(app: Any) -> int | None:
    try:
        return reserved(app).popleft()
    except IndexError:  # the consumer took the last one meanwhile
        return None


def _open(app: Any, current: NoticeState) -> bool:
    return (
        current.ready
        and not current.overflowed
        and len(current.tasks) < MAX_IN_FLIGHT
        and current.waiting < MAX_WAITING
        and bool(reserved(app))
    )


def unplan(app: Any, batch: list[AlertIn]) -> None:
    """The journal commit failed: the batch is not waiting (its ids are left unused)."""
    _count(app, batch, -1)


def _count(app: Any, batch: list[AlertIn], step: int, fps: _Prints | None = None) -> None:
    current = state(app)
    with current.counting:
        current.waiting = max(0, current.waiting + step * len(batch))
        if step > 0 and current.waiting > MAX_WAITING:
            current.overflowed = True
        if current.overflowed:
            return
    prints = _Prints(batch) if fps is None else fps
    items = []
    for i, alert in enumerate(batch):
        fp = prints[i]
        items += [(current.fingerprints, fp), (current.keys, _key(app, alert.labels, fp))]
    with current.counting:
        for counter, item in items:
            counter[item] += step
            if counter[item] <= 0:  # an entry journaled before this process started
                del counter[item]


def _key(app: Any, labels: dict[str, str], fp: str) -> str:
    group, _ = core.group_of(app.content.alerting, labels, fp)
    return core.dedup_key(group)


def _choose(
    app: Any, current: NoticeState, batch: list[AlertIn], fps: _Prints, now: datetime
) -> dict[int, Level]:
    """The alerts that surely open a new incident and can be noticed now: index -> level
    (classified once: the rules' matchers are run once per alert, not once per use)."""
    candidates: dict[int, tuple[str, str, Level]] = {}
    seen: set[str] = set()
    slots = MAX_IN_FLIGHT - len(current.tasks)  # a big batch: its first few only
    for i, alert in enumerate(batch):
        if len(candidates) >= slots:
            break
        fp = fps[i]
        key = core.dedup_key(fp)
        if fp in seen or not _alone(app, alert, now):
            continue
        level = app.levels.classify(alert.labels)
        if not _sendable(app, level):
            continue
        if fp in current.fingerprints or key in current.keys:
            continue
        seen.add(fp)
        candidates[i] = (fp, key, level)
    if not candidates:
        return {}
    try:
        taken = _taken(app, batch, candidates, now)
    except Overrun:
        current.counts["skipped"] += len(candidates)
        return {}
    chosen = {i: level for i, (_, _, level) in candidates.items() if i not in taken}
    return {i: level for i, level in chosen.items() if _tokens(app, level, now)}


def _alone(app: Any, alert: AlertIn, now: datetime) -> bool:
    """A firing alert whose incident depends on no other alert (grouping, inhibition)."""
    policy = app.content.alerting
    if core.is_resolved(alert, now):
        return False
    if any(rule.applies(alert.labels) for rule in policy.grouping):
        return False
    return not any(matches_all(rule.target, alert.labels) for rule in policy.inhibit_rules)


def _sendable(app: Any, level: Level) -> bool:
    names = level.channels
    if not names or _proxied(state(app)):
        return False  # httpx would go through the proxy; the pool cannot
    return all(hasattr(app.channels.get(name), "request_parts") for name in names)


def _proxied(current: NoticeState) -> bool:
    """A proxy is configured in the environment: read once per app, as the channels'
    httpx clients read it once (six lookups per alert were a tenth of its decision)."""
    if current.proxied is None:
        current.proxied = any(os.environ.get(var) for var in PROXY_VARS)
    return current.proxied


def _tokens(app: Any, level: Level, now: datetime) -> bool:
    """A token from each channel's rate limit (given back if one of them has none)."""
    taken = []
    for name in level.channels:
        bucket = outbox.bucket(app, name, now)
        if bucket is None:
            continue
        if not bucket.take(now):
            for other in taken:
                other.refund()
            return False
        taken.append(bucket)
    return True


# Built once: Core statements on the session's connection, compiled once (the ORM's
# per-query cost was most of a millisecond per alert on the event loop).
_FIRING = select(Alert.firing_key).where(Alert.firing_key.in_(bindparam("fps", expanding=True)))
_BUSY = select(Incident.dedup_key).where(
    Incident.dedup_key.in_(bindparam("keys", expanding=True)),
    or_(
        Incident.open_key.is_not(None),
        and_(
            Incident.status == IncidentStatus.RESOLVED,
            Incident.resolved_at >= bindparam("since"),
        ),
    ),
)


def _taken(
    app: Any, batch: list[AlertIn], candidates: dict[int, tuple[str, str, Level]], now: datetime
) -> set[int]:
    """Candidates the store rules out: firing already, their key open or resolved within
    the reopen window (the consumer would join or reopen), silenced."""
    fps = [fp for fp, _, _ in candidates.values()]
    keys = [key for _, key, _ in candidates.values()]
    since = now - timedelta(seconds=app.levels.reopen_window_s)
    reader = _sqlite_reader(app)
    if reader is not None:
        firing, busy, active = reader.read(fps, keys, since, now)
    else:
        firing, busy, active = _read(app, fps, keys, since, now)
    return {
        i
        for i, (fp, key, _) in candidates.items()
        if fp in firing or key in busy or core.silenced_by(active, batch[i].labels) is not None
    }


Read = tuple[set[str], set[str], list[tuple[int, tuple]]]  # firing, busy keys, silences


def _read(app: Any, fps: list[str], keys: list[str], since: datetime, now: datetime) -> Read:
    with app.store.read_within(READ_BUDGET_S) as session:
        connection = session.connection()
        firing = set(connection.execute(_FIRING, {"fps": fps}).scalars())
        busy = set(connection.execute(_BUSY, {"keys": keys, "since": since}).scalars())
        active = silences.active(session, now)  # as the consumer reads them
    return firing, busy, active


class _SqliteReader:
    """The same reads on a SQLite store through a connection of the decision's own: a
    SQLAlchemy session and its statements cost about half a millisecond per alert on the
    event loop, the bare driver a twentieth of that. WAL: it never waits for the writer.
    Times are compared as SQLAlchemy stores them (naive UTC text)."""

    # One statement for the three reads: each call into the driver gives up the
    # interpreter lock, which a drain on the consumer's thread then holds for a while.
    READ = (
        "SELECT 0, firing_key, NULL FROM alerts WHERE firing_key IN ({})"
        " UNION ALL SELECT 1, dedup_key, NULL FROM incidents WHERE dedup_key IN ({})"
        " AND (open_key IS NOT NULL OR (status = ? AND resolved_at >= ?))"
        " UNION ALL SELECT 2, id, matchers FROM silences"
        " WHERE expired_at IS NULL AND starts_at <= ? AND ends_at > ?"
    )

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(
            path, timeout=0, check_same_thread=False, isolation_level=None
        )
        self.connection.execute("PRAGMA query_only = ON")
        self.until = 0.0
        # Polled every 500 VM steps: past the budget, the statement is interrupted.
        self.connection.set_progress_handler(lambda: time.monotonic() > self.until, 500)

    def read(self, fps: list[str], keys: list[str], since: datetime, now: datetime) -> Read:
        self.until = time.monotonic() + READ_BUDGET_S
        at = _stored(now)
        args = [*fps, *keys, IncidentStatus.RESOLVED.value, _stored(since), at, at]
        try:
            rows = self.connection.execute(self.READ.format(_marks(fps), _marks(keys)), args)
            rows = rows.fetchall()
        except sqlite3.OperationalError as exc:  # interrupted (the budget), or locked
            raise Overrun(str(exc)) from None
        firing = {value for part, value, _ in rows if part == 0}
        busy = {value for part, value, _ in rows if part == 1}
        active = [
            (i, tuple(from_dict(m) for m in json.loads(text)))
            for part, i, text in rows
            if part == 2
        ]
        return firing, busy, active

    def close(self) -> None:
        self.connection.close()


def _marks(items: list[str]) -> str:
    return ",".join("?" * len(items))


def _stored(at: datetime) -> str:
    """A time as the store keeps it on SQLite (store.models.UTCDateTime: SQLAlchemy's
    ``YYYY-MM-DD HH:MM:SS.ffffff``); isoformat writes it in half strftime's time."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_reader(app: Any) -> _SqliteReader | None:
    """This app's reader (None: not a SQLite file store), opened on first use."""
    current = state(app)
    if current.reader is None:
        path = app.store.sqlite_file
        if path is None:
            return None
        current.reader = _SqliteReader(path)
        app.on_close(current.reader.close)
    return current.reader


def _render(
    app: Any, alert: AlertIn, chosen: Level, fp: str, source: str, notice: Notice
) -> list[dict[str, Any]]:
    """The "opened" notices of the incident the consumer will open (same fields, same id,
    same opening time, same deadlines), as outbox fields."""
    fields = {
        "title": core.title(alert.labels, alert.annotations, {}),
        "source": source,
        "labels": dict(alert.labels),
    }
    # Not an ORM object (building one cost a quarter of a millisecond on the loop): the
    # columns the texts read, those a new incident has not set being None.
    incident = SimpleNamespace(
        **dict.fromkeys(UNSET),
        **incidents.new_fields(
            core.dedup_key(fp), chosen, notice.opened_at, fields, notice.incident_id
        ),
    )
    planned = deadlines.planned(incident, chosen, app.levels.budget)
    return messages.for_event(app, incident, "opened", planned)


Record = Callable[[list[tuple[int, str, datetime]]], None]


def start(app: Any, sends: list[Send], record: Record | None = None) -> None:
    """Make the sends (the journal entry naming their ids is committed), on this loop;
    ``record`` keeps what the channels took (the journal file), for after a crash. On a
    kept connection a notice is written before this returns: before the alert's request
    is answered."""
    current = state(app)
    loop = asyncio.get_running_loop()
    pool = _pool(app, current, loop)
    for send in sends:
        _hold(current)  # until the send ends (_send)
        outcome: concurrent.futures.Future = concurrent.futures.Future()
        current.in_flight[send.incident_id] = Flight(outcome, send.messages)
        posts = [_begin(app, pool, fields) for fields in send.messages]
        task = loop.create_task(_send(app, send.incident_id, posts, outcome, record))
        current.tasks.add(task)
        task.add_done_callback(current.tasks.discard)


def _pool(app: Any, current: NoticeState, loop: asyncio.AbstractEventLoop) -> Pool:
    """This loop's connections (tests run requests on loops of their own)."""
    if current.pool is None or current.pool.loop is not loop:
        current.pool = Pool(loop)
        app.on_close(current.pool.close)
    return current.pool


Post = tuple[Any, Message, "asyncio.Future[tuple[int, bytes]]"]


def _begin(app: Any, pool: Pool, fields: dict[str, Any]) -> Post:
    """The channel, the message and its request, started."""
    channel = app.channels[fields["channel"]]
    message = Message(fields["dedup_key"], fields["subject"], fields["text"], fields["data"])
    try:
        url, headers, body = channel.request_parts(message)
        return channel, message, pool.request("POST", url, headers, body)
    except Exception as exc:  # e.g. an unusable URL: failed at once, the outbox retries it
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return channel, message, failed


def _refill_quietly(app: Any) -> None:
    try:
        refill(app)
    except Exception:
        log.warning("first notice: reserving incident ids failed", exc_info=True)


async def _send(
    app: Any,
    incident_id: int,
    posts: list[Post],
    outcome: concurrent.futures.Future,
    record: Record | None = None,
) -> None:
    """Wait for each channel's answer; the outcome maps channel -> when it was taken (None:
    not known to have been)."""
    current = state(app)
    taken: dict[str, datetime | None] = {}
    try:
        for channel, message, posted in posts:
            taken[channel.name] = await _answered(app, channel, message, posted)
    finally:  # cancelled at shutdown: what was not taken is sent by the outbox
        for _, _, posted in posts:
            posted.cancel()  # no-op once done; else its connection is closed
        _calm(current)
        _record(incident_id, taken, record)
        current.counts["sent"] += sum(1 for at in taken.values() if at is not None)
        current.counts["failed"] += sum(1 for at in taken.values() if at is None)
        outcome.set_result(taken)


def _record(incident_id: int, taken: dict[str, datetime | None], record: Record | None) -> None:
    rows = [(incident_id, channel, at) for channel, at in taken.items() if at is not None]
    if not rows or record is None:
        return
    try:
        record(rows)
    except Exception:  # a crash before the consumer then sends it again: logged, not lost
        log.warning("first notice: recording incident %d's notice failed", incident_id,
                    exc_info=True)  # fmt: skip


def not_sent_here(app: Any, incident_ids: list[int]) -> list[int]:
    """Those of ``incident_ids`` whose first notice this process did not send: only their
    outcomes need reading back from the journal file (``settle`` has the others)."""
    flying = state(app).in_flight
    return [i for i in incident_ids if i not in flying]


def remember(app: Any, outcomes: dict[int, dict[str, datetime]]) -> None:
    """Outcomes recorded in the journal file (before a crash), for ``settle``."""
    state(app).known.update(outcomes)


async def _answered(
    app: Any, channel: Any, message: Message, posted: asyncio.Future
) -> datetime | None:
    """When the channel took the message; None if it did not (answer, error, timeout)."""
    try:
        async with asyncio.timeout(channel.params.timeout_s):
            status, _ = await posted
    except Exception as exc:  # the outbox sends it again: a failure here loses nothing
        why = channel.mask(str(exc) or type(exc).__name__)
        log.info("first notice %s on %s failed (%s); the outbox retries it",
                 message.dedup_key, channel.name, why)  # fmt: skip
        return None
    if not 200 <= status < 300:
        log.info("first notice %s on %s answered %d; the outbox retries it",
                 message.dedup_key, channel.name, status)  # fmt: skip
        return None
    return app.clock.now()


# ------------------------------------------------------------------ the consumer steps aside
#
# Both run in one interpreter: while the consumer's thread opens incidents (10-15 ms of
# Python per alert), every time the event loop gives up the interpreter lock (a socket, a
# SQLite call) the consumer takes it for up to sys.getswitchinterval() (5 ms), so an alert's
# path from request to notice, which gives it up a dozen times, took 5-20 ms. So while an
# alert is being received or its notice sent, the consumer waits at its next statement
# (bounded: it is never held back for long).


@contextmanager
def urgent(app: Any) -> Iterator[None]:
    """On the loop: alerts are being received until this exits. Only while first notices
    can go out: in a burst (overflowed) the consumer must not be slowed, or the outbox's
    marks, which wait for the store's writer it holds, pile up (a SIGKILL re-sends them)."""
    current = state(app)
    if not (current.consumer and _open(app, current)):
        yield
        return
    _hold(current)
    try:
        yield
    finally:
        _calm(current)


def _hold(current: NoticeState) -> None:
    current.urgent += 1
    current.calm.clear()


def _calm(current: NoticeState) -> None:
    current.urgent = max(0, current.urgent - 1)
    if not current.urgent:
        current.calm.set()


def install(app: Any) -> None:
    """Let a drain of this process's consumer step aside before each statement."""
    sqlalchemy_event.listen(
        app.store.engine, "before_cursor_execute", lambda *_args: step_aside(app)
    )


@contextmanager
def stepping_aside(app: Any) -> Iterator[None]:
    """In the consumer's thread, around a drain: its statements wait while it is urgent."""
    local = state(app).stepping
    local.budget = STEP_ASIDE_MAX_S
    try:
        yield
    finally:
        local.budget = 0.0


def step_aside(app: Any) -> None:
    """Called before each statement of the store: wait, in a drain, while it is urgent."""
    current = state(app)
    budget = getattr(current.stepping, "budget", 0.0)
    if budget <= 0 or current.calm.is_set():
        return
    started = time.monotonic()
    current.calm.wait(min(STEP_ASIDE_S, budget))
    current.stepping.budget = budget - (time.monotonic() - started)


# --------------------------------------------------------------------------- at the consumer


def wait_all(app: Any) -> None:
    """Before a drain (no store lock held): let the sends under way finish, so their
    notices are stored as sent rather than sent again."""
    pending = [flight.outcome for flight in state(app).in_flight.values()]
    if pending:
        concurrent.futures.wait(pending, timeout=_longest_timeout(app))


def _longest_timeout(app: Any) -> float:
    timeouts = [getattr(c.params, "timeout_s", 5.0) for c in app.channels.values()]
    return max(timeouts, default=5.0) + 1.0


def settle(
    app: Any, incident_id: int
) -> tuple[dict[str, datetime | None], list[dict[str, Any]] | None]:
    """Channel -> when it took the first notice of ``incident_id`` ({}: unknown, e.g. sent
    by a process that died since), which the consumer stores as sent; and the notices as
    this process rendered and sent them (None: not sent from here), which it stores rather
    than rendering the same texts again."""
    current = state(app)
    flight = current.in_flight.pop(incident_id, None)
    if flight is None:
        return current.known.pop(incident_id, {}), None
    try:
        return flight.outcome.result(timeout=GRACE_S), flight.messages
    except concurrent.futures.TimeoutError:
        return {}, flight.messages


def superseded(app: Any, notice: Notice, incident_id: int | None) -> None:
    """The consumer did not open the incident a first notice named (the store changed in
    between: another process opened it, a silence came first)."""
    state(app).counts["superseded"] += 1
    log.warning(
        "first notice named incident %d, but the alert %s; its notice stands as sent",
        notice.incident_id,
        f"joined incident {incident_id}" if incident_id else "opened none",
    )


def mark(app: Any) -> tuple[int, int]:
    """Before the consumer reads the journal: (batches planned, batches under way)."""
    current = state(app)
    return current.epoch, current.appending


def caught_up(app: Any, marked: tuple[int, int]) -> None:
    """The consumer found the journal empty: if no batch was under way when it looked and
    none was planned since, nothing waits, so the counts start afresh (a burst's overflow
    ends here; so does any drift, e.g. entries journaled before this process started)."""
    current = state(app)
    epoch, appending = marked
    with current.counting:
        if appending or current.epoch != epoch:
            return
        current.fingerprints.clear()
        current.keys.clear()
        current.waiting = 0
        current.overflowed = False


def drained(app: Any, batch: list[AlertIn]) -> None:
    """The consumer committed ``batch``: it no longer waits. A first notice it did not
    settle named an incident that was not opened."""
    _count(app, batch, -1)
    current = state(app)
    for alert in batch:
        if alert.notice is None:
            continue
        flying = current.in_flight.pop(alert.notice.incident_id, None)
        if (flying or current.known.pop(alert.notice.incident_id, None)) is not None:
            superseded(app, alert.notice, None)
    # The incidents just opened took reserved ids too: top up here (on the consumer's
    # thread, no loop: at once), so the next alert finds ids waiting.
    _top_up(app, current)
