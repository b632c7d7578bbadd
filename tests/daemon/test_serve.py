"""`hotline-ops serve` as a real process: health, metrics, clean stop, crash and restart."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import create_engine, text

from tests.support.content import LEVELS, write_content
from tests.support.migrations import HEAD
from tests.support.process import Serve, run_cli, wait_for


@pytest.fixture
def listener():
    """A real TCP port for the tcp target."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def serve_site(tmp_path, listener, receiver):
    root = write_content(
        tmp_path / "site",
        targets=[
            {
                "name": "peer-tcp",
                "kind": "tcp",
                "host": "127.0.0.1",
                "port": listener,
                "interval": "1s",
                "timeout": "1s",
            },
            {
                "name": "hook-http",
                "kind": "http",
                "url": receiver.url,
                "expect_status": [501],
                "interval": "1s",
                "timeout": "1s",
            },
        ],
        channels={"ops": {"kind": "webhook", "url": receiver.url, "timeout_s": 2}},
    )
    assert run_cli(root, "init").returncode == 0
    return root


@pytest.fixture
def started(serve_site, tmp_path):
    servers: list[Serve] = []

    def start() -> Serve:
        server = Serve(serve_site, tmp_path / "serve.log")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.ensure_stopped()


def test_it_answers_healthz(started):
    body = started().wait_healthy()
    assert (body["status"], body["site"], body["store_revision"]) == ("ok", "测试热线", HEAD)


def test_it_exports_probe_up_for_each_target(started):
    server = started()
    server.wait_healthy()
    wanted = [
        'hotline_ops_probe_up{kind="tcp",target="peer-tcp"} 1.0',
        'hotline_ops_probe_up{kind="http",target="hook-http"} 1.0',
    ]
    assert wait_for(lambda: all(w in server.get("/metrics").text for w in wanted), 10)


def test_it_stops_cleanly_on_sigterm_within_5s(started):
    server = started()
    server.wait_healthy()
    code, took = server.terminate(timeout_s=5)
    assert code == 0
    assert took < 5


def breaches(root) -> int:
    engine = create_engine(f"sqlite:///{root.parent / 'var' / 'hotline-ops.db'}")
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM incident_events WHERE kind = 'timer.breach'")
        ).scalar_one()
    engine.dispose()
    return count


def incident_ids(root) -> list[int]:
    engine = create_engine(f"sqlite:///{root.parent / 'var' / 'hotline-ops.db'}")
    with engine.connect() as conn:
        ids = list(conn.execute(text("SELECT id FROM incidents ORDER BY id")).scalars())
    engine.dispose()
    return ids


def attempts(root) -> int:
    engine = create_engine(f"sqlite:///{root.parent / 'var' / 'hotline-ops.db'}")
    with engine.connect() as conn:
        count = conn.execute(text("SELECT coalesce(sum(attempts), 0) FROM outbox")).scalar_one()
    engine.dispose()
    return count


@pytest.fixture
def crash_site(tmp_path, receiver):
    """A response timer of 10 s, so it falls due while the daemon is dead (long enough that a
    loaded machine still kills the first daemon before it is due)."""
    levels = {
        **LEVELS,
        "warn_at": [],
        "levels": {
            **LEVELS["levels"],
            2: {
                "name": "核心功能故障",
                "channels": ["ops"],
                "timers": {"response": {"after": "10s", "clause": "M2.1b"}},
            },
        },
    }
    root = write_content(
        tmp_path / "crash",
        targets=[],
        levels=levels,
        channels={"ops": {"kind": "webhook", "url": receiver.url, "timeout_s": 2}},
    )
    assert run_cli(root, "init").returncode == 0
    return root


def test_it_fires_the_timer_and_delivers_once_across_sigkill(crash_site, receiver, tmp_path):
    receiver.status = 503  # the first daemon can only fail and schedule retries
    first = Serve(crash_site, tmp_path / "first.log")
    try:
        # Opened once the daemon is up: the 10 s then cover only its first attempt and the
        # kill, not a start-up that a loaded machine stretches.
        first.wait_healthy()
        due = time.monotonic() + 10.5
        opened = run_cli(crash_site, "incident", "open", "--title", "trunk down", "--level", "2")
        assert opened.returncode == 0, opened.stderr
        assert wait_for(lambda: attempts(crash_site) >= 1, 8)
    finally:
        first.kill()
    assert breaches(crash_site) == 0
    time.sleep(max(0.0, due - time.monotonic()))  # the deadline passes while nothing runs
    receiver.status = 200
    second = Serve(crash_site, tmp_path / "second.log")
    try:
        second.wait_healthy()
        assert wait_for(lambda: len(receiver.posts) >= 2, 15)
        time.sleep(1.5)  # room for any duplicate to show up
    finally:
        second.terminate()
    assert breaches(crash_site) == 1
    # The CLI's incident takes the next id the store hands out (the daemon may hold a block
    # reserved for its alerts' first notices: ids are unique, not gap-free).
    (incident_id,) = incident_ids(crash_site)
    assert receiver.keys() == [f"incident:{incident_id}:opened:ops",
                               f"incident:{incident_id}:breach:response:ops"]  # fmt: skip
