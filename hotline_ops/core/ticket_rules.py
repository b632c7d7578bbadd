"""The 12345 work-order state machine and the hash chain of its audit trail (pure).

Every step a ticket takes is one of ``ACTIONS``: allowed only from the listed states and
leading to one state (``None``: the state stays, e.g. supervision 督办 or an unanswered
callback). The service applies an action by calling :func:`next_state` and writes exactly one
audit event per applied action (P3.2, R3.1); an action from any other state is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from hotline_ops.errors import IllegalTransition

CHANNELS = ("phone", "web", "app", "wechat", "sms")  # P1.1
URGENCIES = ("normal", "urgent")  # urgent = level I (P4.1)
TYPES = ("consultation", "help", "suggestion", "complaint", "report")

RECEIVED, ACCEPTED, DISPATCHED, SIGNED = "received", "accepted", "dispatched", "signed"
HANDLING, REVIEWING, REVIEWED, CLOSED = "handling", "reviewing", "reviewed", "closed"
EVALUATED, CALLED_BACK, ARCHIVED = "evaluated", "called_back", "archived"
OBJECTED, MERGED = "objected", "merged"
STATES = (
    RECEIVED,
    ACCEPTED,
    DISPATCHED,
    SIGNED,
    HANDLING,
    REVIEWING,
    REVIEWED,
    CLOSED,
    EVALUATED,
    CALLED_BACK,
    ARCHIVED,
    OBJECTED,
    MERGED,
)
TERMINAL = frozenset({ARCHIVED, MERGED})
LABELS_ZH = {
    RECEIVED: "已登记",
    ACCEPTED: "已受理",
    DISPATCHED: "已派单",
    SIGNED: "已签收",
    HANDLING: "办理中",
    REVIEWING: "审核中",
    REVIEWED: "审核通过",
    CLOSED: "已办结",
    EVALUATED: "已评价",
    CALLED_BACK: "已回访",
    ARCHIVED: "已归档",
    OBJECTED: "退单审核中",
    MERGED: "已并单",
}
OPEN_WORK = frozenset({DISPATCHED, SIGNED, HANDLING})
BEFORE_CLOSE = frozenset({RECEIVED, ACCEPTED, DISPATCHED, SIGNED, HANDLING, OBJECTED})


@dataclass(frozen=True)
class Action:
    name: str
    label: str  # zh-CN, for the audit view
    sources: frozenset[str]
    target: str | None  # None: the state stays


def _a(name: str, label: str, sources: set[str] | frozenset[str], target: str | None) -> Action:
    return Action(name, label, frozenset(sources), target)


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        _a("accept", "受理", {RECEIVED}, ACCEPTED),
        _a("dispatch", "派单", {ACCEPTED}, DISPATCHED),
        _a("sign", "签收", {DISPATCHED}, SIGNED),
        _a("respond", "首次响应", {SIGNED}, HANDLING),  # P4.3
        _a("submit", "提交办结审核", {HANDLING}, REVIEWING),
        _a("approve", "审核通过", {REVIEWING}, None),  # the last level moves to REVIEWED
        # Also after the review: a reply failing the completeness check goes back to the unit.
        _a("reject", "审核退回", {REVIEWING, REVIEWED}, HANDLING),
        _a("close", "办结", {REVIEWED}, CLOSED),  # completeness check first (P5.2)
        _a("evaluate", "满意度评价", {CLOSED}, EVALUATED),  # P6
        _a("callback", "回访", {CLOSED, EVALUATED}, CALLED_BACK),  # P7.1
        _a("callback_missed", "回访未接通", {CLOSED, EVALUATED}, None),  # redial (P7.3)
        _a("archive", "归档", {CALLED_BACK}, ARCHIVED),
        _a("object", "退单", {DISPATCHED, SIGNED}, OBJECTED),  # P3.2
        _a("objection_approve", "退单审核通过", {OBJECTED}, ACCEPTED),
        _a("objection_reject", "退单审核驳回", {OBJECTED}, DISPATCHED),
        _a("redispatch", "改派", {DISPATCHED, SIGNED, HANDLING}, DISPATCHED),
        _a("extend_request", "延期申请", {SIGNED, HANDLING}, None),
        _a("extend_approve", "延期审批通过", {SIGNED, HANDLING, REVIEWING}, None),
        _a("extend_reject", "延期审批驳回", {SIGNED, HANDLING, REVIEWING}, None),
        _a("supervise", "督办", OPEN_WORK | {REVIEWING, OBJECTED}, None),  # R3.3
        _a("merge", "并单", BEFORE_CLOSE, MERGED),
        # Written by the service itself, never requested: a timer warning/breach and a
        # closing refused by the completeness check (counted by the P5.2 pass rate).
        _a("timer", "时限提醒", set(STATES) - TERMINAL, None),
        _a("close_check_failed", "办结检查未通过", {REVIEWED}, None),
        _a("attach", "上传附件", set(STATES) - TERMINAL, None),
        # The P9.1 synthetic probe's ticket ends at once; only synthetic tickets may.
        _a("synthetic_close", "探测工单关闭", set(STATES) - TERMINAL, ARCHIVED),
    )
}


INTERNAL = frozenset({"timer", "close_check_failed", "attach", "synthetic_close"})


@dataclass(frozen=True)
class Flow:
    """What the state alone does not say: review progress and a pending extension."""

    review_levels: int = 2
    review_passed: int = 0
    extension_pending: bool = False


def next_state(state: str, action: str, flow: Flow = Flow()) -> str:
    """The state after ``action``, or IllegalTransition naming the state and what is allowed."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise IllegalTransition(f"action: unknown action '{action}'")
    if state not in spec.sources:
        raise IllegalTransition(
            f"cannot {action} ({spec.label}) a ticket that is {state} ({LABELS_ZH[state]}); "
            f"allowed from: {', '.join(sorted(spec.sources))}"
        )
    _check_flow(spec, flow)
    if action == "approve":
        return REVIEWED if flow.review_passed + 1 >= flow.review_levels else REVIEWING
    return spec.target or state


def _check_flow(spec: Action, flow: Flow) -> None:
    if spec.name == "extend_request" and flow.extension_pending:
        raise IllegalTransition("extend_request: an extension request is already pending")
    if spec.name in ("extend_approve", "extend_reject") and not flow.extension_pending:
        raise IllegalTransition(f"{spec.name}: no extension request is pending")


def allowed(state: str, flow: Flow = Flow()) -> list[str]:
    """Actions possible from ``state`` (for the ticket view and the property test)."""
    out = []
    for name in ACTIONS:
        try:
            next_state(state, name, flow)
        except IllegalTransition:
            continue
        out.append(name)
    return out


# --- the audit hash chain -------------------------------------------------------------------

GENESIS = "0" * 64


def canonical(content: dict[str, Any]) -> str:
    """One JSON text per content: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """sha256(previous hash + canonical content): editing or dropping any event breaks
    every hash after it."""
    return hashlib.sha256((prev_hash + canonical(content)).encode("utf-8")).hexdigest()


def verify_chain(events: list[tuple[str, str, dict[str, Any]]]) -> int | None:
    """Events as (prev_hash, hash, content) in order; the index of the first broken link,
    or None when the chain holds from the genesis hash."""
    prev = GENESIS
    for i, (stored_prev, stored_hash, content) in enumerate(events):
        if stored_prev != prev or chain_hash(prev, content) != stored_hash:
            return i
        prev = stored_hash
    return None
