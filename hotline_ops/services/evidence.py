"""Evidence register use cases: register a written document against a clause, list, verify.

Only clauses the contract list measures by ``record`` take documents: a clause the store
measures (timers, availability …) must be proven by its figures, not by a paper.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hotline_ops.errors import BadRequest, HotlineOpsError, NotFound
from hotline_ops.reports.acceptance import load_clauses, reports_dir
from hotline_ops.store.evidence import EvidenceDocument, file_sha256

FOLDER = "evidence"
MAX_BYTES = 200 * 1024 * 1024  # the same bound as a ticket attachment (P2.1)
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


@dataclass(frozen=True)
class NewDocument:
    clause: str
    source: Path
    title: str
    covers: date
    quantity: float | None = None
    note: str = ""


def record_clauses(app: Any) -> dict[str, Any]:
    """The clauses that take documents, by id."""
    specs = load_clauses(reports_dir(app) / "clauses.yaml")
    return {c.id: c for c in specs if c.measure == "record"}


def add(app: Any, doc: NewDocument, *, actor: str) -> EvidenceDocument:
    _check(app, doc)
    now = app.clock.now()
    stored = _store_file(app, doc)
    with app.store.session() as session:
        row = EvidenceDocument(
            clause=doc.clause,
            covers=doc.covers,
            title=doc.title.strip(),
            quantity=doc.quantity,
            actor=actor,
            note=doc.note,
            registered_at=now,
            **stored,
        )
        session.add(row)
        session.flush()
        return row


def _check(app: Any, doc: NewDocument) -> None:
    clauses = record_clauses(app)
    if doc.clause not in clauses:
        raise BadRequest(
            f"CLAUSE: '{doc.clause}' does not take documents; one of {', '.join(clauses)}"
        )
    if not doc.title.strip():
        raise BadRequest("--title: must not be empty")
    if doc.quantity is not None and doc.quantity <= 0:
        raise BadRequest(f"--quantity: {doc.quantity:g} must be above 0")
    if not doc.source.is_file():
        raise BadRequest(f"FILE: {doc.source} is not a readable file")
    if doc.source.stat().st_size > MAX_BYTES:
        raise BadRequest(f"FILE: {doc.source} is larger than 200 MB")


def _store_file(app: Any, doc: NewDocument) -> dict[str, Any]:
    """Copy into data_dir/evidence/CLAUSE/ under a name that cannot escape the folder, and
    never over an existing file (the register's checksum must keep matching)."""
    data = app.settings.path(app.settings.data_dir)
    folder = data / FOLDER / _safe(doc.clause)
    folder.mkdir(parents=True, exist_ok=True)
    digest = file_sha256(doc.source) or ""
    name = f"{digest[:12]}-{_safe(doc.source.name)}"
    target = folder / name
    try:
        with open(doc.source, "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except FileExistsError:
        # The same content under the same name is already stored: share the file, unless
        # it is not the same content after all (a changed file is never overwritten).
        if file_sha256(target) != digest:
            raise HotlineOpsError(f"{target} exists with other content; nothing stored") from None
    return {
        "path": str(target.relative_to(data)),
        "sha256": digest,
        "bytes": target.stat().st_size,
    }


def _safe(name: str) -> str:
    cleaned = _UNSAFE.sub("_", name).strip("._")
    return cleaned[:120] or "document"


def get_all(app: Any, *, clause: str | None = None, year: int | None = None) -> list[Any]:
    with app.store.session() as session:
        q = select(EvidenceDocument).order_by(EvidenceDocument.id)
        if clause:
            q = q.where(EvidenceDocument.clause == clause)
        if year:
            q = q.where(
                EvidenceDocument.covers >= date(year, 1, 1),
                EvidenceDocument.covers < date(year + 1, 1, 1),
            )
        return list(session.scalars(q))


def verify(app: Any, *, doc_id: int) -> EvidenceDocument:
    """Raise (exit 1) when the stored file is missing or changed since registration."""
    with app.store.session() as session:
        row = session.get(EvidenceDocument, doc_id)
    if row is None:
        raise NotFound(f"evidence #{doc_id} does not exist")
    actual = file_digest(app, row)
    if actual != row.sha256:
        state = "missing" if actual is None else f"sha256 {actual[:12]}"
        raise HotlineOpsError(
            f"evidence #{doc_id} ({row.path}) is {state}, registered {row.sha256[:12]}"
        )
    return row


def file_digest(app: Any, row: EvidenceDocument) -> str | None:
    return file_sha256(app.settings.path(app.settings.data_dir) / row.path)
