"""The alert ingest journal: a POST of alerts is answered once its alerts are durably stored,
and the incidents they open are opened a few milliseconds later by a consumer.

- ``GroupCommit.append`` (the API, on the event loop) queues a validated batch; one writer
  per event loop commits every batch waiting to the journal file (services.spool) in ONE
  transaction and resolves each request's future after the commit, so a 2xx always means
  "committed" and concurrent requests share one commit. The commit runs on the loop itself:
  it is a fraction of a millisecond and never waits for the store, whose lock the consumer
  holds while it opens incidents.
- ``drain`` (the daemon's consumer, woken by that commit through ``on_append``) takes the
  entries after the store's position for this file, in order, runs them through the
  set-wise ingest (services.alerts) and advances the position in the SAME store
  transaction: across a SIGKILL an entry is acted on exactly once (either its incidents and
  the new position committed, or neither did). Ingested entries are trimmed afterwards.
- No consumer running (the API used in-process, without ``serve``): the request drains the
  journal itself before answering, so callers still see the incident when it returns.

``daemon.alert_ingest: direct`` skips the journal: the request opens the incidents itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hotline_ops.core.alerts import AlertIn, Notice
from hotline_ops.services import alerts as ingest
from hotline_ops.services import first_notice
from hotline_ops.services.spool import FILE_NAME, Entry, Spool
from hotline_ops.store.models import AlertJournalEntry, AlertJournalPosition

log = logging.getLogger(__name__)
LEGACY = AlertJournalEntry.__table__  # the journal's table in the store, before 0016
POSITION = AlertJournalPosition.__table__
# Consecutive entries of one source received within this span are ingested as one pass
# (one set of lookups) whose clock reading is the latest of their received_at.
PASS_SPAN = timedelta(seconds=1)
RETRIES = 3
# An entry whose ingest failed this many times on its own is moved to the journal file's
# ``dead`` table and the consumer goes on: one bad entry must not stop every alert after it.
QUARANTINE_AFTER = 3
# A first notice's record (spool table ``notices``) left by a crash goes at a trim this long
# after it was sent: by far after the consumer stored it, or sent it again.
NOTICES_KEPT = timedelta(days=1)
BURST_S = 0.01  # journal commits closer than this: a burst, the consumer waits for a gap
_wakers: list[Callable[[], None]] = []


class Raced(Exception):
    """Another drain took some of the entries first (another process): start again."""


@dataclass
class JournalState:
    """Per App: how many consumers run here, and the lags they measured (received_at →
    the commit that opened the incidents), for /metrics and the benchmark."""

    consumers: int = 0
    in_flight: int = 0  # alert requests this process is answering (the API counts them)
    appended: float = float("-inf")  # clock.monotonic() of the last journal commit here
    interval: float = float("inf")  # seconds between the last two journal commits

    def committed(self, at: float) -> None:
        self.interval, self.appended = at - self.appended, at

    def busy(self, now: float) -> bool:
        """Requests wait for the journal, or commits come faster than BURST_S apart and the
        next one is due (the drain would hold up the answers)."""
        if self.in_flight:
            return True
        return self.interval < BURST_S and now - self.appended < 2 * self.interval

    lags: deque = field(default_factory=lambda: deque(maxlen=100_000))
    drained: int = 0  # alerts the consumers ingested since the start
    failures: dict[int, int] = field(default_factory=dict)  # entry id -> failed drains it led
    committers: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)
    # The position this process's last drain committed, by journal file id: the next drain
    # moves it on without reading it first (a statement per drain); another process having
    # moved it makes the move fail (Raced) and the retry read it.
    positions: dict[str, int] = field(default_factory=dict)


def state(app: Any) -> JournalState:
    current = app.__dict__.get("_journal_state")
    if current is None:
        current = app.__dict__["_journal_state"] = JournalState()
    return current


def on_append(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (from the committing thread) after every journal commit; returns
    the function that unsubscribes it."""
    _wakers.append(callback)
    return lambda: _wakers.remove(callback) if callback in _wakers else None


def encode(alert: AlertIn) -> dict[str, Any]:
    """The normalised JSON of a validated alert (times as UTC ISO 8601, None when absent)."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "status": alert.status,
        "startsAt": alert.starts_at.isoformat() if alert.starts_at else None,
        "endsAt": alert.ends_at.isoformat() if alert.ends_at else None,
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
        **(_notice(alert.notice) if alert.notice else {}),
    }


def _notice(notice: Notice) -> dict[str, Any]:
    return {"notice": {"id": notice.incident_id, "at": notice.opened_at.isoformat()}}


def decode(raw: dict[str, Any]) -> AlertIn:
    starts, ends = raw["startsAt"], raw["endsAt"]
    return AlertIn(
        raw["labels"],
        raw["annotations"],
        raw["status"],
        datetime.fromisoformat(starts) if starts else None,
        datetime.fromisoformat(ends) if ends else None,
        raw["generatorURL"],
        raw["fingerprint"],
        _noticed(raw.get("notice")),
    )


def _noticed(raw: dict[str, Any] | None) -> Notice | None:
    return Notice(raw["id"], datetime.fromisoformat(raw["at"])) if raw else None


def spool(app: Any) -> Spool:
    """This app's journal file (``<data_dir>/alert-journal.db``), opened on first use; what
    a version before the file left in the store's table is moved into it then."""
    current = app.__dict__.get("_journal_spool")
    if current is None:
        current = Spool(app.settings.path(app.settings.data_dir) / FILE_NAME)
        app.__dict__["_journal_spool"] = current
        app.on_close(current.close)
        _adopt_legacy(app, current)
    return current


def append_many(app: Any, entries: list[tuple[str, list[AlertIn], datetime]]) -> None:
    """Journal batches of (source, alerts, received_at) in one transaction, in order."""
    rows = [
        (source, json.dumps([encode(a) for a in batch], separators=(",", ":")), len(batch), at)
        for source, batch, at in entries
    ]
    spool(app).append(rows)
    for callback in list(_wakers):
        callback()


class GroupCommit:
    """One journal writer for one event loop: requests that arrive while a commit is under
    way are written together by the next one (group commit)."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app, self.loop = app, loop
        self.waiting: list[tuple[tuple[str, list[AlertIn], datetime], asyncio.Future]] = []
        self.writer: asyncio.Task | None = None

    async def append(self, source: str, batch: list[AlertIn], received_at: datetime) -> None:
        """Return once ``batch`` is committed to the journal (raise if the commit failed)."""
        if self.writer is None and self._quiet():
            # A lone request on a quiet journal commits in its own step: no writer task,
            # no future, none of the two turns of the loop they cost (a tenth of an alert's
            # way to its first notice). Requests close behind it (a burst) group as before.
            append_many(self.app, [(source, batch, received_at)])
            state(self.app).committed(self.app.clock.monotonic())
            return
        done = self.loop.create_future()
        self.waiting.append(((source, batch, received_at), done))
        if self.writer is None:
            self.writer = self.loop.create_task(self._write())
        await done

    async def _write(self) -> None:
        try:
            while self.waiting:
                taken, self.waiting = self.waiting, []
                try:
                    # On the loop: the commit is shorter than a hop to a thread and back.
                    append_many(self.app, [e for e, _ in taken])
                except Exception as exc:  # every request of the group answers the error
                    for _, done in taken:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                state(self.app).committed(self.app.clock.monotonic())
                for _, done in taken:
                    if not done.done():  # a request whose client went away is cancelled
                        done.set_result(None)
        finally:
            self.writer = None

    def _quiet(self) -> bool:
        """No commit in the last BURST_S: whoever comes next is not part of a burst."""
        return self.app.clock.monotonic() - state(self.app).appended >= BURST_S


def committer(app: Any) -> GroupCommit:
    """The running loop's writer (tests run each request in a fresh loop)."""
    loop = asyncio.get_running_loop()
    writers = state(app).committers
    current = writers.get(loop)
    if current is None:
        current = writers[loop] = GroupCommit(app, loop)
    return current


@dataclass
class Drained:
    entries: int = 0
    result: ingest.IngestResult = field(default_factory=ingest.IngestResult)


def drain(app: Any, *, limit: int | None = None) -> Drained:
    """Ingest the oldest journal entries (about ``limit`` alerts, at least one entry) and
    advance the position past them, in one transaction; an empty Drained when the journal
    is empty. A failure rolls everything back and is raised; once the oldest entry has led
    QUARANTINE_AFTER failed drains it is tried alone, and quarantined if it fails again."""
    limit = limit or app.settings.daemon.journal_batch
    failures = state(app).failures
    suspect = min(failures, default=None)
    if suspect is None or failures[suspect] < QUARANTINE_AFTER:
        return _drain_retrying(app, limit)
    try:
        return _drain_retrying(app, 1)  # the oldest entry alone
    except Exception as exc:
        return _quarantine(app, suspect, exc)


def _drain_retrying(app: Any, limit: int) -> Drained:
    for attempt in range(1, RETRIES + 1):
        try:
            return _drain_once(app, limit)
        except (IntegrityError, Raced):
            # A request ingesting directly (another process in direct mode) stored the same
            # alert first, or another drain took these entries: nothing of ours was kept.
            if attempt == RETRIES:
                raise
            log.info("journal drain collided with another writer; retrying")
    raise AssertionError("unreachable")


def _quarantine(app: Any, entry_id: int, exc: Exception) -> Drained:
    """Move the oldest entry, ``entry_id``, to the dead table and advance past it (in that
    order: a crash in between leaves it in both, never in neither)."""
    journal, now = spool(app), app.clock.now()
    with app.store.session() as session:
        position = _position(session, journal.id)
        rows = journal.after(position or 0, 1)
        if not rows or rows[0].id != entry_id:  # another process moved on meanwhile
            state(app).failures.pop(entry_id, None)
            return Drained()
        error = f"{type(exc).__name__}: {exc}"[:2000]
        journal.quarantine(rows[0], now, error)
        _advance(session, journal.id, position, entry_id, now)
    state(app).failures.pop(entry_id, None)
    first_notice.drained(app, _readable(rows[0]))
    log.error(
        "alert journal: entry %d (%d alerts from %s, received %s) failed %d times and was "
        "quarantined in %s (table dead): %s",
        entry_id, rows[0].count, rows[0].source, rows[0].received_at.isoformat(),
        QUARANTINE_AFTER + 1, journal.path, error,
    )  # fmt: skip
    return Drained(entries=1)


def _alerts_of(entry: Entry) -> list[AlertIn]:
    return [decode(raw) for raw in json.loads(entry.alerts)]


def _readable(entry: Entry) -> list[AlertIn]:
    """The alerts of a quarantined entry, or none when they cannot be read (why it was)."""
    try:
        return _alerts_of(entry)
    except (ValueError, TypeError, KeyError):
        return []


def drain_all(app: Any) -> Drained:
    """Drain until the journal is empty; what all the passes did together."""
    total = Drained()
    while True:
        step = drain(app)
        if not step.entries:
            return total
        total.entries += step.entries
        _add(total.result, step.result)


def _add(into: ingest.IngestResult, step: ingest.IngestResult) -> None:
    for name in ("received", "new", "updated", "resolved", "suppressed"):
        setattr(into, name, getattr(into, name) + getattr(step, name))
    for name in ("incidents", "opened", "incidents_resolved"):
        getattr(into, name).extend(i for i in getattr(step, name) if i not in getattr(into, name))


def _drain_once(app: Any, limit: int) -> Drained:
    done = Drained()
    journal = spool(app)
    first_notice.wait_all(app)  # before the store's writer is taken
    marked = first_notice.mark(app)  # before the read: see first_notice.caught_up
    positions = state(app).positions
    known = positions.get(journal.id)
    if known is not None and not journal.after(known, 1):
        # Nothing new since this process's last drain: known without a store session (a
        # wake-up with nothing to do is as frequent as the alerts themselves).
        first_notice.caught_up(app, marked)
        return done
    with first_notice.stepping_aside(app), app.store.session() as session:
        position = positions.pop(journal.id, None)  # back once this drain commits
        if position is None:
            position = _position(session, journal.id)
        rows = _oldest(journal, 0 if position is None else position, limit)
        if not rows:
            first_notice.caught_up(app, marked)
            return done
        # Advanced first: on SQLite this takes the write lock before anything is read for
        # the ingest; a concurrent drain (another process) finds the position moved.
        _advance(session, journal.id, position, rows[-1].id, app.clock.now())
        try:
            passes = _passes(rows)  # an entry that cannot be read counts as failing
            noticed = [a.notice.incident_id for _, b, _ in passes for a in b if a.notice]
            unknown = first_notice.not_sent_here(app, noticed)
            if unknown:  # first notices sent before a crash are stored as sent
                first_notice.remember(app, journal.notices_for(unknown))
            for source, batch, now in passes:
                ingest.ingest_in(session, app, batch, source=source, now=now, result=done.result)
        except (IntegrityError, Raced):
            raise  # a race, not the entries' fault: retried
        except Exception:
            failures = state(app).failures
            failures[rows[0].id] = failures.get(rows[0].id, 0) + 1
            raise
        done.entries = len(rows)
    positions[journal.id] = rows[-1].id
    state(app).failures.clear()  # the oldest pending entry went through
    for _, batch, _ in passes:
        first_notice.drained(app, batch)
    if noticed:
        journal.forget_notices(noticed)
    _tidy(app, journal, rows[-1].id)
    _record_lags(app, rows, done.result.received)
    return done


def _position(session: Any, journal: str) -> int | None:
    """The last entry of ``journal`` the store has ingested (None: none yet)."""
    return session.scalar(select(POSITION.c.position).where(POSITION.c.journal == journal))


# Run by every drain that finds something: built once (see silences.active).
_MOVE = (
    update(POSITION)
    .where(POSITION.c.journal == bindparam("file"), POSITION.c.position == bindparam("old"))
    .values(position=bindparam("new"), updated_at=bindparam("at"))
)


def _advance(session: Any, journal: str, old: int | None, new: int, now: datetime) -> None:
    """Move the position from ``old`` to ``new``; Raced if another drain moved it first."""
    if old is None:
        values = {"journal": journal, "position": new, "updated_at": now}
        session.execute(insert(POSITION), values)  # a second first drain: IntegrityError
        return
    moved = session.execute(_MOVE, {"file": journal, "old": old, "new": new, "at": now}).rowcount
    if moved != 1:
        raise Raced()


def _tidy(app: Any, journal: Spool, position: int) -> None:
    """Trim what is ingested, now and then (Spool.tidy), and checkpoint the store at the
    same moment: the two files' writes to disk then meet the requests once, not twice. A
    failure here loses nothing (entries up to the position are never read again, the
    store's WAL is checkpointed later), so it is logged, not raised."""
    now = app.clock.monotonic()
    try:
        if journal.tidy(position, now, app.clock.now() - NOTICES_KEPT):
            app.store.checkpoint()
    except Exception:
        log.warning("alert journal: trimming up to %d failed", position, exc_info=True)


def _oldest(journal: Spool, position: int, limit: int) -> list[Entry]:
    """The oldest entries after ``position``, in order, up to ``limit`` alerts (at least
    one entry)."""
    taken, alerts = [], 0
    for row in journal.after(position, limit):
        if taken and alerts + row.count > limit:
            break
        taken.append(row)
        alerts += row.count
    return taken


def _adopt_legacy(app: Any, journal: Spool) -> None:
    """Move entries left in the store's own journal table (a version before 0016 stopped
    with some not yet ingested) into the file, in order. The store's rows are deleted in a
    transaction that commits after the file's: a crash in between journals them twice."""
    with app.store.session() as session:
        rows = session.execute(select(LEGACY).order_by(LEGACY.c.id)).all()
        if not rows:
            return
        journal.append([(r.source, r.alerts, r.count, r.received_at) for r in rows])
        session.execute(delete(LEGACY).where(LEGACY.c.id <= rows[-1].id))
    log.warning("alert journal: adopted %d entries from the store's journal table", len(rows))


def _passes(rows: list[Any]) -> list[tuple[str, list[AlertIn], datetime]]:
    """Consecutive entries of one source within PASS_SPAN, merged in order."""
    passes: list[tuple[str, list[AlertIn], datetime]] = []
    first: datetime | None = None
    for row in rows:
        batch = _alerts_of(row)
        if passes and passes[-1][0] == row.source and row.received_at - first <= PASS_SPAN:
            source, merged, _ = passes[-1]
            passes[-1] = (source, merged + batch, row.received_at)
            continue
        first = row.received_at
        passes.append((row.source, batch, row.received_at))
    return passes


def _record_lags(app: Any, rows: list[Any], alerts: int) -> None:
    current = state(app)
    now = app.clock.now()
    current.lags.extend((now - row.received_at).total_seconds() for row in rows)
    current.drained += alerts


def lag_quantiles(app: Any, *quantiles: float) -> list[float | None]:
    """Quantiles of the journal lag (seconds, per entry) measured since the start."""
    lags = sorted(state(app).lags)
    if not lags:
        return [None for _ in quantiles]
    return [lags[min(len(lags) - 1, int(q * len(lags)))] for q in quantiles]


def position(app: Any) -> int:
    """The last entry of this app's journal file the store has ingested (0: none)."""
    with app.store.read() as session:
        return _position(session, spool(app).id) or 0


def pending(app: Any) -> int:
    """Journal entries not yet ingested."""
    return spool(app).count_after(position(app))


def quarantined(app: Any) -> int:
    """Journal entries the consumer gave up on (in the journal file's ``dead`` table)."""
    return spool(app).dead()
