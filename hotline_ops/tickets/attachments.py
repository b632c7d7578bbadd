"""Attachments (P2.1): streamed to disk with sha256, ≤ 200 MB, type sniffed from content.

The file goes to a temporary name in the ticket's folder and is renamed only when complete
and accepted; any refusal (too large, bad name, executable) removes it, so nothing is left
on disk. The stored path never uses the client's name.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hotline_ops.core import files
from hotline_ops.core import ticket_rules as rules
from hotline_ops.errors import BadRequest
from hotline_ops.store.tickets import TicketAttachment
from hotline_ops.tickets import audit, service

MAX_BYTES = 200 * 1024 * 1024


class TooLarge(BadRequest):
    """413 on the API."""


def folder(app: Any, ticket_id: int) -> Path:
    return app.settings.path(app.settings.data_dir) / "attachments" / str(ticket_id)


def add(
    app: Any,
    *,
    ticket_id: int,
    name: str,
    chunks: Iterable[bytes],
    actor: str,
    max_bytes: int | None = None,
) -> TicketAttachment:
    try:
        files.safe_name(name)
    except ValueError as exc:
        raise BadRequest(f"name: {exc}") from exc
    with app.store.session() as session:
        service.get(session, ticket_id)  # 404 before writing anything
    target = folder(app, ticket_id)
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".upload-{uuid.uuid4().hex}"
    try:
        size, digest, mime = _write(tmp, chunks, max_bytes or MAX_BYTES)
        final = target / uuid.uuid4().hex
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        return _record(app, ticket_id, name, size, digest, mime, final, actor)
    except BaseException:
        final.unlink(missing_ok=True)
        raise


def _write(tmp: Path, chunks: Iterable[bytes], limit: int) -> tuple[int, str, str]:
    digest, size, head = hashlib.sha256(), 0, b""
    with tmp.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"body: attachment larger than {limit} bytes (P2.1)")
            if len(head) < 64:
                head += chunk[: 64 - len(head)]
            digest.update(chunk)
            out.write(chunk)
    try:
        mime = files.sniff(head)
    except ValueError as exc:
        raise BadRequest(f"body: {exc}") from exc
    return size, digest.hexdigest(), mime


def _record(
    app: Any, ticket_id: int, name: str, size: int, digest: str, mime: str, path: Path, actor: str
) -> TicketAttachment:
    now = app.clock.now()
    with app.store.session() as session:
        ticket = service.get(session, ticket_id, lock=True)
        rules.next_state(ticket.status, "attach")  # not on an archived or merged ticket
        row = TicketAttachment(
            ticket_id=ticket_id,
            name=name,
            size=size,
            sha256=digest,
            mime=mime,
            path=path.name,
            created_at=now,
            created_by=actor,
        )
        session.add(row)
        audit.append(
            session,
            ticket,
            now=now,
            actor=actor,
            action="attach",
            to_state=ticket.status,
            reason=name,
            data={"sha256": digest, "size": size, "mime": mime},
        )
        return row


def get_all(app: Any, ticket_id: int) -> list[TicketAttachment]:
    with app.store.session() as session:
        service.get(session, ticket_id)
        return list(
            session.scalars(
                select(TicketAttachment)
                .where(TicketAttachment.ticket_id == ticket_id)
                .order_by(TicketAttachment.id)
            )
        )
