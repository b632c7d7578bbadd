"""Call records (CDR) from the ACD, imported from CSV or JSON: the source of 接通率 and the
15 s answer rate. One row per offered call; an abandoned call has no answer time."""

from __future__ import annotations

import csv
import json
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from hotline_ops.errors import BadRequest
from hotline_ops.store.tickets import CallRecord


class CallIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(min_length=1, max_length=100)
    caller: str = Field("", max_length=32)
    offered_at: AwareDatetime
    answered_at: AwareDatetime | None = None


def parse_file(path: Path) -> list[CallIn]:
    """CSV (header: call_id, caller, offered_at, answered_at) or a JSON array; errors name
    the file, the record and the field."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadRequest(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            raw: list[Any] = json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"{path}: not JSON: {exc}") from exc
        start = 0
    else:
        raw = [
            {k: (v or None) for k, v in row.items()} for row in csv.DictReader(text.splitlines())
        ]
        start = 2  # line numbers: the header is line 1
    return [_record(path, i, start, item) for i, item in enumerate(raw)]


def _record(path: Path, i: int, start: int, item: Any) -> CallIn:
    try:
        return CallIn.model_validate(item)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = f"line {start + i}" if start else f"record {i}"
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        raise BadRequest(f"{path}: {where}: {field}: {err['msg']}") from exc


def store(app: Any, calls: list[CallIn]) -> dict[str, int]:
    """Insert the calls not stored yet (re-importing a file is harmless)."""
    added = 0
    with app.store.session() as session:
        ids = [c.call_id for c in calls]
        known = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            known |= set(
                session.scalars(select(CallRecord.call_id).where(CallRecord.call_id.in_(chunk)))
            )
        for call in calls:
            if call.call_id in known:
                continue
            known.add(call.call_id)
            session.add(_row(call))
            added += 1
    return {"added": added, "skipped": len(calls) - added}


def _row(call: CallIn) -> CallRecord:
    offered = call.offered_at.astimezone(UTC)
    answered = call.answered_at.astimezone(UTC) if call.answered_at else None
    wait = (answered - offered).total_seconds() if answered else None
    if wait is not None and wait < 0:
        raise BadRequest(f"{call.call_id}: answered_at: before offered_at")
    return CallRecord(
        call_id=call.call_id,
        caller=call.caller,
        offered_at=offered,
        answered_at=answered,
        wait_s=wait,
    )
