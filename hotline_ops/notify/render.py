"""Per-channel notification texts from Jinja templates, fitted to each channel's limit.

A service renders one incident text (``services/messages.py``); each channel then recasts the
message in its own form (WeCom markdown, a 3-segment SMS, a short TTS sentence …) from the
templates under ``templates/notify/``. zh-CN first: the on-call engineers and the purchaser
read Chinese; ``en`` is optional per channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hotline_ops.notify.base import Message

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGS = ("zh-CN", "en")
LEVEL_LABELS = {
    "zh-CN": {1: "一级", 2: "二级", 3: "三级"},
    "en": {1: "level 1", 2: "level 2", 3: "level 3"},
}
ELLIPSIS = "…"
# GSM 03.38 aside, Chinese SMS are UCS-2: 70 characters fit one message; a longer text is
# split into segments of 67 (3 characters go to the concatenation header).
SMS_SINGLE = 70
SMS_SEGMENT = 67

Measure = Callable[[str], int]


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def chars(text: str) -> int:
    return len(text)


def sms_segments(text: str) -> int:
    """How many SMS a carrier bills (and splits) this text into."""
    n = len(text)
    return 1 if n <= SMS_SINGLE else math.ceil(n / SMS_SEGMENT)


def sms_max_chars(segments: int) -> int:
    return SMS_SINGLE if segments == 1 else SMS_SEGMENT * segments


def _autoescape(name: str | None) -> bool:
    # Only the HTML mail part is HTML; markdown and SMS must keep "<" and "&" as typed.
    return name is not None and name.endswith(".html.j2")


@cache
def environment() -> jinja2.Environment:
    # Jinja is imported by the first text rendered, not by every command that imports this.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["plain"] = plain
    env.filters["unsigned"] = unsigned
    return env


def plain(text: str) -> str:
    """Brackets and markup a speech engine would read aloud or stumble over."""
    for mark in "【】[]*#>`_":
        text = text.replace(mark, " ")
    return " ".join(text.split())


def check_timezone(value: str) -> str:
    """For config validation: an unknown zone must fail at load time, not at send time."""
    try:
        ZoneInfo(value)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone '{value}'") from None
    return value


def unsigned(text: str) -> str:
    """【】 turned into []: in an SMS, 【…】 is the sender's signature, and a second one gets
    the message refused by carriers as a forged signature."""
    return text.replace("【", "[").replace("】", "]")


def template_name(kind: str, lang: str, ext: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"unknown language '{lang}' (known: {', '.join(LANGS)})")
    return f"notify/{kind}.{lang}.{ext}.j2"


def context(
    message: Message, *, lang: str = "zh-CN", tz: str = "Asia/Shanghai", mentions: tuple = ()
) -> dict[str, Any]:
    """What every channel template may use; missing data fields become empty values."""
    data = message.data or {}
    subject = " ".join(message.subject.split())
    lines = message.text.strip().splitlines()
    # The service's text starts with the subject line: don't say it twice.
    if lines and " ".join(lines[0].split()) == subject:
        lines = lines[1:]
    level = data.get("level")
    return {
        "subject": subject,
        "body": "\n".join(line.rstrip() for line in lines if line.strip()),
        "title": str(data.get("title") or subject),
        "event": str(data.get("event") or ""),
        "level": level,
        "level_label": LEVEL_LABELS[lang].get(level, "") if isinstance(level, int) else "",
        "incident_id": data.get("incident_id"),
        "target": str(data.get("target") or ""),
        "opened_at": _local(data.get("opened_at"), tz),
        "ack_url": str(data.get("ack_url") or ""),
        "recipient": message.recipient.name if message.recipient else "",
        "mentions": list(mentions),
    }


def _local(value: Any, tz: str) -> str:
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def render(name: str, ctx: dict[str, Any]) -> str:
    return environment().get_template(name).render(ctx).strip()


def render_fitted(name: str, ctx: dict[str, Any], limit: int, measure: Measure = chars) -> str:
    """Render ``name`` within ``limit``: shorten the body first, then the subject and title.

    The ack link and the mentions are never cut: a clipped URL or phone number is useless."""
    text = render(name, ctx)
    if measure(text) <= limit:
        return text
    bare = {**ctx, "body": ""}
    if measure(render(name, bare)) <= limit:
        return _clip_field(name, ctx, "body", limit, measure)
    bare = {**bare, "subject": "", "title": ""}
    if measure(render(name, bare)) > limit:
        raise ValueError(f"{name}: even without subject and body the text exceeds {limit}")
    clipped = {**ctx, "body": ""}
    # Subject and title carry the same words: clip both to the same length.
    return _clip_field(name, clipped, ("subject", "title"), limit, measure)


def _clip_field(
    name: str, ctx: dict[str, Any], fields: str | tuple[str, ...], limit: int, measure: Measure
) -> str:
    keys = (fields,) if isinstance(fields, str) else fields
    longest = max(len(ctx[k]) for k in keys)

    def attempt(n: int) -> str:
        return render(name, {**ctx, **{k: clip(ctx[k], n) for k in keys}})

    # Binary search for the longest cut that fits: about a dozen renders for 4 kB.
    low, high = 0, longest
    while low < high:
        mid = (low + high + 1) // 2
        if measure(attempt(mid)) <= limit:
            low = mid
        else:
            high = mid - 1
    return attempt(low)


def clip(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters including the ellipsis, at no half-line end."""
    if len(text) <= n:
        return text
    if n <= 0:
        return ""
    return text[: n - 1].rstrip() + ELLIPSIS
