"""A real Alertmanager 0.25 (Debian ``prometheus-alertmanager``) delivering to a real
hotline-ops HTTP server, and the real ``amtool`` talking to hotline-ops' v2 API: the
interoperability that the unit-level tests can only assume."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml

from hotline_ops.core.alerts import fingerprint
from hotline_ops.server import create_app
from tests.alerts import helpers

LOCAL = "127.0.0.1"
LABELS = {"alertname": "TrunkDown", "trunk": "ct-1", "impact": "system"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def app(tmp_path, store_url, clock):
    # Alertmanager stamps real times; pin the clock at the real time the test starts.
    clock.set(datetime.now(UTC).replace(microsecond=0))
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


@pytest.fixture
def server(app) -> Iterator[str]:
    """hotline-ops' ASGI app served by uvicorn on a free port, in a thread."""
    port = free_port()
    config = uvicorn.Config(create_app(app), host=LOCAL, port=port, log_config=None)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://{LOCAL}:{port}"
    wait_for(lambda: _ok(f"{base}/healthz"), 10, "hotline-ops to listen")
    yield base
    uv.should_exit = True
    thread.join(10)


@pytest.fixture
def alertmanager(server, tmp_path) -> Iterator[str]:
    """Alertmanager routing every alert to hotline-ops' webhook with the ingest token."""
    token = tmp_path / "am-token"
    token.write_text(helpers.SECRETS["HOTLINE_OPS_SECRET_AM_TOKEN"])
    config = {
        "route": {
            "receiver": "hotline-ops",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "hotline-ops",
                "webhook_configs": [
                    {
                        "url": f"{server}/api/alertmanager",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials_file": str(token)}
                        },
                    }
                ],
            }
        ],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={path}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address={LOCAL}:{port}",
                "--cluster.listen-address=",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    base = f"http://{LOCAL}:{port}"
    try:
        wait_for(lambda: _ok(f"{base}/-/ready") or proc.poll() is not None, 15, "alertmanager")
        assert proc.poll() is None, log.read_text()
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_it_opens_and_resolves_an_incident_from_a_real_alertmanager(app, alertmanager):
    body = [{"labels": LABELS, "annotations": {"summary": "ct-1 trunk down"}}]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=body).status_code == 200
    (incident,) = wait_for(lambda: helpers.incidents_of(app), 15, "the incident")
    assert (incident.level, incident.title, incident.dedup_key) == (
        1,
        "ct-1 trunk down",
        "alert:trunk=ct-1",
    )
    (alert,) = helpers.alerts_of(app)
    # Alertmanager's own fingerprint equals the one hotline-ops computes from the labels.
    assert (alert.source, alert.fingerprint) == ("alertmanager", fingerprint(LABELS))
    ended = datetime.now(UTC).isoformat()
    resolved = [{**body[0], "endsAt": ended}]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=resolved).status_code == 200
    wait_for(lambda: helpers.incidents_of(app)[0].status == "resolved", 15, "the resolution")
    assert [a.status for a in helpers.alerts_of(app)] == ["resolved"]


def amtool(server: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "amtool-http.yml"
    secret = helpers.SECRETS["HOTLINE_OPS_SECRET_OPERATOR_TOKEN"]
    config.write_text(yaml.safe_dump({"authorization": {"type": "Bearer", "credentials": secret}}))
    return subprocess.run(
        ["amtool", f"--alertmanager.url={server}/", f"--http.config.file={config}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_it_serves_amtool_silences_and_alerts(app, server, clock, tmp_path):
    now = clock.now()
    start = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    added = amtool(
        server,
        tmp_path,
        "silence",
        "add",
        'trunk="ct-1"',
        'alertname=~"Trunk.*"',
        f"--start={start}",
        f"--end={end}",
        "--author=wang",
        "--comment=carrier works on ct-1",
    )
    assert (added.returncode, added.stdout, added.stderr) == (0, "1\n", "")
    query = amtool(server, tmp_path, "silence", "query", "-o", "json")
    assert query.returncode == 0, query.stderr
    (silence,) = json.loads(query.stdout)
    assert (silence["id"], silence["status"], silence["createdBy"], silence["matchers"]) == (
        "1",
        {"state": "active"},
        "wang",
        [
            {"name": "trunk", "value": "ct-1", "isRegex": False, "isEqual": True},
            {"name": "alertname", "value": "Trunk.*", "isRegex": True, "isEqual": True},
        ],
    )
    with helpers.client(app, "ingest") as http:
        http.post("/api/v2/alerts", json=[{"labels": LABELS}])
    alerts = amtool(server, tmp_path, "alert", "query", "--silenced", "-o", "json")
    assert alerts.returncode == 0, alerts.stderr
    (alert,) = json.loads(alerts.stdout)
    assert (alert["fingerprint"], alert["status"]) == (
        fingerprint(LABELS),
        {"state": "suppressed", "silencedBy": ["1"], "inhibitedBy": []},
    )
    expired = amtool(server, tmp_path, "silence", "expire", "1")
    assert (expired.returncode, expired.stderr) == (0, "")
    after = json.loads(
        amtool(server, tmp_path, "silence", "query", "--expired", "-o", "json").stdout
    )
    assert [s["status"]["state"] for s in after] == ["expired"]
