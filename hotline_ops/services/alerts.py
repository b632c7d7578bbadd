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

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline_ops.core import alerts as core
from hotline_ops.core.alerts import FIRING, RESOLVED, AlertIn, Firing
from hotline_ops.core.matchers import Matcher, matches_all
from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.services import incidents, silences
from hotline_ops.store.models import Alert, Incident


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
    now = app.clock.now()
    policy = app.content.alerting.source(source)
    result = IngestResult(received=len(alerts))
    with app.store.session() as session:
        run = _Pass(session, app, now, result)
        firing: dict[int, Alert] = {}
        ended: dict[int, Alert] = {}
        for alert in alerts:
            row, resolved = _receive(session, alert, source, policy, now, result)
            if row is not None:
                (ended if resolved else firing)[row.id] = row
        for row in firing.values():
            if row.status == FIRING and _settle(run, row):
                result.suppressed += 1
        _finish(run, list(ended.values()))
    return result


def _finish(run: _Pass, ended: list[Alert]) -> None:
    # Lift suppressions first: a NumberDown freed by its TrunkDown resolving joins the trunk's
    # incident while it is still open, instead of the incident resolving and reopening.
    _resume(run)
    for row in ended:
        _auto_resolve(run, row)


def _check(alerts: list[AlertIn]) -> None:
    for i, alert in enumerate(alerts):
        if not alert.labels:
            raise BadRequest(f"alerts.{i}.labels: an alert needs at least one label")
        if alert.starts_at and alert.ends_at and alert.ends_at < alert.starts_at:
            raise BadRequest(f"alerts.{i}.endsAt: before startsAt")


def _receive(
    session: Session,
    alert: AlertIn,
    source: str,
    policy: core.SourcePolicy,
    now: datetime,
    result: IngestResult,
) -> tuple[Alert | None, bool]:
    """Store one alert; return its row (None when nothing changed state) and whether it
    was resolved by this call."""
    fp = alert.fingerprint or core.fingerprint(alert.labels)
    row = session.scalar(select(Alert).where(Alert.firing_key == fp))
    if core.is_resolved(alert, now):
        ends = min(alert.ends_at or now, now)
        if row is None:
            _record_resolved(session, alert, fp, source, ends, now)
            return None, False
        if not _claim_resolved(session, row, ends, now):
            return None, False  # a concurrent request resolved it first
        result.resolved += 1
        return row, True
    until = core.firing_until(alert, now, policy)
    if row is None:
        row = _insert_firing(session, alert, fp, source, until, now)
        if row is not None:
            result.new += 1
            return row, False
        # Another request stored the same firing alert between our lookup and insert.
        row = session.scalar(select(Alert).where(Alert.firing_key == fp))
    _refresh(row, alert, until, now)
    result.updated += 1
    return row, False


def _insert_firing(
    session: Session, alert: AlertIn, fp: str, source: str, until: datetime | None, now: datetime
) -> Alert | None:
    """The new firing row, or None when the unique firing_key says it already exists."""
    row = Alert(
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
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


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
    reason = _suppression(run, row)
    row.suppressed_by = reason
    if reason is not None:
        return True
    if row.incident_id is None:
        _link(run, row)
    return False


def _suppression(run: _Pass, row: Alert) -> str | None:
    silence_id = core.silenced_by(run.silences(), row.labels)
    if silence_id is not None:
        return f"silence:{silence_id}"
    if not run.policy.inhibit_rules:
        return None
    by = core.inhibited_by(run.policy, row.fingerprint, row.labels, run.firing())
    return f"inhibited:{by}" if by is not None else None


def _link(run: _Pass, row: Alert) -> None:
    group, keyed = core.group_of(run.policy, row.labels, row.fingerprint)
    fields = {
        "dedup_key": core.dedup_key(group),
        "source": row.source,
        "actor": row.source,
        "title": core.title(row.labels, row.annotations, keyed),
        "labels": dict(row.labels),
    }
    try:
        incident, created = incidents.open_or_reopen(run.session, run.app, now=run.now, **fields)
    except IllegalTransition:
        # The group's last incident was closed inside the reopen window: a closed incident
        # cannot reopen, so the fault back is a new incident.
        incident, created = incidents.open_incident(run.session, run.app, now=run.now, **fields)
    row.incident_id = incident.id
    incidents.add_event(
        run.session,
        incident,
        now=run.now,
        actor=row.source,
        kind="alert.firing",
        reason=core.title(row.labels, row.annotations, {}),
        data={"fingerprint": row.fingerprint, "labels": dict(row.labels)},
    )
    _note(run.result.incidents, incident.id)
    if created:
        _note(run.result.opened, incident.id)


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
    rows = run.session.scalars(
        select(Alert)
        .where(Alert.status == FIRING, Alert.suppressed_by.is_not(None))
        .order_by(Alert.id)
    )
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
