"""Judging contract clauses from measured figures, pure (CONTRACT.md C1).

Three verdicts only: met, missed, no evidence. A clause without data is never "met": the
acceptance document states how each clause was fulfilled, and payment is share × completion %,
so an unproven clause counts against completion exactly as a missed one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

MET = "met"
MISSED = "missed"
NO_EVIDENCE = "no_evidence"
LABELS = {MET: "达标", MISSED: "未达标", NO_EVIDENCE: "无证据"}
LABELS_EN = {MET: "met", MISSED: "missed", NO_EVIDENCE: "no evidence"}


@dataclass(frozen=True)
class Verdict:
    status: str
    figure: str  # what was measured, e.g. "12/12 已按时", "99.95 %"
    evidence: list[str] = field(default_factory=list)  # where the figure comes from

    @property
    def label(self) -> str:
        return LABELS[self.status]


def no_evidence(why: str) -> Verdict:
    return Verdict(NO_EVIDENCE, "—", [why])


def timer_state(
    due_at: datetime,
    met_at: datetime | None,
    fired_at: datetime | None,
    cancelled_at: datetime | None,
    now: datetime,
) -> str:
    """One contract timer: met in time, missed (fired, met late, or overdue), pending or
    cancelled (it stopped applying: regrade, or the other handling's timer, M2.1c/d)."""
    if fired_at is not None or (met_at is not None and met_at > due_at):
        return MISSED
    if met_at is not None:
        return MET
    if cancelled_at is not None:
        return "cancelled"
    return MISSED if due_at <= now else "pending"


def count_verdict(met: int, missed: int, what: str, evidence: list[str]) -> Verdict:
    """Every counted case met -> met; any miss -> missed; no case at all -> no evidence."""
    total = met + missed
    if total == 0:
        return Verdict(NO_EVIDENCE, f"0 {what}", evidence)
    status = MISSED if missed else MET
    return Verdict(status, f"{met}/{total} {what}", evidence)


def threshold_verdict(
    value: float | None,
    limit: float,
    *,
    at_least: bool,
    shown: str,
    evidence: list[str],
    unmeasured: str = "—",
) -> Verdict:
    if value is None:
        return Verdict(NO_EVIDENCE, unmeasured, evidence)
    ok = value >= limit if at_least else value <= limit
    return Verdict(MET if ok else MISSED, shown, evidence)


def combine(parts: list[Verdict], evidence: list[str]) -> Verdict:
    """A clause with several figures (P9.1: create, dispatch, query): missed if any part
    missed, met only when every part is met, otherwise no evidence."""
    statuses = {p.status for p in parts}
    if MISSED in statuses:
        status = MISSED
    elif statuses == {MET}:
        status = MET
    else:
        status = NO_EVIDENCE
    return Verdict(status, "; ".join(p.figure for p in parts), evidence)


def completion(verdicts: list[Verdict]) -> float:
    """Completion % for C1: clauses met ÷ all clauses, as a percentage (two decimals)."""
    if not verdicts:
        return 0.0
    met = sum(1 for v in verdicts if v.status == MET)
    return round(100.0 * met / len(verdicts), 2)
