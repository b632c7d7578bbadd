"""tickets/satisfaction.yaml and the callback additions: shipped files load, bad ones fail
with file:line and the field."""

from __future__ import annotations

import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.ticket_content import load_tickets
from tests.tickets.helpers import ROOT, ticket_site


def _edit(tmp_path, name: str, old: str, new: str):
    ticket_site(tmp_path / "site")
    path = tmp_path / "site" / "tickets" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path.parent


def test_the_shipped_survey_has_three_dimensions_a_custom_item_and_no_sms_channel():
    content = load_tickets(ROOT / "tickets", channels={"ops-webhook"})
    survey = content.survey
    assert [k for k, _ in survey.items()] == ["attitude", "efficiency", "result", "时效"]
    assert survey.ivr.keys == {"1": 3, "2": 2, "3": 1}
    assert survey.scale.labels == {3: "满意", 2: "基本满意", 1: "不满意"}
    assert (survey.sms.channel, survey.sms.link_ttl) == (None, 7 * 86400)
    assert content.callback.script_for("050101") == "wage"
    assert content.callback.script_for("040101") is None
    assert content.callback.max_attempts == 3


def test_it_refuses_an_sms_channel_that_does_not_exist(tmp_path):
    folder = _edit(tmp_path, "satisfaction.yaml", "channel: null", "channel: sms-gw")
    with pytest.raises(
        ConfigError, match=r"satisfaction\.yaml:\d+: sms\.channel: unknown channel 'sms-gw'"
    ):
        load_tickets(folder, channels={"ops"})


def test_it_refuses_an_sms_text_without_the_link(tmp_path):
    folder = _edit(tmp_path, "satisfaction.yaml", "请评价：{url}", "请回电评价")
    with pytest.raises(ConfigError, match=r"satisfaction\.yaml:\d+: sms\.text: .*must carry"):
        load_tickets(folder)


def test_it_refuses_an_ivr_key_with_a_score_off_the_scale(tmp_path):
    folder = _edit(tmp_path, "satisfaction.yaml", '"3": 1}', '"3": 4}')
    with pytest.raises(ConfigError, match=r"satisfaction\.yaml:\d+: ivr\.keys: .*3: score must"):
        load_tickets(folder)


def test_it_refuses_dimensions_other_than_the_three(tmp_path):
    folder = _edit(tmp_path, "satisfaction.yaml", "  result: 办理结果\n", "")
    with pytest.raises(ConfigError, match=r"satisfaction\.yaml:\d+: dimensions: .*exactly"):
        load_tickets(folder)


def test_it_refuses_a_category_script_that_does_not_exist(tmp_path):
    folder = _edit(tmp_path, "callback.yaml", '"05": wage', '"05": salary')
    with pytest.raises(ConfigError, match=r"callback\.yaml:\d+: .*categories\.05: unknown script"):
        load_tickets(folder)


def test_it_refuses_a_callback_category_not_in_the_catalogue(tmp_path):
    folder = _edit(tmp_path, "callback.yaml", '"05": wage', '"77": wage')
    with pytest.raises(ConfigError, match=r"callback\.yaml: categories\.77: unknown category"):
        load_tickets(folder)
