"""Idle passes of the daemon's outbox and timer loops: one read on the event loop tells
that nothing is pending or due, and the pass (a worker thread, which would share the
interpreter lock with the requests) is skipped. Where the store cannot be read on the loop
(PostgreSQL), the pass runs as before."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from hotline_ops.daemon import Daemon
from hotline_ops.services import incidents, outbox, timers
from tests.conftest import T0
from tests.support.content import write_content


@pytest.fixture
def app(tmp_path, store_url, make_app):
    return make_app(write_content(tmp_path / "site", targets=[]), store_url)


def test_the_loop_read_is_offered_on_a_sqlite_file_only(app, store_url):
    with app.store.loop_read() as connection:
        assert (connection is not None) == store_url.startswith("sqlite")


def test_an_empty_outbox_is_surely_idle_and_a_pending_message_is_not(app, store_url):
    on_sqlite = store_url.startswith("sqlite")
    assert outbox.surely_idle(app) is on_sqlite
    incidents.create(app, title="trunk down", actor="t", level=2)  # queues its notice
    assert outbox.surely_idle(app) is False


def test_the_next_due_time_is_peeked_on_the_loop(app, store_url):
    on_sqlite = store_url.startswith("sqlite")
    assert timers.peek_next_due(app) == (on_sqlite, None)
    incidents.create(app, title="trunk down", actor="t", level=2)
    # The first deadline: the response timer's warning at 50 % of 30 min.
    expected = (True, T0 + timedelta(minutes=15)) if on_sqlite else (False, None)
    assert timers.peek_next_due(app) == expected
    assert timers.next_due(app) == T0 + timedelta(minutes=15)


def test_a_failing_read_falls_back_to_the_pass(app, monkeypatch):
    def broken():
        raise RuntimeError("disk gone")

    monkeypatch.setattr(app.store, "loop_read", broken)
    assert outbox.surely_idle(app) is False
    assert timers.peek_next_due(app) == (False, None)


def test_idle_loops_run_no_pass_and_still_count_as_alive(tmp_path, make_app, monkeypatch):
    fast = {"daemon": {"timer_poll_s": 0.02, "outbox_poll_s": 0.02}}
    app = make_app(write_content(tmp_path / "fast", targets=[], settings=fast))
    passes = {"outbox": 0, "timers": 0}

    def counted(name):
        def run(_app):
            passes[name] += 1
            return 0

        return run

    monkeypatch.setattr(outbox, "deliver_due", counted("outbox"))
    monkeypatch.setattr(timers, "fire_due", counted("timers"))

    async def main() -> tuple[dict[str, int], set[str]]:
        daemon = Daemon(app, probes=False)
        daemon.start()
        try:
            await asyncio.sleep(0.3)  # about 15 polls of each loop
            idle = dict(passes)
            ticked = {name for name in ("outbox", "timers") if name in daemon.last_tick}
            await asyncio.to_thread(incidents.create, app, title="t", actor="t", level=2)
            await asyncio.sleep(0.3)  # its notice is pending (no pass sends it here)
            return idle, ticked
        finally:
            await daemon.shutdown()

    idle, ticked = asyncio.run(main())
    assert idle == {"outbox": 0, "timers": 0}
    assert ticked == {"outbox", "timers"}
    assert passes["outbox"] >= 2 and passes["timers"] == 0  # the deadlines are 30 min off


def test_the_daemon_builds_each_http_channels_client_before_serving(tmp_path, make_app):
    """The first client imports httpx and loads the trust store (a third of a second):
    paid at start, not by the first notification beside the requests."""
    channels = {
        "hook": {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "timeout_s": 2},
        "ops": {"kind": "fake"},
    }
    app = make_app(write_content(tmp_path / "warm", targets=[], channels=channels))
    assert app.channels["hook"]._client is None  # lazy: building channels opens nothing

    async def main() -> None:
        daemon = Daemon(app, probes=False)
        daemon.start()
        await daemon.shutdown()

    asyncio.run(main())
    assert app.channels["hook"]._client is not None
