"""The daemon's loops in-process: the outbox wakes on enqueue instead of waiting for its poll,
a loop cancelled at shutdown ends without an error log, and /metrics carries each loop's age."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from prometheus_client import generate_latest

from hotline_ops.app import build_app
from hotline_ops.clock import FixedClock, SystemClock
from hotline_ops.daemon import Daemon
from hotline_ops.metrics import build_registry
from hotline_ops.notify import fake
from hotline_ops.services import incidents
from hotline_ops.settings import load_settings
from tests.conftest import T0
from tests.support.content import LEVELS, write_content

SLOW_POLL = {"timer_poll_s": 30, "outbox_poll_s": 30, "backoff_base_s": 1, "backoff_max_s": 4}


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


def slow_poll_app(tmp_path, clock=None, levels=None):
    root = write_content(
        tmp_path / "site", targets=[], settings={"daemon": SLOW_POLL}, levels=levels
    )
    app = build_app(load_settings(root, env={}), clock=clock or SystemClock())
    app.store.upgrade()
    return app


def test_it_delivers_a_new_notification_long_before_the_outbox_poll(tmp_path):
    app = slow_poll_app(tmp_path)

    async def main() -> float:
        daemon = Daemon(app, probes=False)
        daemon.start()
        try:
            await asyncio.sleep(0.5)  # the first pass ran and found nothing; next poll in 30 s
            started = time.monotonic()
            await asyncio.to_thread(incidents.create, app, title="trunk down", actor="t", level=2)
            while not fake.SENT.get("ops") and time.monotonic() - started < 10:
                await asyncio.sleep(0.02)
            return time.monotonic() - started
        finally:
            await daemon.shutdown()

    took = asyncio.run(main())
    app.close()
    assert [m.dedup_key for m in fake.SENT.get("ops", [])] == ["incident:1:opened:ops"]
    assert took < 10  # the 30 s poll never came: the commit woke the loop


def test_it_ends_a_loop_cancelled_at_shutdown_without_an_error_log(tmp_path, caplog):
    app = slow_poll_app(tmp_path)
    entered = threading.Event()

    def slow(_app) -> None:
        entered.set()
        time.sleep(0.3)

    async def main() -> None:
        daemon = Daemon(app, probes=False)
        task = asyncio.create_task(daemon._guarded("timers", slow))
        await asyncio.to_thread(entered.wait, 5)
        task.cancel()
        await task  # returns: the cancellation is the shutdown, not a failure

    with caplog.at_level(logging.DEBUG, logger="hotline_ops.daemon"):
        asyncio.run(main())
    app.close()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "timers loop cancelled at shutdown")
    ]


def test_it_exports_the_age_of_each_loop(tmp_path):
    clock = FixedClock(T0)
    app = slow_poll_app(tmp_path, clock)
    daemon = Daemon(app, probes=False)
    daemon.started = clock.monotonic()
    clock.advance(5)
    daemon.last_tick = {"timers": clock.monotonic(), "outbox": clock.monotonic() - 2}
    clock.advance(1.5)
    text = generate_latest(build_registry(app, daemon)).decode()
    app.close()
    assert [line for line in text.splitlines() if line.startswith("hotline_ops_loop_age")] == [
        'hotline_ops_loop_age_seconds{loop="alerts"} 6.5',
        'hotline_ops_loop_age_seconds{loop="outbox"} 3.5',
        'hotline_ops_loop_age_seconds{loop="rollups"} 6.5',
        'hotline_ops_loop_age_seconds{loop="timers"} 1.5',
    ]


def test_it_fires_a_timer_at_its_due_time_not_at_the_next_poll(tmp_path):
    levels = {**LEVELS, "warn_at": [], "levels": {**LEVELS["levels"]}}
    levels["levels"][2] = {
        "name": "核心功能故障",
        "channels": ["ops"],
        "timers": {"response": {"after": "2s", "clause": "M2.1b"}},
    }
    app = slow_poll_app(tmp_path, levels=levels)

    async def main() -> float:
        daemon = Daemon(app, probes=False)
        await asyncio.to_thread(incidents.create, app, title="trunk down", actor="t", level=2)
        started = time.monotonic()
        daemon.start()
        try:
            while "incident:1:breach:response:ops" not in keys() and (
                time.monotonic() - started < 15
            ):
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            await daemon.shutdown()

    def keys() -> list[str]:
        return [m.dedup_key for m in fake.SENT.get("ops", [])]

    took = asyncio.run(main())
    app.close()
    assert "incident:1:breach:response:ops" in keys()
    assert took < 15  # due after 2 s; the next 30 s poll never came
