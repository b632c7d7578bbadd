"""Silences (Alertmanager semantics): matchers over alert labels and a time range.

A silenced alert is stored but opens no incident. Expiring keeps the row (who silenced what,
when and why is part of the record); it only moves ``ends_at`` to now and stamps
``expired_at``. Alerts still firing when a silence ends are picked up by
``alerts.expire_stale`` on the timer loop's next pass; new alerts are never silenced by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hotline_ops.core import matchers as core_matchers
from hotline_ops.core.matchers import Matcher
from hotline_ops.errors import BadRequest, IllegalTransition, NotFound
from hotline_ops.store.models import Silence


def add(
    app: Any,
    *,
    matchers: list[Matcher],
    ends_at: datetime,
    created_by: str,
    comment: str,
    starts_at: datetime | None = None,
    replaces: int | None = None,
) -> Silence:
    """Create a silence; with ``replaces`` the old one is expired in the same transaction
    (Alertmanager's update: the id changes, the history stays)."""
    now = app.clock.now()
    starts_at = _check(matchers, starts_at, ends_at, created_by, comment, now)
    with app.store.session() as session:
        if replaces is not None:
            _expire(session, _get(session, replaces), now)
        silence = Silence(
            matchers=[m.to_dict() for m in matchers],
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by.strip(),
            comment=comment.strip(),
            created_at=now,
        )
        session.add(silence)
        session.flush()
        return silence


def _check(
    matchers: list[Matcher],
    starts_at: datetime | None,
    ends_at: datetime,
    created_by: str,
    comment: str,
    now: datetime,
) -> datetime:
    """Validate as Alertmanager does; return the effective start (a past start means now)."""
    try:
        core_matchers.check_silence_matchers(matchers)
    except ValueError as exc:
        raise BadRequest(f"matchers: {exc}") from exc
    if not created_by.strip():
        raise BadRequest("createdBy: say who silences (it stays on the record)")
    if not comment.strip():
        raise BadRequest("comment: say why (it stays on the record)")
    start = now if starts_at is None or starts_at < now else starts_at
    if ends_at <= now:
        raise BadRequest("endsAt: the end is in the past")
    if ends_at <= start:
        raise BadRequest("endsAt: the end must be after the start")
    return start


def expire(app: Any, *, silence_id: int) -> Silence:
    now = app.clock.now()
    with app.store.session() as session:
        silence = _get(session, silence_id)
        _expire(session, silence, now)
        return silence


def _expire(session: Session, silence: Silence, now: datetime) -> None:
    if state(silence, now) == "expired":
        raise IllegalTransition(f"silence {silence.id} has already expired")
    silence.expired_at = now
    silence.ends_at = now
    silence.starts_at = min(silence.starts_at, now)


def _get(session: Session, silence_id: int) -> Silence:
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise NotFound(f"silence {silence_id} does not exist")
    return silence


def get(app: Any, *, silence_id: int) -> Silence:
    with app.store.session() as session:
        return _get(session, silence_id)


def get_all(app: Any, *, active_only: bool = True) -> list[Silence]:
    """Newest first. ``active_only``: those not expired yet (active or pending)."""
    now = app.clock.now()
    with app.store.session() as session:
        query = select(Silence).order_by(Silence.id.desc())
        if active_only:
            query = query.where(Silence.expired_at.is_(None), Silence.ends_at > now)
        return list(session.scalars(query))


# Read on every ingest pass: two columns, not ORM objects, and the statement built once
# (building a select per call was a tenth of a millisecond of the consumer's interpreter).
_ACTIVE = (
    select(Silence.id, Silence.matchers)
    .where(
        Silence.expired_at.is_(None),
        Silence.starts_at <= bindparam("now"),
        Silence.ends_at > bindparam("now"),
    )
    .order_by(Silence.id)
)


def active(session: Session, now: datetime) -> list[tuple[int, tuple[Matcher, ...]]]:
    """(id, matchers) of the silences in force at ``now``, oldest first."""
    rows = session.execute(_ACTIVE, {"now": now})
    return [(i, tuple(core_matchers.from_dict(m) for m in matchers)) for i, matchers in rows]


def matchers_of(silence: Silence) -> tuple[Matcher, ...]:
    return tuple(core_matchers.from_dict(m) for m in silence.matchers)


def state(silence: Silence, now: datetime) -> str:
    """Alertmanager's silence states: pending, active, expired."""
    if silence.expired_at is not None or silence.ends_at <= now:
        return "expired"
    return "pending" if silence.starts_at > now else "active"


def parse_matchers(texts: Iterable[str], field: str = "--matcher") -> list[Matcher]:
    """Text matchers (CLI, API filters); BadRequest names the bad one."""
    out = []
    for text in texts:
        try:
            out.append(core_matchers.parse(text))
        except ValueError as exc:
            raise BadRequest(f"{field}: {exc}") from exc
    return out
