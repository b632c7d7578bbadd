"""Alert ingest: Alertmanager's webhook and the v2 alerts API become incidents.

One request is one transaction: every alert row, the incidents they open or resolve, their
timeline events and notifications commit together or not at all. Per alert:

- fingerprint: the one Alertmanager sends, else Prometheus' label fingerprint (the same
  value Alertmanager would compute, see core.alerts.fingerprint);
- a firing alert already stored as firing is a re-send: it refreshes ``updated_at`` and
  ``ends_at`` (``alerts.firing_key`` is unique while firing, so it can never duplicate);
- a resolved alert (status resolved, or endsAt in the past) resolves its row; when the
  source's ``auto_resolve`` is on, the incident resolves once ALL its alerts are resolved;
- a firing alert that a silence matches, or that an inhibit rule mutes, is stored with
  ``suppressed_by`` and opens no incident; otherwise it joins its group's incident
  (dedup key ``alert:<group key>``, opened or reopened through services.incidents).

``expire_stale`` (called by the timer loop) resolves alerts whose ``ends_at`` passed without
a re-send and lets alerts whose silence or inhibiting alert has ended open their incident.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_ops.core import alerts as core
from hotline_ops.core.alerts import FIRING, RESOLVED, AlertIn, Firing
from hotline_ops.core.matchers import Matcher, matches_all
from hotline_ops.errors import BadRequest
from hotline_ops.services import first_notice, incidents, silences
from hotline_ops.store.models import Alert, Incident

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    received: int = 0
    new: int = 0  # alerts that started firing
    updated: int = 0  # re-sent firing alerts
    resolved: int = 0  # alerts this request resolved
    suppressed: int = 0  # firing alerts silenced or inhibited
    incidents: list[int] = field(default_factory=list)  # incidents the alerts joined
    opened: list[int] = field(default_factory=list)  # of those, newly created
    incidents_resolved: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pass:
    """What one transaction's steps share: the clock reading and cached lookups."""

    session: Session
    app: Any
    now: datetime
    result: IngestResult
    _silences: list | None = None
    _firing: list[Firing] | None = None
    # fingerprint -> the incident its first notice named (services.first_notice)
    notices: dict[str, core.Notice] = field(default_factory=dict)

    @property
    def policy(self) -> core.AlertPolicy:
        return self.app.content.alerting

    def silences(self) -> list:
        if self._silences is None:
            self._silences = silences.active(self.session, self.now)
        return self._silences

    def firing(self) -> list[Firing]:
        if self._firing is None:
            rows = self.session.execute(
                select(Alert.fingerprint, Alert.labels).where(Alert.status == FIRING)
            )
            self._firing = [Firing(fp, labels) for fp, labels in rows]
        return self._firing

    def forget_firing(self) -> None:
        self._firing = None


def ingest(app: Any, alerts: list[AlertIn], *, source: str) -> IngestResult:
    """Store a batch of alerts from ``source`` (alertmanager | api) and act on them."""
    if source not in core.SOURCES:
        raise BadRequest(f"source: '{source}' is not one of {', '.join(core.SOURCES)}")
    _check(alerts)  # the whole request is valid before anything is written
    for attempt in range(1, RETRIES + 1):
        try:
            return _ingest_once(app, alerts, source)
        except IntegrityError:
            # A concurrent request stored the same firing alert or opened the same incident
            # first (unique firing_key / open_key): nothing of ours was kept; again, it now
            # finds theirs. No savepoint per alert: one transaction, retried whole.
            if attempt == RETRIES:
                raise
            log.info("alert ingest collided with a concurrent request; retrying")
    raise AssertionError("unreachable")


RETRIES = 3


def _ingest_once(app: Any, alerts: list[AlertIn], source: str) -> IngestResult:
    result = IngestResult()
    with app.store.session() as session:
        ingest_in(session, app, alerts, source=source, now=app.clock.now(), result=result)
    return result


def ingest_in(
    session: Session,
    app: Any,
    alerts: list[AlertIn],
    *,
    source: str,
    now: datetime,
    result: IngestResult,
) -> None:
    """Act on a checked batch inside the caller's transaction (the journal consumer runs
    several in one, with the journal rows it deletes); counts add up in ``result``."""
    policy = app.content.alerting.source(source)
    result.received += len(alerts)
    run = _Pass(session, app, now, result)
    run.notices = {
        a.fingerprint or core.fingerprint(a.labels): a.notice for a in alerts if a.notice
    }
    firing, ended = _receive_all(run, alerts, source, policy)
    settled = [row for row in firing if row.status == FIRING]
    result.suppressed += sum(_suppress(run, row) for row in settled)
    _link_all(run, [row for row in settled if row.suppressed_by is None])
    _finish(run, ended)  # suppressed rows are few and indexed: cheap when there are none


def _finish(run: _Pass, ended: list[Alert]) -> None:
    # Lift suppressions first: a NumberDown freed by its TrunkDown resolving joins the trunk's
    # incident while it is still open, instead of the incident resolving and reopening.
    _resume(run)
    for row in ended:
        _auto_resolve(run, row)


def check(alerts: list[AlertIn]) -> None:
    """Refuse a batch that ingest would refuse (BadRequest naming the field)."""
    _check(alerts)


def _check(alerts: list[AlertIn]) -> None:
    for i, alert in enumerate(alerts):
        if not alert.labels:
            raise BadRequest(f"alerts.{i}.labels: an alert needs at least one label")
        if alert.starts_at and alert.ends_at and alert.ends_at < alert.starts_at:
            raise BadRequest(f"alerts.{i}.endsAt: before startsAt")


def _receive_all(
    run: _Pass, alerts: list[AlertIn], source: str, policy: core.SourcePolicy
) -> tuple[list[Alert], list[Alert]]:
    """Store every alert (their firing rows fetched in one query, the new rows inserted in
    one flush); return (rows that fire, rows this request resolved), each once, in order."""
    session, now, result = run.session, run.now, run.result
    fps = [alert.fingerprint or core.fingerprint(alert.labels) for alert in alerts]
    rows = _firing_rows(session, set(fps))
    firing: dict[int, Alert] = {}  # by id(row): new rows have no id before the flush
    ended: dict[int, Alert] = {}
    for alert, fp in zip(alerts, fps, strict=True):
        row = rows.get(fp)
        if core.is_resolved(alert, now):
            if row is not None and row.id is None:
                session.flush()  # fired and resolved in the same request
            if _receive_resolved(session, alert, fp, source, row, now):
                result.resolved += 1
                ended[id(row)] = rows.pop(fp)
                firing.pop(id(row), None)
            continue
        until = core.firing_until(alert, now, policy)
        if row is None:
            rows[fp] = row = _new_firing(alert, fp, source, until, now)
            session.add(row)
            result.new += 1
        else:
            _refresh(row, alert, until, now)
            result.updated += 1
        firing[id(row)] = row
    session.flush()
    return list(firing.values()), list(ended.values())


# The statements every ingest pass runs, built once (see silences.active).
_FIRING = select(Alert).where(Alert.firing_key.in_(bindparam("keys", expanding=True)))
_SUPPRESSED = (
    select(Alert).where(Alert.status == FIRING, Alert.suppressed_by.is_not(None)).order_by(Alert.id)
)


def _firing_rows(session: Session, fps: set[str]) -> dict[str, Alert]:
    """The firing row of each fingerprint that has one, in one query per 500."""
    keys = sorted(fps)
    found: dict[str, Alert] = {}
    for i in range(0, len(keys), 500):
        for row in session.scalars(_FIRING, {"keys": keys[i : i + 500]}):
            found[row.firing_key] = row
    return found


def _receive_resolved(
    session: Session,
    alert: AlertIn,
    fp: str,
    source: str,
    row: Alert | None,
    now: datetime,
) -> bool:
    """A resolved alert (status resolved, or endsAt past): True when it resolved ``row``."""
    ends = min(alert.ends_at or now, now)
    if row is None:
        _record_resolved(session, alert, fp, source, ends, now)
        return False
    return _claim_resolved(session, row, ends, now)  # False: a concurrent request did


def _new_firing(
    alert: AlertIn, fp: str, source: str, until: datetime | None, now: datetime
) -> Alert:
    """The new firing row (``firing_key`` is unique: a concurrent insert of the same alert
    fails this transaction, which ``ingest`` retries)."""
    return Alert(
        fingerprint=fp,
        firing_key=fp,
        source=source,
        status=FIRING,
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=alert.starts_at or now,
        ends_at=until,
        generator_url=alert.generator_url,
        received_at=now,
        updated_at=now,
    )


def _refresh(row: Alert, alert: AlertIn, until: datetime | None, now: datetime) -> None:
    """A re-send: same alert, newer annotations and end; the start stays the first one."""
    row.annotations = dict(alert.annotations)
    row.generator_url = alert.generator_url or row.generator_url
    row.ends_at = until
    row.updated_at = now


def _claim_resolved(session: Session, row: Alert, ends: datetime | None, now: datetime) -> bool:
    """Resolve the firing row; False when a concurrent request or pass already did."""
    changed = session.execute(
        update(Alert)
        .where(Alert.id == row.id, Alert.status == FIRING)
        .values(status=RESOLVED, firing_key=None, ends_at=ends, updated_at=now)
    ).rowcount
    return changed == 1


def _record_resolved(
    session: Session, alert: AlertIn, fp: str, source: str, ends: datetime, now: datetime
) -> None:
    """A resolved alert with no firing row: Alertmanager re-sending a resolution it already
    delivered (after a restart) is recognised by its start; anything else is kept on record."""
    starts = alert.starts_at or ends
    known = session.scalar(
        select(Alert)
        .where(Alert.fingerprint == fp, Alert.status == RESOLVED, Alert.starts_at == starts)
        .limit(1)
    )
    if known is not None:
        known.updated_at = now
        return
    session.add(
        Alert(
            fingerprint=fp,
            source=source,
            status=RESOLVED,
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=starts,
            ends_at=ends,
            generator_url=alert.generator_url,
            received_at=now,
            updated_at=now,
        )
    )


def _settle(run: _Pass, row: Alert) -> bool:
    """Suppress the firing alert or let it join its incident; True when suppressed."""
    if _suppress(run, row):
        return True
    if row.incident_id is None:
        _link_all(run, [row])
    return False


def _suppress(run: _Pass, row: Alert) -> bool:
    """Record whether a silence or an inhibiting alert mutes the row; True when muted."""
    by = _suppression(run, row)
    if row.suppressed_by != by:  # assigning the same value would still cost an UPDATE
        row.suppressed_by = by
    return by is not None


def _suppression(run: _Pass, row: Alert) -> str | None:
    silence_id = core.silenced_by(run.silences(), row.labels)
    if silence_id is not None:
        return f"silence:{silence_id}"
    if not run.policy.inhibit_rules:
        return None
    by = core.inhibited_by(run.policy, row.fingerprint, row.labels, run.firing())
    return f"inhibited:{by}" if by is not None else None


def _link_all(run: _Pass, rows: list[Alert]) -> None:
    """Join each unlinked firing row to its group's incident: the incidents are looked up,
    reopened or opened for all groups at once (services.incidents.open_or_reopen_many)."""
    rows = [row for row in rows if row.incident_id is None]
    if not rows:
        return
    specs: dict[str, dict[str, Any]] = {}
    keys = []
    for row in rows:
        group, keyed = core.group_of(run.policy, row.labels, row.fingerprint)
        key = core.dedup_key(group)
        keys.append(key)
        if key in specs:  # the group's first alert gave its fields (and settled its notice)
            continue
        specs[key] = {
            "source": row.source,
            "actor": row.source,
            "title": core.title(row.labels, row.annotations, keyed),
            "labels": dict(row.labels),
            **_noticed(run, row.fingerprint),
        }
    joined = incidents.open_or_reopen_many(run.session, run.app, now=run.now, specs=specs)
    for key, spec in specs.items():
        if spec.get("notice") and joined[key][0].id != spec["notice"].incident_id:
            first_notice.superseded(run.app, spec["notice"], joined[key][0].id)
    announced: set[int] = set()
    events = []
    for row, key in zip(rows, keys, strict=True):
        incident, created = joined[key]
        row.incident_id = incident.id
        events.append(
            {
                "incident_id": incident.id,
                "at": run.now,
                "actor": row.source,
                "kind": "alert.firing",
                "reason": core.title(row.labels, row.annotations, {}),
                "data": {"fingerprint": row.fingerprint, "labels": dict(row.labels)},
            }
        )
        _note(run.result.incidents, incident.id)
        if created and incident.id not in announced:
            announced.add(incident.id)
            _note(run.result.opened, incident.id)
    # After what opening or reopening wrote (flushed first), so the timeline keeps its order.
    run.session.flush()
    incidents.add_events(run.session, events)


def _noticed(run: _Pass, fp: str) -> dict[str, Any]:
    """An alert whose first notice went out: the incident it named, and when each of its
    channels took the notice (None: not known to have; the outbox sends it)."""
    notice = run.notices.get(fp)
    if notice is None:
        return {}
    sent, messages = first_notice.settle(run.app, notice.incident_id)
    return {"notice": notice, "sent": sent, "messages": messages}


def _note(ids: list[int], incident_id: int) -> None:
    if incident_id not in ids:
        ids.append(incident_id)


def _auto_resolve(run: _Pass, row: Alert) -> None:
    """Record the resolution on the incident; resolve it when it was its last firing alert."""
    if row.incident_id is None:
        return
    incident = run.session.get(Incident, row.incident_id)
    incidents.add_event(
        run.session,
        incident,
        now=run.now,
        actor=row.source,
        kind="alert.resolved",
        reason=core.title(row.labels, row.annotations, {}),
        data={"fingerprint": row.fingerprint},
    )
    if incident.open_key is None or not run.policy.source(row.source).auto_resolve:
        return
    if _firing_count(run.session, incident.id):
        return
    incidents.resolve_by_key(
        run.session,
        run.app,
        now=run.now,
        dedup_key=incident.dedup_key,
        actor=row.source,
        reason="all its alerts are resolved",
    )
    _note(run.result.incidents_resolved, incident.id)


def _firing_count(session: Session, incident_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.incident_id == incident_id, Alert.status == FIRING)
    )


def _resume(run: _Pass) -> None:
    """Re-check suppressed firing alerts: an inhibiting alert resolved or a silence ended
    means the fault is no longer covered, so it opens (or joins) its incident now."""
    run.forget_firing()
    rows = run.session.scalars(_SUPPRESSED)
    for row in list(rows):
        _settle(run, row)


def expire_stale(app: Any) -> int:
    """Resolve firing alerts whose ``ends_at`` passed without a re-send (v2 API semantics:
    firing until resolve_timeout); then lift suppressions that ended. Returns how many
    alerts it resolved. Safe to run from several processes: each row is claimed once."""
    now = app.clock.now()
    with app.store.session() as session:
        run = _Pass(session, app, now, IngestResult())
        stale = session.scalars(
            select(Alert)
            .where(Alert.status == FIRING, Alert.ends_at.is_not(None), Alert.ends_at <= now)
            .order_by(Alert.id)
        )
        ended = [row for row in list(stale) if _claim_resolved(session, row, row.ends_at, now)]
        _finish(run, ended)
        return len(ended)


def get_all(
    app: Any,
    *,
    matchers: tuple[Matcher, ...] = (),
    active: bool = True,
    silenced: bool = True,
    inhibited: bool = True,
    limit: int = 10_000,
) -> list[Alert]:
    """Firing alerts, oldest first, filtered as Alertmanager's GET /api/v2/alerts does."""
    with app.store.session() as session:
        rows = session.scalars(
            select(Alert).where(Alert.status == FIRING).order_by(Alert.id).limit(limit)
        )
        shown = {"active": active, "silence": silenced, "inhibited": inhibited}
        return [r for r in rows if matches_all(matchers, r.labels) and shown[_kind(r)]]


def _kind(row: Alert) -> str:
    return (row.suppressed_by or "active").partition(":")[0]


def state(row: Alert) -> dict[str, Any]:
    """Alertmanager's alert status object."""
    kind, _, by = (row.suppressed_by or "").partition(":")
    return {
        "state": "suppressed" if row.suppressed_by else "active",
        "silencedBy": [by] if kind == "silence" else [],
        "inhibitedBy": [by] if kind == "inhibited" else [],
    }
