"""Golden tests: every channel template rendered from one example context.

Regenerate after an intended change with ``HOTLINE_UPDATE_GOLDEN=1`` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hotline_ops.notify import render
from tests.notify.samples import incident

GOLDEN = Path(__file__).resolve().parent / "golden"
# incident.* belong to services/messages.py, tested there.
TEMPLATES = sorted(
    p.name for p in (render.TEMPLATES / "notify").glob("*.j2") if not p.name.startswith("incident.")
)


def example_context(name: str) -> dict[str, Any]:
    lang = name.split(".")[1]
    mentions = ("@13877400001",) if name.startswith(("wecom.", "dingtalk.")) else ()
    return render.context(incident(), lang=lang, mentions=mentions)


@pytest.mark.parametrize("name", TEMPLATES)
def test_it_renders_each_template_like_its_golden_file(name: str) -> None:
    text = render.render(f"notify/{name}", example_context(name)) + "\n"
    golden = GOLDEN / f"{name.removesuffix('.j2')}.golden"
    if os.environ.get("HOTLINE_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_it_has_a_golden_file_for_every_template_and_no_orphans() -> None:
    goldens = sorted(p.name.removesuffix(".golden") for p in GOLDEN.glob("*.golden"))
    assert goldens == [t.removesuffix(".j2") for t in TEMPLATES]


def test_it_has_every_channel_template_in_both_languages() -> None:
    zh = sorted(t.replace(".zh-CN.", ".") for t in TEMPLATES if ".zh-CN." in t)
    en = sorted(t.replace(".en.", ".") for t in TEMPLATES if ".en." in t)
    assert zh == en
    assert len(zh) == 7


def test_it_fills_missing_data_with_empty_values() -> None:
    message = type(incident())("k", "主题", "主题\n正文", {})
    ctx = render.context(message)
    assert (ctx["body"], ctx["level_label"], ctx["ack_url"], ctx["incident_id"]) == (
        "正文", "", "", None
    )


def test_it_shows_times_in_asia_shanghai() -> None:
    assert render.context(incident())["opened_at"] == "2026-11-28 10:00"


def test_it_clips_with_an_ellipsis_inside_the_limit() -> None:
    assert render.clip("一二三四五六", 4) == "一二三…"


def test_it_leaves_a_short_text_alone() -> None:
    assert render.clip("一二三", 3) == "一二三"


def test_it_cuts_the_body_before_the_subject() -> None:
    ctx = render.context(incident())
    text = render.render_fitted("notify/sms.zh-CN.txt.j2", ctx, 70)
    assert text == (
        "[梧州12345·一级故障]12345 呼入中继中断 事件编号… 确认：https://ops.example.org/ack/7/3f9a"
    )
    assert len(text) == 70


def test_it_cuts_the_subject_when_the_body_is_gone_and_it_still_does_not_fit() -> None:
    ctx = render.context(incident())
    text = render.render_fitted("notify/sms.zh-CN.txt.j2", ctx, 60)
    assert text == "[梧州12345·一级故障]12345 呼… 确认：https://ops.example.org/ack/7/3f9a"
    assert len(text) == 60


def test_it_measures_bytes_for_the_robots() -> None:
    ctx = render.context(incident())
    text = render.render_fitted("notify/wecom.zh-CN.txt.j2", ctx, 200, render.utf8_bytes)
    assert 197 <= len(text.encode()) <= 200


def test_it_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError) as info:
        render.template_name("sms", "fr", "txt")
    assert str(info.value) == "unknown language 'fr' (known: zh-CN, en)"
