"""The evidence register (CONTRACT.md C1): written documents behind clauses no probe can
measure (training sign-in sheets, change records, the knowledge-base plan …).

Append-only: a row is never updated or deleted, and its file is copied into the data folder
with its sha256, so the acceptance pack can prove the document it cites is the one registered.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Date, Float, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from hotline_ops.store.models import Base


class EvidenceDocument(Base):
    __tablename__ = "evidence_documents"
    __table_args__ = (Index("ix_evidence_clause_covers", "clause", "covers"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clause: Mapped[str] = mapped_column(String(20))
    covers: Mapped[date] = mapped_column(Date)  # the local day the document is evidence for
    title: Mapped[str] = mapped_column(Text)
    quantity: Mapped[float | None] = mapped_column(Float)  # e.g. training hours (M2.4)
    path: Mapped[str] = mapped_column(Text)  # relative to data_dir
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    registered_at: Mapped[datetime]


def file_sha256(path: Path) -> str | None:
    """The sha256 of a stored file, None when it is gone."""
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def evidence_docs(session: Session, clause: str, first: date, last: date) -> list[EvidenceDocument]:
    """Documents of ``clause`` covering local days first..last (inclusive), oldest first."""
    q = (
        select(EvidenceDocument)
        .where(
            EvidenceDocument.clause == clause,
            EvidenceDocument.covers >= first,
            EvidenceDocument.covers <= last,
        )
        .order_by(EvidenceDocument.id)
    )
    return list(session.scalars(q))
