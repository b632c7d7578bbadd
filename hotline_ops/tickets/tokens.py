"""Ticket API tokens: random values shown once, only their sha256 stored.

A presented token is hashed and looked up; the hash of a 256-bit random value is as good as
the value for lookup and useless to whoever reads the table. Lookups are cached for
``CACHE_S`` seconds per process and store (the hash → (name, role) or None), so a search
costs no token query; a revocation is immediate in the revoking process and takes effect
within ``CACHE_S`` in the others (a second uvicorn worker, the daemon).
"""

from __future__ import annotations

import hashlib
import secrets
import weakref
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hotline_ops.core.ticket_roles import ROLES
from hotline_ops.errors import BadRequest, NotFound
from hotline_ops.store.tickets import TicketToken

PREFIX = "hot_"
CACHE_S = 10.0
# One cache per Store object (per process and store), dropped with it.
_caches: weakref.WeakKeyDictionary[Any, dict[str, tuple[datetime, tuple[str, str] | None]]] = (
    weakref.WeakKeyDictionary()
)


def cache_of(app: Any) -> dict[str, tuple[datetime, tuple[str, str] | None]]:
    """digest → (valid until, (name, role) or None) for this app's store."""
    return _caches.setdefault(app.store, {})


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def add(app: Any, *, name: str, role: str) -> tuple[TicketToken, str]:
    """Create a token; the value is returned once and never stored."""
    if role not in ROLES:
        raise BadRequest(f"role: unknown role '{role}' (one of {', '.join(ROLES)})")
    if not 1 <= len(name) <= 100:
        raise BadRequest("name: must be 1–100 characters")
    value = PREFIX + secrets.token_urlsafe(32)
    row = TicketToken(name=name, role=role, sha256=digest(value), created_at=app.clock.now())
    try:
        with app.store.session() as session:
            session.add(row)
    except IntegrityError as exc:
        raise BadRequest(f"name: a token named '{name}' exists") from exc
    return row, value


def revoke(app: Any, *, name: str) -> TicketToken:
    with app.store.session() as session:
        row = session.scalar(select(TicketToken).where(TicketToken.name == name))
        if row is None or row.revoked_at is not None:
            raise NotFound(f"no active token named '{name}'")
        row.revoked_at = app.clock.now()
    cache_of(app).clear()
    return row


def get_all(app: Any) -> list[TicketToken]:
    with app.store.session() as session:
        return list(session.scalars(select(TicketToken).order_by(TicketToken.name)))


def identify(app: Any, presented: str) -> tuple[str, str] | None:
    """(name, role) of an active token, or None."""
    key = digest(presented)
    cache = cache_of(app)
    hit = cache.get(key)
    # The app's clock, not time.monotonic: tests pin it to show the expiry.
    now = app.clock.now()
    if hit is not None and now < hit[0]:
        return hit[1]
    with app.store.read() as session:
        row = session.execute(
            select(TicketToken.name, TicketToken.role).where(
                TicketToken.sha256 == key, TicketToken.revoked_at.is_(None)
            )
        ).first()
        found = (row.name, row.role) if row is not None else None
    if len(cache) > 10_000:
        cache.clear()  # bounded: random bad tokens cannot grow it without limit
    cache[key] = (now + timedelta(seconds=CACHE_S), found)
    return found
