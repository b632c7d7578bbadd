"""Messages shaped like the ones services/messages.py builds, for the channel tests."""

from __future__ import annotations

from typing import Any

from hotline_ops.notify.base import Message, Recipient

ZHANG = Recipient("张伟", phone="13877400001", email="zhang.wei@example.org")
SUBJECT = "【梧州12345·一级故障】12345 呼入中继中断"
TEXT = "\n".join(
    [
        SUBJECT,
        "事件编号：#7",
        "故障等级：一级（重大故障）",
        "监测对象：trunk/unicom-sip-1",
        "发生时间：2026-11-28 10:00:00",
        "合同时限：",
        "- 响应（M2.3a）：2026-11-28 10:30:00 前",
    ]
)
DATA: dict[str, Any] = {
    "event": "opened",
    "incident_id": 7,
    "level": 1,
    "status": "open",
    "title": "12345 呼入中继中断",
    "target": "trunk/unicom-sip-1",
    "opened_at": "2026-11-28T02:00:00+00:00",
    "ack_url": "https://ops.example.org/ack/7/3f9a",
}


def incident(recipient: Recipient | None = ZHANG, **data: Any) -> Message:
    return Message("INC-7:opened:1", SUBJECT, TEXT, {**DATA, **data}, recipient)


def long_title(recipient: Recipient | None = ZHANG, repeat: int = 400) -> Message:
    """A title far beyond every channel's limit (alert titles come from label values)."""
    title = "梧州市12345热线呼入中继全部中断" * repeat
    subject = f"【梧州12345·一级故障】{title}"
    body = "\n".join([subject, *TEXT.splitlines()[1:]] * 3)
    return Message("INC-8:opened:1", subject, body, {**DATA, "title": title}, recipient)
