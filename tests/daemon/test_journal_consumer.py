"""The daemon's journal consumer in-process: it drains what a crash left on start, it is woken
by a journal commit long before its poll, and with the daemon stopped requests drain again."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from hotline_ops.app import build_app
from hotline_ops.clock import SystemClock
from hotline_ops.core.alerts import AlertIn
from hotline_ops.daemon import Daemon
from hotline_ops.services import journal
from hotline_ops.settings import load_settings
from hotline_ops.store.models import Incident
from tests.support.content import write_content

SLOW_POLL = {"timer_poll_s": 30, "outbox_poll_s": 30, "journal_poll_s": 30}


def slow_poll_app(tmp_path):
    root = write_content(tmp_path / "site", targets=[], settings={"daemon": SLOW_POLL})
    app = build_app(load_settings(root, env={}), clock=SystemClock())
    app.store.upgrade()
    return app


def figures(app) -> tuple[int, int]:
    with app.store.session() as session:
        return journal.pending(app), session.scalar(select(func.count()).select_from(Incident))


def down(name: str) -> tuple[str, list[AlertIn], object]:
    return ("api", [AlertIn({"alertname": "TrunkDown", "trunk": name})], SystemClock().now())


def test_it_drains_on_start_and_wakes_on_a_journal_commit(tmp_path):
    app = slow_poll_app(tmp_path)
    journal.append_many(app, [down("ct-1"), down("ct-2")])  # left by a crashed server

    async def main() -> tuple[tuple[int, int], float, int]:
        daemon = Daemon(app, probes=False)
        daemon.start()
        try:
            await asyncio.sleep(0.5)
            on_start = await asyncio.to_thread(figures, app)
            started = time.monotonic()
            await journal.committer(app).append(*down("ct-3"))
            while (await asyncio.to_thread(figures, app)) != (0, 3):
                assert time.monotonic() - started < 10, "the 30 s poll never came"
                await asyncio.sleep(0.01)
            return on_start, time.monotonic() - started, journal.state(app).consumers
        finally:
            await daemon.shutdown()

    on_start, took, consumers = asyncio.run(main())
    assert (on_start, consumers, journal.state(app).consumers) == ((0, 2), 1, 0)
    assert took < 10
    app.close()
