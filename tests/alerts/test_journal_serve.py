"""The journal under a real `hotline-ops serve`, SIGKILLed right after its 2xx answers: every
acknowledged alert opens its incident exactly once after the restart."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from hotline_ops.app import build_app
from hotline_ops.core.alerts import AlertIn
from hotline_ops.services import journal
from hotline_ops.settings import load_settings
from tests.alerts import helpers
from tests.support.process import HOTLINE_OPS, free_port, run_cli, wait_for


class Child:
    """`hotline-ops serve --no-probes` with the API token secrets in its environment."""

    def __init__(self, root: Path, log: Path) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
        self.log = log.open("ab")
        listen = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*(HOTLINE_OPS, "--config", str(root), "serve", "--no-probes"), "--listen", listen],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**env, **helpers.SECRETS},
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)

    def wait_healthy(self) -> None:
        def up() -> bool:
            assert self.proc.poll() is None, f"serve exited with {self.proc.returncode}"
            try:
                return self.http.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(up, 30)

    def kill(self) -> None:
        self.http.close()
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def site(tmp_path):
    root = helpers.site(tmp_path / "site")
    assert run_cli(root, "init").returncode == 0
    return root


def figures(root: Path) -> tuple[int, int, int]:
    """(journal entries not yet ingested, alert rows, incidents) in the child's files."""
    var = root.parent / "var"
    engine = create_engine(f"sqlite:///{var / 'hotline-ops.db'}")
    try:
        with engine.connect() as conn:
            position = conn.execute(text("SELECT max(position) FROM alert_journal_position"))
            after = position.scalar_one() or 0
            alerts, incidents = (
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("alerts", "incidents")
            )
    finally:
        engine.dispose()
    with contextlib.closing(sqlite3.connect(var / "alert-journal.db")) as spool:
        pending = spool.execute("SELECT count(*) FROM entries WHERE id > ?", (after,))
        return pending.fetchone()[0], alerts, incidents


def left_by_a_crash(root: Path, count: int) -> None:
    """Entries journaled (answered 2xx) by a process that died before its consumer ran."""
    app = build_app(load_settings(root, env=helpers.SECRETS))
    try:
        now = app.clock.now()
        alerts = [AlertIn({"alertname": "Left", "n": str(n)}) for n in range(count)]
        journal.append_many(app, [("api", [alert], now) for alert in alerts])
    finally:
        app.close()


def test_every_acked_alert_opens_its_incident_once_across_sigkills(site, tmp_path):
    left_by_a_crash(site, 5)
    assert figures(site) == (5, 0, 0)
    first = Child(site, tmp_path / "first.log")
    try:
        first.wait_healthy()
        for n in range(30):
            body = [{"labels": {"alertname": "NumberDown", "number": str(n)}}]
            reply = first.http.post("/api/v2/alerts", json=body, headers=helpers.BEARER["ingest"])
            assert reply.json() == {"received": 1, "stored": "journal"}
    finally:
        first.kill()  # right after the last 2xx: its entry may or may not be ingested yet
    entries, alerts, incidents = figures(site)
    assert (entries + alerts, alerts) == (35, incidents)  # acked = journaled or ingested
    second = Child(site, tmp_path / "second.log")
    try:
        second.wait_healthy()
        assert wait_for(lambda: figures(site)[0] == 0, 20)
    finally:
        second.kill()
    third = Child(site, tmp_path / "third.log")
    try:
        third.wait_healthy()
        time.sleep(0.5)  # room for anything acted on twice to show up
    finally:
        third.kill()
    assert figures(site) == (0, 35, 35)
