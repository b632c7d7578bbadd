"""The emulators themselves, and the shipped example channels run against them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hotline_ops import content
from hotline_ops.clock import FixedClock
from hotline_ops.errors import ConfigError
from hotline_ops.notify.emulators import (
    DEMO_SECRETS,
    Emulator,
    RateWindow,
    WeComRobotEmulator,
    demo_emulators,
    send_demo,
)
from tests.conftest import ROOT, T0
from tests.notify.samples import incident

MARKER = "  # ---8<--- examples\n"
DEMO_PORTS = {"8351": "wecom", "8352": "dingtalk", "8353": "sms", "8354": "aliyun", "8355": "voice"}


@pytest.fixture
def emulators() -> Iterator[dict[str, Emulator]]:
    # Ephemeral ports: other test runs may hold the demo ports 8351-8355.
    running = demo_emulators(base_port=None)
    for emulator in running.values():
        emulator.start()
    yield running
    for emulator in running.values():
        emulator.stop()


def _uncommented_examples(emulators: dict[str, Emulator], tmp_path: Path) -> Path:
    text = (ROOT / "incidents" / "channels.yaml").read_text(encoding="utf-8")
    head, examples = text.split(MARKER)
    examples = re.sub(r"^  # ", "  ", examples, flags=re.MULTILINE)
    for port, name in DEMO_PORTS.items():
        examples = examples.replace(f"http://127.0.0.1:{port}", emulators[name].url)
    path = tmp_path / "channels.yaml"
    path.write_text(head + examples, encoding="utf-8")
    return path


def test_it_loads_every_commented_example_channel(
    emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    secrets = {**DEMO_SECRETS, "smtp_password": "x"}
    channels = content.load_channels(_uncommented_examples(emulators, tmp_path), secrets)
    assert {name: ch.kind for name, ch in channels.items()} == {
        "ops-webhook": "webhook",
        "ops-wecom": "wecom",
        "ops-dingtalk": "dingtalk",
        "oncall-sms": "sms",
        "oncall-aliyun-sms": "sms",
        "oncall-voice": "voice",
        "oncall-mail": "email",
    }


def test_it_delivers_through_every_example_api_channel(
    emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    secrets = {**DEMO_SECRETS, "smtp_password": "x"}
    channels = content.load_channels(_uncommented_examples(emulators, tmp_path), secrets)
    for name in ("ops-wecom", "ops-dingtalk", "oncall-sms", "oncall-aliyun-sms", "oncall-voice"):
        with channels[name] as channel:
            channel.send(incident())
    assert {name: len(e.accepted) for name, e in emulators.items()} == dict.fromkeys(
        emulators, 1
    )


def test_it_names_the_missing_secret_of_an_example(
    emulators: dict[str, Emulator], tmp_path: Path
) -> None:
    path = _uncommented_examples(emulators, tmp_path)
    secrets = {k: v for k, v in DEMO_SECRETS.items() if k != "dingtalk_secret"}
    with pytest.raises(ConfigError) as info:
        content.load_channels(path, {**secrets, "smtp_password": "x"})
    assert re.fullmatch(
        rf"{re.escape(str(path))}:\d+: channels\.ops-dingtalk: channel 'ops-dingtalk': "
        r"sign_secret 'dingtalk_secret' is not a defined secret",
        str(info.value),
    )


def test_it_allows_count_events_per_window_and_slides() -> None:
    window = RateWindow(2, 60.0)
    outcomes = [window.allow("k", t) for t in (0.0, 10.0, 20.0, 59.9, 60.0, 70.0, 70.1)]
    assert outcomes == [True, True, False, False, True, True, False]


def test_it_says_when_the_window_frees_up() -> None:
    window = RateWindow(1, 60.0)
    window.allow("k", 100.0)
    assert window.retry_after("k", 130.0) == 30.0


def test_it_keeps_a_window_per_key() -> None:
    window = RateWindow(1, 60.0)
    assert [window.allow("a", 0.0), window.allow("b", 0.0), window.allow("a", 1.0)] == [
        True, True, False
    ]


def test_it_serves_scripted_answers_first() -> None:
    with WeComRobotEmulator(clock=FixedClock(T0), keys={"k"}) as robot:
        robot.script.append((503, {"errcode": -1, "errmsg": "busy"}, {}))
        url = f"{robot.url}/cgi-bin/webhook/send?key=k"
        body = {"msgtype": "text", "text": {"content": "测试"}}
        statuses = [httpx.post(url, json=body).status_code for _ in range(2)]
    assert statuses == [503, 200]


def test_it_refuses_markdown_over_4096_bytes_like_wecom() -> None:
    with WeComRobotEmulator(clock=FixedClock(T0), keys={"k"}) as robot:
        url = f"{robot.url}/cgi-bin/webhook/send?key=k"
        body = {"msgtype": "markdown", "markdown": {"content": "字" * 1366}}  # 4098 bytes
        answer = httpx.post(url, json=body).json()
    assert answer == {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}


def test_it_sends_the_demo_incident_through_a_channel_to_each_emulator(
    emulators: dict[str, Emulator],
) -> None:
    send_demo(emulators)
    assert [(name, len(e.accepted)) for name, e in emulators.items()] == [
        ("wecom", 1), ("dingtalk", 1), ("sms", 1), ("aliyun", 1), ("voice", 1)
    ]


def test_it_answers_503_during_an_outage_and_recovers_after_it() -> None:
    clock = FixedClock(T0)
    with WeComRobotEmulator(clock=clock, keys={"k"}) as robot:
        url = f"{robot.url}/cgi-bin/webhook/send?key=k"
        body = {"msgtype": "text", "text": {"content": "测试"}}
        robot.outage(600)
        statuses = [httpx.post(url, json=body).status_code]
        clock.advance(599)
        statuses.append(httpx.post(url, json=body).status_code)
        clock.advance(1)
        statuses.append(httpx.post(url, json=body).status_code)
    assert (statuses, len(robot.accepted)) == ([503, 503, 200], 1)
