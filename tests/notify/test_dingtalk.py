from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from datetime import timedelta

import pytest

from hotline_ops.clock import FixedClock
from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Recipient
from hotline_ops.notify.dingtalk import DingTalkChannel, sign
from hotline_ops.notify.emulators import DingTalkRobotEmulator
from tests.conftest import T0
from tests.notify.samples import ZHANG, incident, long_title

TOKEN = "c1f0e0b7a5d24e21b9a0token0000000000000000000000000000000000000000"
SECRET = "SEC5b3e1d0c7a9f4e2d8c6b4a2f0e1d3c5b7a9f8e6d4c2b0a1f3e5d7c9b8a6f4e2"
SECRETS = {"dt_token": TOKEN, "dt_sign": SECRET}
T0_MS = int(T0.timestamp() * 1000)


@pytest.fixture
def robot() -> Iterator[DingTalkRobotEmulator]:
    with DingTalkRobotEmulator(clock=FixedClock(T0), tokens={TOKEN: SECRET}) as emulator:
        yield emulator  # type: ignore[misc]


def _channel(robot: DingTalkRobotEmulator, clock=None, secrets=SECRETS, **params: object):
    params = {
        "url": f"{robot.url}/robot/send",
        "token_secret": "dt_token",
        "sign_secret": "dt_sign",
        **params,
    }
    return DingTalkChannel("ops-dingtalk", params, secrets, clock=clock or FixedClock(T0))


def _error(channel: DingTalkChannel, message=None) -> ChannelError:
    with channel, pytest.raises(ChannelError) as info:
        channel.send(message or incident(None))
    return info.value


def test_it_is_accepted_by_a_robot_that_checks_the_signature(
    robot: DingTalkRobotEmulator,
) -> None:
    with _channel(robot) as channel:
        channel.send(incident(None))
    assert [a["markdown"]["title"] for a in robot.accepted] == [
        "【梧州12345·一级故障】12345 呼入中继中断"
    ]


def test_it_signs_timestamp_newline_secret_with_hmac_sha256(robot: DingTalkRobotEmulator) -> None:
    with _channel(robot) as channel:
        channel.send(incident(None))
    query = robot.requests[0].query  # as the server decoded it
    expected = hmac.new(SECRET.encode(), f"{T0_MS}\n{SECRET}".encode(), hashlib.sha256)
    assert query["timestamp"] == str(T0_MS)
    assert query["sign"] == base64.b64encode(expected.digest()).decode()


def test_it_url_encodes_the_signature() -> None:
    channel = DingTalkChannel(
        "d", {"token_secret": "dt_token", "sign_secret": "dt_sign"}, SECRETS, clock=FixedClock(T0)
    )
    signature = sign(SECRET, T0_MS)
    encoded = signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    assert channel.signed_url().endswith(f"&timestamp={T0_MS}&sign={encoded}")


def test_it_mentions_the_recipient_phone_in_at_mobiles_and_in_the_text(
    robot: DingTalkRobotEmulator,
) -> None:
    with _channel(robot) as channel:
        channel.send(incident(ZHANG))
    sent = robot.accepted[0]
    assert sent["at"] == {"isAtAll": False, "atMobiles": ["13877400001"]}
    assert sent["markdown"]["text"].endswith("\n@13877400001 请及时处理")


def test_it_mentions_a_dingtalk_user_id_too(robot: DingTalkRobotEmulator) -> None:
    person = Recipient("张伟", phone="13877400001", dingtalk_id="manager4220")
    with _channel(robot) as channel:
        channel.send(incident(person))
    assert robot.accepted[0]["at"]["atUserIds"] == ["manager4220"]


def test_it_renders_the_incident_as_markdown(robot: DingTalkRobotEmulator) -> None:
    with _channel(robot) as channel:
        channel.send(incident(None))
    assert robot.accepted[0]["markdown"]["text"] == (
        "#### 【梧州12345·一级故障】12345 呼入中继中断\n\n"
        "> 事件编号：#7\n\n"
        "> 故障等级：一级（重大故障）\n\n"
        "> 监测对象：trunk/unicom-sip-1\n\n"
        "> 发生时间：2026-11-28 10:00:00\n\n"
        "> 合同时限：\n\n"
        "> - 响应（M2.3a）：2026-11-28 10:30:00 前\n\n"
        "[点击确认响应](https://ops.example.org/ack/7/3f9a)"
    )


def test_it_fits_a_long_title_into_20000_bytes(robot: DingTalkRobotEmulator) -> None:
    message = long_title(ZHANG, repeat=1000)
    with _channel(robot) as channel:
        channel.send(message)
    text = robot.accepted[0]["markdown"]["text"]
    assert 19900 < len(text.encode()) <= 20000
    ack = "[点击确认响应](https://ops.example.org/ack/7/3f9a)"
    assert text.endswith(f"…\n\n{ack}\n\n@13877400001 请及时处理")
    assert len(robot.accepted[0]["markdown"]["title"]) == 64


def test_it_reports_a_wrong_secret_310000_as_permanent(robot: DingTalkRobotEmulator) -> None:
    error = _error(_channel(robot, secrets={"dt_token": TOKEN, "dt_sign": "SECwrong"}))
    assert error.permanent is True
    assert str(error).startswith("DingTalk robot errcode 310000: sign not match")


def test_it_reports_a_timestamp_over_an_hour_off_as_permanent(
    robot: DingTalkRobotEmulator,
) -> None:
    late_clock = FixedClock(T0 - timedelta(hours=1, seconds=1))
    error = _error(_channel(robot, clock=late_clock))
    assert error.permanent is True
    assert str(error) == f"DingTalk robot errcode 310000: invalid timestamp {T0_MS - 3601000}"


def test_it_accepts_a_timestamp_just_within_the_hour(robot: DingTalkRobotEmulator) -> None:
    with _channel(robot, clock=FixedClock(T0 - timedelta(hours=1))) as channel:
        channel.send(incident(None))
    assert len(robot.accepted) == 1


def test_it_reports_an_unknown_token_300001_as_permanent_without_the_token(
    robot: DingTalkRobotEmulator,
) -> None:
    error = _error(_channel(robot, secrets={"dt_token": "not-the-token", "dt_sign": SECRET}))
    assert error.permanent is True
    assert str(error) == "DingTalk robot errcode 300001: token is not exist"


def test_it_reports_a_missing_keyword_as_permanent() -> None:
    emulator = DingTalkRobotEmulator(clock=FixedClock(T0), tokens={TOKEN: None}, keywords=("告警",))
    with emulator:
        channel = DingTalkChannel(
            "d", {"url": f"{emulator.url}/robot/send", "token_secret": "dt_token"}, SECRETS
        )
        error = _error(channel)
    assert (error.permanent, str(error)) == (
        True,
        "DingTalk robot errcode 310000: keywords not in content",
    )


def test_it_sends_no_signature_without_a_sign_secret() -> None:
    channel = DingTalkChannel("d", {"token_secret": "dt_token"}, SECRETS)
    assert channel.signed_url() == f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"


def test_it_reports_send_too_fast_130101_as_transient_with_the_10_minute_throttle(
    robot: DingTalkRobotEmulator,
) -> None:
    with _channel(robot) as channel:
        for _ in range(20):
            channel.send(incident(None))
        error = _error(channel)
    assert (error.permanent, error.retry_after) == (False, 600.0)
    assert str(error) == "DingTalk robot errcode 130101: send too fast, exceed 20 times per minute"


def test_it_stays_throttled_for_10_minutes_not_1(robot: DingTalkRobotEmulator) -> None:
    clock = FixedClock(T0)
    robot.clock = clock
    outcomes = []
    with _channel(robot, clock=clock) as channel:
        for step in (0,) * 21 + (60, 539, 1):
            clock.advance(step)
            try:
                channel.send(incident(None))
                outcomes.append("ok")
            except ChannelError:
                outcomes.append("130101")
    assert outcomes[20:] == ["130101", "130101", "130101", "ok"]


def test_it_never_shows_token_or_secret_in_repr_or_errors(robot: DingTalkRobotEmulator) -> None:
    error = _error(_channel(robot, secrets={"dt_token": TOKEN, "dt_sign": "SECwrong"}))
    shown = repr(_channel(robot)) + str(error)
    assert TOKEN not in shown
    assert SECRET not in shown


def test_it_names_an_undefined_sign_secret() -> None:
    with pytest.raises(ConfigError) as info:
        DingTalkChannel("d", {"token_secret": "dt_token", "sign_secret": "nope"}, SECRETS)
    assert str(info.value) == "channel 'd': sign_secret 'nope' is not a defined secret"


def test_it_declares_20_a_minute_and_needs_no_address() -> None:
    assert (DingTalkChannel.rate_limit, DingTalkChannel.requires) == ((20, 60.0), None)
