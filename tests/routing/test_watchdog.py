"""The dead-man heartbeat pings a real local HTTP server (healthchecks.io style: the URL
while every loop is fresh, URL/fail naming the stalled loops otherwise); `selfcheck` reads
the loop ages from the real server's /healthz and alerts through a channel."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from hotline_ops.app import build_app
from hotline_ops.cli.main import cli
from hotline_ops.daemon import Daemon
from hotline_ops.notify import fake
from hotline_ops.server import create_app
from hotline_ops.services import watchdog
from hotline_ops.settings import load_settings
from tests.support.content import write_content


class Pings:
    """Records (method, path, body) of every request, answers 200."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                size = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(size).decode() if size else ""
                outer.seen.append((self.command, self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/ping/3f2a"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def fresh_fake():
    fake.reset()
    yield
    fake.reset()


@pytest.fixture
def pings():
    server = Pings()
    yield server
    server.close()


@pytest.fixture
def app(tmp_path, clock, pings):
    watch = {"heartbeat_url_secret": "heartbeat_url", "stall_after_s": 60, "alert_channel": "ops"}
    root = write_content(tmp_path / "site", settings={"watchdog": watch})
    env = {"HOTLINE_OPS_SECRET_HEARTBEAT_URL": pings.url}
    built = build_app(load_settings(root, env=env), clock=clock)
    built.store.upgrade()
    yield built
    built.close()


FRESH = {"timers": 0.5, "outbox": 1.0, "rollups": 20.0, "alerts": 3.0}


def test_it_pings_the_heartbeat_url_while_every_loop_is_fresh(app, pings):
    assert watchdog.beat(app, FRESH) == "ok"
    assert pings.seen == [("POST", "/ping/3f2a", "ok")]


def test_it_pings_fail_naming_the_stalled_loop(app, pings):
    watchdog.beat(app, {**FRESH, "outbox": 301.0, "alerts": None})
    assert pings.seen == [
        ("POST", "/ping/3f2a/fail", "stalled: alerts (never ran), outbox (301s ago)")
    ]


def daemon_with_ages(app, ages: dict[str, float]) -> Daemon:
    daemon = Daemon(app, probes=False)
    app.clock.advance(1000)
    now = app.clock.monotonic()
    daemon.last_tick = {name: now - age for name, age in ages.items()}
    return daemon


def selfcheck_against(app, daemon, monkeypatch, *args):
    """`selfcheck` reading the real server's /healthz in-process (no socket)."""
    transport = _SyncASGI(create_app(app, daemon=daemon))
    original = watchdog.selfcheck
    monkeypatch.setattr(
        watchdog, "selfcheck", lambda app_, **kw: original(app_, transport=transport, **kw)
    )
    return CliRunner().invoke(cli, ["selfcheck", *args], obj=app)


class _SyncASGI(httpx.BaseTransport):
    """httpx's ASGITransport is async only; run each request on a private event loop."""

    def __init__(self, api: Any) -> None:
        self.inner = httpx.ASGITransport(app=api)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.inner) as client:
                response = await client.request(request.method, str(request.url))
                await response.aread()
                return response

        response = asyncio.run(send())
        return httpx.Response(
            response.status_code, content=response.content, headers=response.headers
        )


def test_it_passes_selfcheck_when_every_loop_ticked_recently(app, monkeypatch):
    result = selfcheck_against(app, daemon_with_ages(app, FRESH), monkeypatch)
    assert (result.exit_code, result.output.strip()) == (
        0,
        "OK: all loops alive (alerts 3.0s, outbox 1.0s, rollups 20.0s, timers 0.5s)",
    )


def test_it_fails_selfcheck_naming_the_stalled_loop_and_alerts(app, monkeypatch):
    stalled = daemon_with_ages(app, {**FRESH, "outbox": 300.0})
    result = selfcheck_against(app, stalled, monkeypatch)
    [alert] = fake.SENT["ops"]
    assert (result.exit_code, result.output.splitlines()) == (
        1,
        ["FAILED: stalled loop(s): outbox (300s ago)", "alert: sent"],
    )
    assert alert.text.splitlines()[1] == "问题：stalled loop(s): outbox (300s ago)"


def test_it_fails_selfcheck_when_the_daemon_does_not_answer(app):
    result = CliRunner().invoke(
        cli, ["selfcheck", "--url", "http://127.0.0.1:9/healthz", "--json"], obj=app
    )
    data = json.loads(result.output)
    assert (
        result.exit_code,
        data["problem"].startswith("daemon not answering at"),
        data["alerted"],
    ) == (1, True, "sent")


def test_it_wires_the_heartbeat_into_the_daemon(app, pings):
    daemon = Daemon(app, probes=False)
    daemon.last_tick = {"timers": app.clock.monotonic()}  # only the timer loop ever ran
    asyncio.run(daemon._heartbeat())
    assert pings.seen == [
        (
            "POST",
            "/ping/3f2a/fail",
            "stalled: alerts (never ran), outbox (never ran), rollups (never ran)",
        )
    ]
