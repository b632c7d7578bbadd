"""On-call use cases: who is on call now, coverage over a period, overrides added by people
(stored, with the actor), and the 7×24 coverage check (CONTRACT.md M2.1a, R1.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline_ops.core import roster as core
from hotline_ops.errors import BadRequest, ConfigError, NotFound
from hotline_ops.store.routing import OncallOverride, stored_overrides

MAX_CHECK_DAYS = 366


def base_policy(app: Any) -> core.RosterPolicy:
    policy = getattr(app.content, "roster", None)
    if policy is None:
        raise ConfigError("no incidents/roster.yaml: on-call rosters are not configured")
    return policy


def policy(app: Any, session: Session) -> core.RosterPolicy:
    """The roster file plus the overrides stored from the CLI (those win: written later)."""
    return base_policy(app).with_overrides(stored_overrides(session))


def person_view(person: core.Person) -> dict[str, Any]:
    return {
        "key": person.key,
        "name": person.name,
        "phone": person.phone,
        "email": person.email,
        "channels": list(person.channels),
    }


def now(app: Any) -> dict[str, Any]:
    """Who is on call in every roster right now, and who holds each role."""
    at = app.clock.now()
    with app.store.session() as session:
        pol = policy(app, session)
    rosters = []
    for name in pol.rosters:
        who = core.on_call(pol, name, at)
        person = person_view(pol.people[who.person]) if who.person else None
        rosters.append({"roster": name, "person": person, "via": who.via})
    roles = {role: person_view(pol.person(role)) for role in pol.roles}
    return {"at": at, "rosters": rosters, "roles": roles}


def show(app: Any, *, start: datetime, end: datetime, roster: str | None = None) -> list[dict]:
    """Coverage segments of each roster (or one) over [start, end)."""
    if end <= start:
        raise BadRequest("--to: must be after --from")
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # stored and printed as UTC
    with app.store.session() as session:
        pol = policy(app, session)
    names = [_roster_name(pol, roster)] if roster else list(pol.rosters)
    return [
        {"roster": name, "start": s.start, "end": s.end, "person": s.person, "via": s.via}
        for name in names
        for s in core.coverage(pol, name, start, end)
    ]


def _roster_name(pol: core.RosterPolicy, name: str) -> str:
    if name not in pol.rosters:
        raise NotFound(f"roster '{name}' does not exist (known: {', '.join(pol.rosters)})")
    return name


def add_override(
    app: Any,
    *,
    roster: str,
    person: str,
    start: datetime,
    end: datetime,
    actor: str,
    reason: str = "",
    replaces: str | None = None,
) -> OncallOverride:
    pol = base_policy(app)
    _roster_name(pol, roster)
    for field, key in (("--person", person), ("--replaces", replaces)):
        if key is not None and key not in pol.people and key not in pol.roles:
            raise BadRequest(f"{field}: unknown person '{key}'")
    if end <= start:
        raise BadRequest("--to: must be after --from")
    row = OncallOverride(
        roster=roster,
        person=pol.roles.get(person, person),
        replaces=pol.roles.get(replaces, replaces) if replaces else None,
        starts_at=start,
        ends_at=end,
        actor=actor,
        reason=reason,
        created_at=app.clock.now(),
    )
    with app.store.session() as session:
        session.add(row)
        session.flush()
        session.expunge(row)
    return row


def list_overrides(app: Any) -> list[dict[str, Any]]:
    """Overrides from the roster file and the store, in the order they apply."""
    pol = base_policy(app)
    with app.store.session() as session:
        rows = session.scalars(select(OncallOverride).order_by(OncallOverride.id)).all()
        stored = [
            {
                "roster": r.roster,
                "person": r.person,
                "replaces": r.replaces,
                "start": r.starts_at,
                "end": r.ends_at,
                "source": "store",
                "actor": r.actor,
                "reason": r.reason,
                "created_at": r.created_at,
            }
            for r in rows
        ]
    from_file = [
        {
            "roster": o.roster,
            "person": o.person,
            "replaces": o.replaces,
            "start": o.start,
            "end": o.end,
            "source": o.source,
            "actor": None,
            "reason": "",
            "created_at": None,
        }
        for o in pol.overrides
    ]
    return from_file + stored


@dataclass
class CheckReport:
    start: datetime
    end: datetime
    gaps: list[dict[str, Any]]
    unknown_years: list[int]

    @property
    def ok(self) -> bool:
        return not self.gaps and not self.unknown_years


def check(app: Any, *, days: int) -> CheckReport:
    """Prove 7×24 coverage of every roster for the next ``days`` days (M2.1a, R1.1)."""
    if not 1 <= days <= MAX_CHECK_DAYS:
        raise BadRequest(f"--days: must be between 1 and {MAX_CHECK_DAYS}")
    start = app.clock.now()
    end = start + timedelta(days=days)
    with app.store.session() as session:
        pol = policy(app, session)
    found = [
        {"roster": name, "start": gap.start, "end": gap.end, "via": gap.via}
        for name in pol.rosters
        for gap in core.gaps(pol, name, start, end)
    ]
    unknown = pol.missing_years(start, end)
    return CheckReport(start, end, found, unknown)


def resolve_targets(
    app: Any, session: Session, *, people: tuple[str, ...], roster: str | None, at: datetime
) -> list[core.Person]:
    """The people an escalation step pages at ``at``: the roster's on-call person first, then
    the named people and roles, each once. Empty when nobody is on call (a gap)."""
    pol = policy(app, session)
    keys: list[str] = []
    if roster is not None and roster in pol.rosters:
        who = core.on_call(pol, roster, at)
        if who.person is not None:
            keys.append(who.person)
    keys.extend(pol.roles.get(k, k) for k in people if pol.roles.get(k, k) in pol.people)
    return [pol.people[k] for k in dict.fromkeys(keys)]
