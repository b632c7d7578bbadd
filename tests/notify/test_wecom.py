from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pydantic
import pytest

from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.emulators import WeComRobotEmulator
from hotline_ops.notify.wecom import WeComChannel
from tests.conftest import T0
from tests.notify.samples import ZHANG, incident, long_title

KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
SECRETS = {"ops_robot": KEY}


@pytest.fixture
def robot() -> Iterator[WeComRobotEmulator]:
    with WeComRobotEmulator(clock=FixedClock(T0), keys={KEY}) as emulator:
        yield emulator  # type: ignore[misc]


def _channel(robot: WeComRobotEmulator, **params: object) -> WeComChannel:
    url = f"{robot.url}/cgi-bin/webhook/send"
    return WeComChannel("ops-wecom", {"url": url, "key_secret": "ops_robot", **params}, SECRETS)


def _error(channel: WeComChannel, message=None) -> ChannelError:
    with channel, pytest.raises(ChannelError) as info:
        channel.send(message or incident(None))
    return info.value


def test_it_posts_an_announcement_as_markdown_to_the_group(robot: WeComRobotEmulator) -> None:
    with _channel(robot) as channel:
        channel.send(incident(None))
    assert robot.accepted == [
        {
            "key": KEY,
            "msgtype": "markdown",
            "markdown": {
                "content": "## <font color=\"warning\">"
                "【梧州12345·一级故障】12345 呼入中继中断</font>\n"
                "> 事件编号：#7\n"
                "> 故障等级：一级（重大故障）\n"
                "> 监测对象：trunk/unicom-sip-1\n"
                "> 发生时间：2026-11-28 10:00:00\n"
                "> 合同时限：\n"
                "> - 响应（M2.3a）：2026-11-28 10:30:00 前\n"
                "\n"
                "[点击确认响应](https://ops.example.org/ack/7/3f9a)"
            },
        }
    ]


def test_it_mentions_a_person_known_by_phone_with_a_text_message(
    robot: WeComRobotEmulator,
) -> None:
    with _channel(robot) as channel:
        channel.send(incident(ZHANG))
    sent = robot.accepted[0]
    assert (sent["msgtype"], sent["text"]["mentioned_mobile_list"]) == ("text", ["13877400001"])


def test_it_mentions_a_person_with_a_wecom_id_inside_markdown(robot: WeComRobotEmulator) -> None:
    person = Recipient("张伟", phone="13877400001", wecom_id="ZhangWei")
    with _channel(robot) as channel:
        channel.send(incident(person))
    content = robot.accepted[0]["markdown"]["content"]
    assert content.endswith("\n\n<@ZhangWei> 请及时处理")


def test_it_renders_english_when_asked(robot: WeComRobotEmulator) -> None:
    with _channel(robot, lang="en") as channel:
        channel.send(incident(None))
    assert robot.accepted[0]["markdown"]["content"].endswith(
        "[Acknowledge](https://ops.example.org/ack/7/3f9a)"
    )


def test_it_fits_a_long_title_into_4096_bytes_of_markdown(robot: WeComRobotEmulator) -> None:
    with _channel(robot) as channel:
        channel.send(long_title(None))
    content = robot.accepted[0]["markdown"]["content"]
    assert 4000 < len(content.encode()) <= 4096
    assert content.endswith("…</font>\n\n[点击确认响应](https://ops.example.org/ack/7/3f9a)")


def test_it_fits_a_long_title_into_2048_bytes_of_text(robot: WeComRobotEmulator) -> None:
    with _channel(robot) as channel:
        channel.send(long_title(ZHANG))
    content = robot.accepted[0]["text"]["content"]
    assert 1990 < len(content.encode()) <= 2048
    assert content.endswith("…\n确认响应：https://ops.example.org/ack/7/3f9a")


def test_it_reports_the_robot_rate_limit_45009_as_transient_after_20_a_minute(
    robot: WeComRobotEmulator,
) -> None:
    with _channel(robot) as channel:
        for _ in range(20):
            channel.send(incident(None))
        error = _error(channel)
    assert (error.permanent, error.retry_after) == (False, 60.0)
    assert str(error) == "WeCom robot errcode 45009: api freq out of limit"


def test_it_is_accepted_again_a_minute_after_the_rate_limit(robot: WeComRobotEmulator) -> None:
    with _channel(robot) as channel:
        for _ in range(21):
            with contextlib.suppress(ChannelError):
                channel.send(incident(None))
        robot.clock.advance(60)  # type: ignore[attr-defined]
        channel.send(incident(None))
    assert len(robot.accepted) == 21


def test_it_reports_an_invalid_key_93000_as_permanent_without_the_key(
    robot: WeComRobotEmulator,
) -> None:
    channel = WeComChannel(
        "ops-wecom",
        {"url": f"{robot.url}/cgi-bin/webhook/send", "key_secret": "ops_robot"},
        {"ops_robot": "wrong-key-value"},
    )
    error = _error(channel)
    assert error.permanent is True
    assert str(error) == "WeCom robot errcode 93000: invalid webhook url, hint: [key invalid]"


def test_it_reports_system_busy_as_transient(robot: WeComRobotEmulator) -> None:
    robot.script.append((200, {"errcode": -1, "errmsg": "system busy"}, {}))
    error = _error(_channel(robot))
    assert (error.permanent, str(error)) == (False, "WeCom robot errcode -1: system busy")


def test_it_reports_a_502_as_transient_naming_the_url_without_the_key(
    robot: WeComRobotEmulator,
) -> None:
    robot.script.append((502, {"error": "bad gateway"}, {}))
    error = _error(_channel(robot))
    assert error.permanent is False
    url = f"{robot.url}/cgi-bin/webhook/send"
    assert str(error) == f'HTTP 502 from {url}: {{"error": "bad gateway"}}'


def test_it_reports_a_closed_port_as_transient_without_the_key() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send"
    error = _error(WeComChannel("w", {"url": url, "key_secret": "ops_robot"}, SECRETS))
    assert error.permanent is False
    assert str(error).startswith(f"cannot connect to {url}: ")
    assert KEY not in str(error)


def test_it_masks_the_key_in_repr_even_when_pasted_into_the_url() -> None:
    url = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?debug={KEY}"
    channel = WeComChannel("w", {"url": url, "key_secret": "ops_robot"}, SECRETS)
    assert KEY not in repr(channel)
    assert "send?debug=***" in repr(channel)


def test_it_masks_the_key_in_any_text() -> None:
    channel = WeComChannel("w", {"key_secret": "ops_robot"}, SECRETS)
    assert channel.mask(f"POST /send?key={KEY}") == "POST /send?key=***"


def test_it_names_an_undefined_key_secret() -> None:
    with pytest.raises(ConfigError) as info:
        WeComChannel("w", {"key_secret": "ops_robot"}, {})
    assert str(info.value) == "channel 'w': key_secret 'ops_robot' is not a defined secret"


def test_it_rejects_an_unknown_msgtype() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        WeComChannel("w", {"key_secret": "ops_robot", "msgtype": "news"}, SECRETS)
    assert [e["loc"] for e in info.value.errors()] == [("msgtype",)]


def test_it_declares_20_a_minute_and_needs_no_address() -> None:
    assert (WeComChannel.rate_limit, WeComChannel.requires) == ((20, 60.0), None)


def test_it_mentions_both_ids_in_a_text_robot(robot: WeComRobotEmulator) -> None:
    person = Recipient("张伟", phone="13877400001", wecom_id="ZhangWei")
    with _channel(robot, msgtype="text") as channel:
        channel.send(incident(person))
    text = robot.accepted[0]["text"]
    assert (text["mentioned_list"], text["mentioned_mobile_list"]) == (
        ["ZhangWei"],
        ["13877400001"],
    )


def test_it_sends_a_text_robot_announcement_without_mentions(robot: WeComRobotEmulator) -> None:
    with _channel(robot, msgtype="text") as channel:
        channel.send(incident(None))
    assert set(robot.accepted[0]["text"]) == {"content"}
