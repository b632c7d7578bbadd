"""Shared by the ticket tests: a site carrying the repository's tickets/ content, request
bodies, and a walk of one ticket through its lifecycle."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline_ops.app import App
from hotline_ops.tickets import service
from hotline_ops.tickets.schemas import ActionIn, TicketIn
from tests.support.content import write_content

ROOT = Path(__file__).resolve().parents[2]
# 2026-10-08 10:00 in Wuzhou: the first working day after the National Day holiday.
AFTER_HOLIDAY = datetime(2026, 10, 8, 2, 0, tzinfo=UTC)


def ticket_site(folder: Path, **kwargs: Any) -> Path:
    root = write_content(folder, **kwargs)
    shutil.copytree(ROOT / "tickets", folder / "tickets")
    # The test site's only channel is the fake "ops".
    deadlines = folder / "tickets" / "deadlines.yaml"
    text = deadlines.read_text(encoding="utf-8")
    deadlines.write_text(text.replace("warning_channel: ops-webhook", "warning_channel: ops"))
    return root


def body(**over: Any) -> TicketIn:
    fields = {
        "channel": "phone",
        "caller_number": "13877400000",
        "caller_name": "张先生",
        "title": "小区夜间施工噪声",
        "content": "万秀区某小区旁工地每晚十一点后仍在施工，噪声很大。",
        "type": "complaint",
        "category": "040101",
        "district": "万秀区",
        "street": "城东街道",
        "community": "东中社区",
    }
    return TicketIn(**{**fields, **over})


REPLY = {
    "reply": "已责令施工单位停止夜间施工并办理夜间施工许可。",
    "handler": "李工",
    "measures": "现场检查，下达整改通知书",
}

# One path from intake to archive: (action, the body's fields).
HAPPY = [
    ("accept", {}),
    ("dispatch", {}),
    ("sign", {}),
    ("respond", {"handler": "李工", "measures": "已联系施工单位"}),
    ("submit", REPLY),
    ("approve", {}),
    ("approve", {}),
    ("approve", {}),
    ("close", {}),
    (
        "evaluate",
        {"satisfaction": {"via": "seat", "attitude": 3, "efficiency": 3, "result": 2}},
    ),
    ("callback", {}),
    ("archive", {}),
]


def walk(app: App, ticket_id: int, steps: list[tuple[str, dict]], actor: str = "t") -> None:
    for action, fields in steps:
        service.act(app, ticket_id=ticket_id, action=action, actor=actor, body=ActionIn(**fields))
