"""Notification channels against the local API emulators: cost per send and the rate limits.

    .venv/bin/python bench/channels_emulated.py [--n 200]

For each API channel (WeCom, DingTalk, SMS via the generic gateway and via Alibaba SendSms,
voice) N sends of one incident message, one after another on one keep-alive client, to an
emulator whose rate limits are lifted: wall time per send (median, p99), sends/s. Then the
text fitting alone for a title far over every limit (the binary search over renders). Then,
with the real limits, 25 sends within a minute to a WeCom and a DingTalk robot: how
many pass and what the channel raises for the others. Numbers are for this machine; the
real APIs add an Internet round trip (tens of ms) that dwarfs the local cost.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Message, Recipient
from hotline_ops.notify.emulators import (
    DEMO_SECRETS,
    DingTalkRobotEmulator,
    WeComRobotEmulator,
    demo_channel_params,
    demo_emulators,
)
from hotline_ops.notify.registry import build_channel

UNLIMITED = (10**9, 60.0)
DATA = {"event": "opened", "incident_id": 7, "level": 1, "title": "12345 呼入中继中断",
        "opened_at": "2026-11-28T02:00:00+00:00", "ack_url": "https://ops.example.org/ack/7"}
TEXT = "【梧州12345·一级故障】12345 呼入中继中断\n事件编号：#7\n故障等级：一级（重大故障）"


def message(i: int, title: str = "12345 呼入中继中断") -> Message:
    # A different phone per send: SMS and voice providers limit per number.
    person = Recipient("张伟", phone=f"1387740{i % 10000:04d}")
    subject = f"【梧州12345·一级故障】{title}"
    return Message(f"INC-7:opened:{i}", subject, TEXT, {**DATA, "title": title}, person)


NAMES = ("wecom", "dingtalk", "sms", "aliyun", "voice")
channel_specs = demo_channel_params


def lift_limits(emulators: dict[str, Any]) -> None:
    for emulator in emulators.values():
        window = getattr(emulator, "window", None)
        if window is not None:
            window.count = UNLIMITED[0]


def bench_sends(n: int) -> None:
    emulators = demo_emulators(base_port=None)
    for emulator in emulators.values():
        emulator.start()
    lift_limits(emulators)
    print(f"{'channel':9} {'sends':>6} {'median ms':>10} {'p99 ms':>8} {'sends/s':>8}")
    try:
        urls = {name: e.url for name, e in emulators.items()}
        for name, (kind, params) in channel_specs(urls).items():
            with build_channel(name, kind, params, DEMO_SECRETS) as channel:
                channel.send(message(0))  # connection and imports out of the measurement
                times = []
                for i in range(1, n + 1):
                    start = time.perf_counter()
                    channel.send(message(i))
                    times.append(time.perf_counter() - start)
            p99 = statistics.quantiles(times, n=100)[98]
            print(f"{name:9} {n:6d} {statistics.median(times) * 1e3:10.2f} {p99 * 1e3:8.2f} "
                  f"{n / sum(times):8.0f}")
    finally:
        for emulator in emulators.values():
            emulator.stop()


def bench_fitting(n: int) -> None:
    long = message(1, "梧州市12345热线呼入中继全部中断" * 1000)
    specs = channel_specs(dict.fromkeys(NAMES, "http://127.0.0.1:9"))
    wecom = build_channel("w", *specs["wecom"], DEMO_SECRETS)
    wecom_md = Message(long.dedup_key, long.subject, long.text, long.data)  # announcement
    dingtalk = build_channel("d", *specs["dingtalk"], DEMO_SECRETS)
    sms = build_channel("s", *specs["sms"], DEMO_SECRETS)
    voice = build_channel("v", *specs["voice"], DEMO_SECRETS)
    cases = {
        "wecom markdown ≤ 4096 B": lambda: wecom.payload(wecom_md),
        "dingtalk markdown ≤ 20000 B": lambda: dingtalk.payload(long),
        "sms ≤ 3 segments": lambda: sms.text(long),
        "voice tts ≤ 200 chars": lambda: voice.tts(long),
    }
    print(f"\nfitting a {len(long.subject)}-character title, {n} times each")
    for label, fit in cases.items():
        fit()
        start = time.perf_counter()
        for _ in range(n):
            fit()
        print(f"  {label:28} {(time.perf_counter() - start) / n * 1e3:7.2f} ms per message")


def bench_rate_limits() -> None:
    print("\n25 sends within one minute (limits as the providers document them)")
    robots = {
        # Wall clocks: the DingTalk robot checks the channel's timestamp against its own.
        "wecom": WeComRobotEmulator(keys={DEMO_SECRETS["wecom_robot_key"]}),
        "dingtalk": DingTalkRobotEmulator(
            tokens={DEMO_SECRETS["dingtalk_token"]: DEMO_SECRETS["dingtalk_secret"]},
        ),
    }
    for name, robot in robots.items():
        with robot:
            kind, params = channel_specs(dict.fromkeys(NAMES, robot.url))[name]
            outcomes: dict[str, int] = {}
            with build_channel(name, kind, params, DEMO_SECRETS) as channel:
                for i in range(25):
                    try:
                        channel.send(Message(f"k{i}", "测试", "测试", DATA))
                        key = "ok"
                    except ChannelError as exc:
                        key = f"{exc} (permanent={exc.permanent}, retry_after={exc.retry_after})"
                    outcomes[key] = outcomes.get(key, 0) + 1
        for key, count in outcomes.items():
            print(f"  {name:9} {count:3d} × {key}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    bench_sends(args.n)
    bench_fitting(50)
    bench_rate_limits()


if __name__ == "__main__":
    main()
