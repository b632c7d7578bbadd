"""Ids handed out before their rows are written (an incident named by its first notice).

SQLite gives a new row max(rowid) + 1, which would hand a reserved id to the next insert,
so there every incident takes its id from ``id_blocks`` (one UPDATE … RETURNING per
batch, inside the caller's transaction). PostgreSQL reserves from the table's sequence,
which its inserts use anyway; a reserved id that is never used is a gap, as a rolled-back
insert leaves one there.
"""

from __future__ import annotations

import weakref
from collections import deque

from sqlalchemy import Engine, func, literal_column, select, update
from sqlalchemy.orm import Session

from hotline_ops.store.models import IdBlock

INCIDENTS = "incidents"
# Per database: incident ids this process reserved (services.first_notice) and has not used
# yet. Every incident this process opens takes its id from here first, so ids stay dense
# while it runs; a restart leaves at most one block unused.
_reserves: weakref.WeakKeyDictionary[Engine, deque[int]] = weakref.WeakKeyDictionary()


def reserve_of(engine: Engine) -> deque[int]:
    """This process's reserved incident ids for ``engine``'s database (popleft is atomic)."""
    return _reserves.setdefault(engine, deque())


def incident_ids(session: Session, count: int) -> list[int]:
    """``count`` new incident ids, never handed out before: reserved ones first."""
    if count <= 0:
        return []
    taken = _from_reserve(session.get_bind(), count)
    return taken + _new_ids(session, count - len(taken))


def reserve(session: Session, count: int) -> None:
    """Reserve ``count`` more ids for this process (commit ``session`` before using them)."""
    reserve_of(session.get_bind()).extend(_new_ids(session, count))


def _from_reserve(engine: Engine, count: int) -> list[int]:
    taken, reserved = [], _reserves.get(engine)
    while reserved and len(taken) < count:
        try:
            taken.append(reserved.popleft())
        except IndexError:  # another thread took the last one
            break
    return taken


def _new_ids(session: Session, count: int) -> list[int]:
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        series = func.generate_series(1, count).table_valued("n")
        ids = session.scalars(
            select(func.nextval(literal_column("'incidents_id_seq'"))).select_from(series)
        )
        return sorted(ids)
    last = session.execute(
        update(IdBlock)
        .where(IdBlock.name == INCIDENTS)
        .values(next_id=IdBlock.next_id + count)
        .returning(IdBlock.next_id)
    ).scalar_one()  # seeded by migration 0018
    return list(range(last - count, last))
