"""Acceptance: real Prometheus scrapes a test exporter, a shipped rule fires, a real
Alertmanager posts to hotline-ops, and an incident opens at the level the rules give.

Everything is real and on 127.0.0.1: Prometheus 2.42 and Alertmanager 0.25 from the Debian
packages, `hotline-ops serve` as a child process. The configs are derived from the shipped
ones (deploy/): only `for:` durations, timings, ports and file paths are changed. The
Alertmanager -> hotline-ops hop authenticates with an `ingest` bearer token read from a
credentials file, as deploy/alertmanager/alertmanager.yml does. A missing binary fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.content import write_content
from tests.support.process import HOTLINE_OPS, free_port, run_cli

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TOKEN = "am-ingest-9f3c2d7e5b1a"
SECRET_ENV = {"HOTLINE_OPS_SECRET_AM_INGEST": TOKEN}
pytestmark = pytest.mark.timeout(180)


class Exporter:
    """A tiny /metrics endpoint whose body the test changes."""

    def __init__(self) -> None:
        self.body = ""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                data = outer.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def trunks(self, **up: int) -> None:
        lines = ["# TYPE hotline_ops_probe_up gauge"]
        for name, value in up.items():
            target = "trunk:" + name.replace("_", "-")
            lines.append(f'hotline_ops_probe_up{{kind="sip_options",target="{target}"}} {value}')
        self.body = "\n".join(lines) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def binary(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    assert Path(path).exists(), f"{name} missing: install prometheus prometheus-alertmanager"
    return path


def short_for(rules: str) -> str:
    """The shipped rules with every `for:` shortened to 1s (test copy only)."""
    return re.sub(r"(?m)^(\s*)for:\s*\S+\s*$", r"\1for: 1s", rules)


class Children:
    """Child processes, each in its own session, all killed at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log.close()

    def alive(self, name: str) -> None:
        code = self.procs[name].poll()
        assert code is None, f"{name} exited with {code}:\n{self.log(name)}"

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    kids = Children(tmp_path)
    try:
        yield kids
    finally:
        kids.stop_all()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    try:
        yield exp
    finally:
        exp.close()


def site(tmp_path: Path) -> Path:
    """A content folder with the shipped levels.yaml and alerts.yaml and an ingest token."""
    levels = yaml.safe_load((ROOT / "incidents" / "levels.yaml").read_text(encoding="utf-8"))
    root = write_content(
        tmp_path / "site",
        targets=[],
        channels={"ops-webhook": {"kind": "fake"}},
        levels=levels,
        settings={
            "api": {"tokens": [{"name": "alertmanager", "role": "ingest", "secret": "am_ingest"}]}
        },
    )
    shutil.copy(ROOT / "incidents" / "alerts.yaml", root.parent / "incidents" / "alerts.yaml")
    init = run_cli(root, "init")
    assert init.returncode == 0, init.stderr
    return root


def alertmanager_config(tmp_path: Path, hotline_port: int) -> Path:
    doc = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    doc["route"].update(group_wait="1s", group_interval="1s")
    (hook,) = doc["receivers"][0]["webhook_configs"]
    hook["url"] = hook["url"].replace("127.0.0.1:8345", f"127.0.0.1:{hotline_port}")
    token_file = tmp_path / "hotline-ops-ingest.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o400)
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def prometheus_config(tmp_path: Path, exporter: str, am_port: int) -> Path:
    rules = tmp_path / "rules.yml"
    rules.write_text(short_for((DEPLOY / "prometheus" / "rules.yml").read_text(encoding="utf-8")))
    doc = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
        },
        "scrape_configs": [
            {"job_name": "hotline-ops", "static_configs": [{"targets": [exporter]}]}
        ],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def incidents(root: Path) -> list[dict]:
    out = run_cli(root, "incident", "list", "--all", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_until(check, within_s: float, children: Children, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for name in children.procs:
            children.alive(name)
        found = check()
        if found:
            return found
        time.sleep(0.5)
    logs = "\n".join(f"--- {n}\n{children.log(n)}" for n in children.procs)
    raise AssertionError(f"{what} not within {within_s}s\n{logs}")


def test_trunk_down_in_prometheus_opens_a_level_2_incident(tmp_path, children, exporter):
    prometheus, alertmanager = binary("prometheus"), binary("prometheus-alertmanager")
    root = site(tmp_path)
    hotline_port, am_port, prom_port = free_port(), free_port(), free_port()
    exporter.trunks(ct_1=0, cu_1=1)

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
    children.start(
        "hotline-ops",
        [HOTLINE_OPS, "--config", str(root), "serve", "--listen", f"127.0.0.1:{hotline_port}"],
        env={**env, **SECRET_ENV},
    )
    children.start(
        "alertmanager",
        [
            alertmanager,
            f"--config.file={alertmanager_config(tmp_path, hotline_port)}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
    )
    children.start(
        "prometheus",
        [
            prometheus,
            f"--config.file={prometheus_config(tmp_path, exporter.address, am_port)}",
            f"--storage.tsdb.path={tmp_path / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
    )

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{hotline_port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    wait_until(healthy, 30, children, "hotline-ops healthy")
    # The ingest route really is guarded: without the token Alertmanager would get 401.
    anonymous = httpx.post(f"http://127.0.0.1:{hotline_port}/api/alertmanager", json={})
    assert anonymous.status_code == 401

    def trunk_incident() -> dict | None:
        rows = [i for i in incidents(root) if i["labels"].get("alertname") == "TrunkDown"]
        return rows[0] if rows else None

    opened = wait_until(trunk_incident, 60, children, "TrunkDown incident")
    assert opened["level"] == 2  # impact: core -> level 2 in the shipped levels.yaml
    assert opened["status"] == "open"
    assert opened["source"] == "alertmanager"
    assert opened["labels"]["trunk"] == "ct-1"
    assert opened["labels"]["target"] == "trunk:ct-1"
    assert "ct-1" in opened["title"]
    # Only the DOWN trunk; AllTrunksDown (level 1) does not fire for one of two.
    assert [i["labels"]["alertname"] for i in incidents(root)] == ["TrunkDown"]

    # The trunk comes back: Prometheus resolves, Alertmanager sends it resolved
    # (send_resolved: true), hotline-ops resolves the incident.
    exporter.trunks(ct_1=1, cu_1=1)

    def resolved() -> dict | None:
        (row,) = incidents(root)
        return row if row["status"] == "resolved" else None

    assert wait_until(resolved, 60, children, "TrunkDown incident resolved")["id"] == opened["id"]
