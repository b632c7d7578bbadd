"""Alert ingest and delivery: hotline-ops vs Alertmanager 0.25, side by side; contract timers.

    .venv/bin/python bench/alerts_vs_alertmanager.py [--quick] [--keep]

Same machine, same load generator, same sink (a local HTTP server in a child process that
records when each alert's notification arrives, by the alert's `alert_id` label):

* **alertmanager**: `prometheus-alertmanager` (Debian, 0.25), alerts posted to
  ``/api/v2/alerts``; route ``group_by: ['...']`` (one group per alert), ``group_wait: 0s``
  (its fastest), webhook receiver -> sink ``/am``. Memory only (``--storage.path`` holds
  silences and the notification log, written on clean shutdown).
* **ours**: ``hotline-ops serve --no-probes`` on SQLite (WAL, synchronous=NORMAL: a 2xx
  means committed), alerts posted to ``/api/v2/alerts`` with an ``ingest`` bearer token;
  a 2xx means the alerts are committed to the ingest journal (group commit); the daemon's
  consumer then opens one incident per alert (deadlines, timeline, outbox row, and the
  journal entry's deletion in one transaction); the level's webhook channel posts the
  "opened" notification to sink ``/ours``. The latency phase also reads the journal lag
  (received_at -> the ingest commit) from ours' /metrics.
  ``daemon.outbox_poll_s: 0.05`` (default 1.0) and ``timer_poll_s: 0.5`` (the default);
  --quick also sets ``claim_lease_s: 5`` (default 60: how long a message claimed by a
  killed process blocks its channel).

Phases (each side gets a fresh server and store for each phase):

1. **ingest**: new (unique) alerts in batches of 1, 10 and 100 over 8 keep-alive
   connections for a fixed window per side (5 s; quick 1.5 s), as fast as the server
   answers; alerts/s = alerts in 2xx-answered batches / wall time. Then, at batch 100, the
   same alerts re-sent while firing (Prometheus' steady state).
2. **latency**: single alerts paced at a fixed rate on one connection; latency = arrival of
   the alert's notification at the sink - the moment its POST was written.
3. **kill storm**: batches of 10 paced at a fixed rate over 4 connections; the server is
   SIGKILLed N times mid-storm (each time 0.3-1.0 s after it is back up) and restarted on
   the same storage; the client re-sends every batch until it gets a 2xx. After the storm
   settles, the client re-sends every alert once more (as Prometheus re-sends firing alerts
   every resend-delay) and the sink is read again. Loss = an acknowledged alert whose
   notification never reached the sink; duplicate = every notification of an alert after its
   first (raw POSTs; ours also counted after honouring Idempotency-Key).
4. **timers** (ours only): N incidents, each with one contract deadline, due times spread
   evenly over the window; lateness = when the bench (polling the store every 50 ms) sees the
   deadline fired - its due time (an upper bound; the store's own ``fired_at - due_at`` is
   reported too). Full mode runs it alone after phases 1-3; --quick runs it concurrently
   with them (measured under that load) to stay under 60 s. Full: 10 000 timers over 10 min;
   quick: 1 000 over 30 s.

Only loopback. Every child runs in its own process group and is killed on exit. Progress
goes to stderr; stdout ends with one JSON object (fields in bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rawhttp import ClientError, Conn, use_uvloop

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
HOTLINE_OPS = str(Path(sys.executable).parent / "hotline-ops")
TOKEN = "bench-ingest-token-5d1f0e9a"
SECRET_ENV = "HOTLINE_OPS_SECRET_BENCH_INGEST"
CONNS = 8
SETTLE_CAP_S = 900.0  # the longest a phase waits for a server that is still delivering
PHASES = ("ingest", "latency", "storm", "timers")

FULL = {
    "ingest": ((1, 10, 100), 5.0),  # batch sizes, seconds per side and size
    "latency": (1000, 50.0),  # alerts, per second
    "storm": (20, 200.0),  # kills, alerts per second (in batches of 10)
    "timers": (10_000, 600.0),  # timers, window seconds
    "settle_s": 120.0,
    "timers_alone": True,  # after phases 1-3, on an idle machine
    "claim_lease_s": None,  # hotline-ops' default (60 s)
}
QUICK = {
    "ingest": ((1, 10, 100), 1.5),
    "latency": (150, 50.0),
    "storm": (3, 200.0),
    "timers": (1000, 30.0),
    "settle_s": 20.0,
    "timers_alone": False,  # concurrent with phases 1-3, to stay under 60 s
    "claim_lease_s": 5.0,  # so a lease held at a SIGKILL expires within the quick run
}


# --------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    if not ours or not theirs:
        return None
    return round(ours / theirs, 3)


# --------------------------------------------------------------------------- sink (child)


class SinkState:
    """What arrived, by side: raw POSTs, per-alert arrival times, Idempotency-Keys."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.posts = {"alertmanager": 0, "ours": 0}
        self.arrivals: dict[str, dict[str, list[float]]] = {"alertmanager": {}, "ours": {}}
        self.idem: dict[str, list[str]] = {}  # ours: alert_id -> Idempotency-Keys seen

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        now = time.time()
        if method == "GET" and path == "/stats":
            return json.dumps(
                {"posts": self.posts, "arrivals": self.arrivals, "idem": self.idem}
            ).encode()
        if method == "POST" and path == "/reset":
            self.reset()
            return b"{}"
        doc = json.loads(body or b"{}")
        if path == "/am":
            self.posts["alertmanager"] += 1
            for alert in doc.get("alerts", []):
                if alert.get("status") == "firing":
                    key = alert.get("labels", {}).get("alert_id", "?")
                    self.arrivals["alertmanager"].setdefault(key, []).append(now)
        elif path == "/ours":
            self.posts["ours"] += 1
            data = doc.get("data", {})
            if data.get("event") == "opened":
                key = (data.get("labels") or {}).get("alert_id", "?")
                self.arrivals["ours"].setdefault(key, []).append(now)
                self.idem.setdefault(key, []).append(headers.get("idempotency-key", "?"))
        return b"{}"


class SinkProtocol(asyncio.Protocol):
    def __init__(self, state: SinkState) -> None:
        self.state = state
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            reply = self.state.handle(method, path.split("?")[0], headers, body)
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(reply)}\r\n\r\n".encode()
                + reply
            )


def role_sink(port: int) -> None:
    use_uvloop()
    state = SinkState()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SinkProtocol(state), HOST, port, backlog=512)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- HTTP client


async def get_json(port: int, path: str) -> Any:
    conn = Conn(port)
    try:
        status, body = await conn.request("GET", path)
    finally:
        conn.close()
    if status != 200:
        raise ClientError(f"GET {path}: HTTP {status}")
    return json.loads(body)


async def is_up(port: int, path: str) -> bool:
    conn = Conn(port)
    try:
        status, _ = await conn.request("GET", path, timeout=1)
        return status == 200
    except ClientError:
        return False
    finally:
        conn.close()


# --------------------------------------------------------------------------- children


class Child:
    """A child process in its own process group, restartable on the same arguments."""

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict | None = None):
        self.name, self.args, self.log_path, self.env = name, args, log_path, env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} is not running:\n{tail}")


CHILDREN: list[Child] = []


def spawn(name: str, args: list[str], log_path: Path, env: dict | None = None) -> Child:
    child = Child(name, args, log_path, env)
    CHILDREN.append(child)
    child.start()
    return child


def kill_all() -> None:
    for child in CHILDREN:
        with contextlib.suppress(Exception):
            child.kill()


# --------------------------------------------------------------------------- the two servers


class Server:
    """One side's server: start fresh (new store), restart on the same store, SIGKILL."""

    side = ""
    ready_path = ""

    def __init__(self, work: Path, sink_port: int) -> None:
        self.work, self.sink_port = work, sink_port
        self.port = 0
        self.child: Child | None = None
        self.count = 0

    def headers(self) -> dict[str, str]:
        return {}

    async def pending(self) -> int:
        """Notifications the server still owes (unknown for Alertmanager: 0)."""
        return 0

    async def fresh(self) -> None:
        self.stop()
        self.count += 1
        self.port = free_port()
        log_path = self.work / f"{self.side}.log"
        self.child = spawn(self.side, self.command(self.prepare()), log_path, self.env())
        await self.wait_ready()

    def env(self) -> dict[str, str] | None:
        return None

    async def wait_ready(self, within_s: float = 30) -> float:
        started = time.monotonic()
        while time.monotonic() - started < within_s:
            assert self.child is not None
            self.child.check()
            if await is_up(self.port, self.ready_path):
                return time.monotonic() - started
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.side} not ready within {within_s}s")

    def sigkill(self) -> None:
        assert self.child is not None
        self.child.kill(signal.SIGKILL)

    def restart(self) -> None:
        assert self.child is not None
        self.child.start()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def prepare(self) -> Path:
        raise NotImplementedError

    def command(self, folder: Path) -> list[str]:
        raise NotImplementedError


class AlertmanagerServer(Server):
    side = "alertmanager"
    ready_path = "/-/ready"
    path = "/api/v2/alerts"

    def prepare(self) -> Path:
        folder = self.work / f"am-{self.count}"
        folder.mkdir()
        config = f"""route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs:
      - url: http://{HOST}:{self.sink_port}/am
        send_resolved: false
"""
        (folder / "alertmanager.yml").write_text(config)
        return folder

    def command(self, folder: Path) -> list[str]:
        return [
            ALERTMANAGER,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]


LEASE: dict[str, Any] = {}  # daemon.claim_lease_s and alert_ingest, set from the options


def write_site(root: Path, channel: dict) -> Path:
    import yaml

    (root / "probes").mkdir(parents=True, exist_ok=True)
    (root / "incidents").mkdir(parents=True, exist_ok=True)
    settings = {
        "site": {"name": "基准测试"},
        "timezone": "Asia/Shanghai",
        "data_dir": "var",
        "log_level": "WARNING",
        "daemon": {"timer_poll_s": 0.5, "outbox_poll_s": 0.05, **LEASE},
        "api": {"tokens": [{"name": "bench", "role": "ingest", "secret": "bench_ingest"}]},
    }
    timers = {
        "response": {"after": "30m", "clause": "M2.1b"},
        "resolve": {"after": "4h", "clause": "M2.3c"},
    }
    levels = {
        "levels": {n: {"name": f"L{n}", "channels": ["sink"], "timers": timers} for n in (1, 2, 3)},
        "rules": [],
        "default_level": 3,
    }
    files = {
        root / "hotline-ops.yaml": settings,
        root / "probes" / "targets.yaml": {"targets": []},
        root / "incidents" / "channels.yaml": {"channels": {"sink": channel}},
        root / "incidents" / "levels.yaml": levels,
    }
    for path, data in files.items():
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return root / "hotline-ops.yaml"


def hotline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
    env[SECRET_ENV] = TOKEN
    return env


def init_store(config: Path) -> None:
    out = subprocess.run(
        [HOTLINE_OPS, "--config", str(config), "init"],
        capture_output=True, text=True, env=hotline_env(), timeout=120,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"hotline-ops init failed: {out.stdout}{out.stderr}")


class HotlineServer(Server):
    side = "ours"
    ready_path = "/healthz"
    path = "/api/v2/alerts"
    template: Path | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    async def pending(self) -> int:
        """The outbox backlog plus the alert journal (alerts acked, incidents not yet
        opened), from the store (the server may be down)."""
        sql = (
            "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending'),"
            " (SELECT coalesce(max(position), 0) FROM alert_journal_position)"
        )
        with contextlib.closing(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)) as con:
            outbox, position = con.execute(sql).fetchone()
        spool = self.db.parent / "alert-journal.db"
        if not spool.exists():
            return outbox
        with contextlib.closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as con:
            left = con.execute("SELECT count(*) FROM entries WHERE id > ?", (position,))
            return outbox + left.fetchone()[0]

    def env(self) -> dict[str, str]:
        return hotline_env()

    def prepare(self) -> Path:
        folder = self.work / f"ours-{self.count}"
        channel = {"kind": "webhook", "url": f"http://{HOST}:{self.sink_port}/ours", "timeout_s": 5}
        config = write_site(folder, channel)
        self.db = folder / "var" / "hotline-ops.db"
        if HotlineServer.template is None:
            # Migrate once into a pristine copy; every store starts as a copy of it.
            init_store(config)
            HotlineServer.template = self.work / "template.db"
            shutil.copy(self.db, HotlineServer.template)
        else:
            (folder / "var").mkdir()
            shutil.copy(HotlineServer.template, self.db)
        return config

    def command(self, config: Path) -> list[str]:
        listen = f"{HOST}:{self.port}"
        return [HOTLINE_OPS, "--config", str(config), "serve", "--listen", listen, "--no-probes"]


# --------------------------------------------------------------------------- alerts and sink


def alert(alert_id: str, phase: str) -> dict:
    return {
        "labels": {
            "alertname": "BenchAlert",
            "phase": phase,
            "alert_id": alert_id,
            "severity": "warning",
        },
        "annotations": {"summary": f"基准告警 {alert_id}"},
    }


def batches(ids: list[str], size: int, phase: str) -> list[tuple[list[str], bytes]]:
    out = []
    for i in range(0, len(ids), size):
        chunk = ids[i : i + size]
        out.append((chunk, json.dumps([alert(a, phase) for a in chunk]).encode()))
    return out


class Sink:
    def __init__(self, port: int) -> None:
        self.port = port

    async def stats(self) -> dict:
        return await get_json(self.port, "/stats")

    async def reset(self) -> None:
        conn = Conn(self.port)
        try:
            await conn.request("POST", "/reset")
        finally:
            conn.close()

    async def settle(
        self, server: Server, want: set[str], within_s: float, quiet_s: float, idle_s: float = 3
    ) -> dict:
        """Stats once deliveries settled: every wanted alert arrived and nothing more came for
        `quiet_s` (room for duplicates); or nothing came for `idle_s` while the server has
        nothing pending; or nothing came for `within_s` (a server still delivering is waited
        for, up to SETTLE_CAP_S: an alert still queued is late, not lost). The stats carry
        `settle_s`, how long that took."""
        started = time.monotonic()
        last, last_change = -1, started
        while True:
            stats = await self.stats()
            arrivals = stats["arrivals"][server.side]
            total = sum(len(v) for v in arrivals.values())
            now = time.monotonic()
            if total != last:
                last, last_change = total, now
            quiet = now - last_change
            stats["settle_s"] = round(now - started, 1)
            if want <= arrivals.keys() and quiet >= quiet_s:
                return stats
            if quiet >= idle_s and not await server.pending():
                return stats
            if quiet > within_s or now - started > SETTLE_CAP_S:
                return stats
            await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- phase 1: ingest


async def blast(server: Server, work: list[tuple[list[str], bytes]]) -> tuple[float, int]:
    """Post every batch over CONNS connections; (seconds until the last 2xx, errors)."""
    queue = deque(work)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        conn = Conn(server.port, server.headers())
        try:
            while queue:
                item = queue.popleft()
                try:
                    status, body = await conn.request("POST", server.path, item[1])
                except ClientError:
                    status, body = 0, b""
                if not 200 <= status < 300:
                    errors += 1
                    if errors > 50:
                        raise RuntimeError(f"{server.side}: HTTP {status} {body[:200]!r}")
                    queue.append(item)
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONNS)))
    return time.monotonic() - started, errors


async def post_all(server: Server, work: list[tuple[list[str], bytes]]) -> None:
    """Post every batch once over CONNS connections, retrying failures (bounded)."""
    queue = deque(work)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        conn = Conn(server.port, server.headers())
        try:
            while queue:
                item = queue.popleft()
                try:
                    status, _ = await conn.request("POST", server.path, item[1])
                except ClientError:
                    status = 0
                if not 200 <= status < 300:
                    errors += 1
                    if errors > 50:
                        raise RuntimeError(f"{server.side}: re-send failing (HTTP {status})")
                    queue.append(item)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(CONNS)))


async def blast_for(server: Server, size: int, seconds: float, ids) -> dict:
    """Post batches of `size` over CONNS connections for `seconds`, as fast as the server
    answers; batch n carries alerts ids(n). Counts alerts in batches answered 2xx."""
    counter = itertools.count()
    acked = errors = 0
    stop_at = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal acked, errors
        conn = Conn(server.port, server.headers())
        try:
            while time.monotonic() < stop_at:
                n = next(counter)
                body = json.dumps([alert(a, "ingest") for a in ids(n)]).encode()
                try:
                    status, reply = await conn.request("POST", server.path, body)
                except ClientError as exc:
                    status, reply = 0, str(exc).encode()
                if 200 <= status < 300:
                    acked += size
                    continue
                errors += 1
                if errors > 50:
                    raise RuntimeError(f"{server.side}: HTTP {status} {reply[:200]!r}")
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(CONNS)))
    elapsed = time.monotonic() - started  # includes the requests still in flight at the end
    return {
        "alerts": acked,
        "seconds": round(elapsed, 3),
        "alerts_per_s": round(acked / elapsed, 1),
        "errors": errors,
    }


async def phase_ingest(servers: list[Server], sizes: tuple[int, ...], window_s: float) -> dict:
    """New alerts in batches of each size for window_s; then, at the largest size, the same
    alerts re-sent (already firing: what Prometheus does every resend-delay)."""
    out: dict[str, dict] = {s.side: {} for s in servers}
    for size in sizes:
        for server in servers:
            await server.fresh()

            def new_ids(n: int, size: int = size) -> list[str]:
                return [f"i{size}-{n * size + j}" for j in range(size)]

            figures = await blast_for(server, size, window_s, new_ids)
            out[server.side][str(size)] = figures
            log(
                f"ingest {server.side:12s} batch {size:3d}: {figures['alerts']} new alerts, "
                f"{figures['alerts_per_s']:,.0f}/s"
            )
            if size == max(sizes):
                batches_known = max(1, figures["alerts"] // size)

                def old_ids(n: int, size: int = size, k: int = batches_known) -> list[str]:
                    return new_ids(n % k, size)

                again = await blast_for(server, size, window_s, old_ids)
                out[server.side]["resend"] = again
                log(
                    f"ingest {server.side:12s} batch {size:3d}: re-sent firing alerts, "
                    f"{again['alerts_per_s']:,.0f}/s"
                )
            server.stop()
    return out


# --------------------------------------------------------------------------- phase 2: latency


async def phase_latency(server: Server, sink: Sink, count: int, rate: float, settle_s: float):
    await server.fresh()
    await sink.reset()
    conn = Conn(server.port, server.headers())
    sent: dict[str, float] = {}
    acks: list[float] = []  # POST round trips (measured alerts only)
    warmup = 5  # not measured: first connections, lazily built clients
    started = time.monotonic()
    try:
        for i in range(-warmup, count):
            due = started + (i + warmup) / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            key = f"l-{i}"
            body = json.dumps([alert(key, "latency")]).encode()
            if i >= 0:
                sent[key] = time.time()
            status, _ = await conn.request("POST", server.path, body)
            if i >= 0:
                acks.append(time.time() - sent[key])
            if not 200 <= status < 300:
                raise RuntimeError(f"{server.side}: latency post answered {status}")
    finally:
        conn.close()
    stats = await sink.settle(server, set(sent), settle_s, quiet_s=0.5)
    arrivals = stats["arrivals"][server.side]
    lat = [arrivals[k][0] - t for k, t in sent.items() if k in arrivals]
    journal = await journal_lag(server)
    server.stop()
    result = {
        "alerts": count,
        "rate_per_s": rate,
        "delivered": len(lat),
        "p50_ms": ms(percentile(lat, 50)),
        "p99_ms": ms(percentile(lat, 99)),
        "max_ms": ms(max(lat) if lat else None),
        "mean_ms": ms(statistics.fmean(lat) if lat else None),
        "post_p50_ms": ms(percentile(acks, 50)),
        "post_p99_ms": ms(percentile(acks, 99)),
        **journal,
    }
    log(
        f"latency {server.side:12s}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
        f"({len(lat)}/{count} delivered)"
    )
    return result


async def journal_lag(server: Server) -> dict[str, float]:
    """Ours: the alert journal's lag (received_at → the commit that opened the incident) as
    the server's /metrics reports it; nothing for Alertmanager."""
    if server.side != "ours":
        return {}
    conn = Conn(server.port, server.headers())
    try:
        status, body = await conn.request("GET", "/metrics", b"")
    finally:
        conn.close()
    if status != 200:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("hotline_ops_alert_journal_lag_seconds{"):
            q = line.split('quantile="')[1].split('"')[0]
            out[f"journal_lag_p{float(q) * 100:g}_ms"] = ms(float(line.rsplit(" ", 1)[1]))
    return out


# --------------------------------------------------------------------------- phase 3: storm


class Storm:
    """Paced batches of 10, retried until 2xx, while the server is killed and restarted."""

    def __init__(self, server: Server, kills: int, rate: float) -> None:
        self.server, self.kills, self.rate = server, kills, rate
        self.queue: deque[tuple[list[str], bytes]] = deque()
        self.acked: dict[str, float] = {}  # alert id -> when its batch got its 2xx
        self.sent_batches = 0
        self.retries = 0
        self.producing = True
        self.restart_s: list[float] = []

    async def produce(self) -> None:
        started, i = time.monotonic(), 0
        while self.producing:
            due = started + i * 10 / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            ids = [f"s-{i * 10 + j}" for j in range(10)]
            self.queue.append((ids, json.dumps([alert(a, "storm") for a in ids]).encode()))
            i += 1

    async def send(self) -> None:
        conn = Conn(self.server.port, self.server.headers())
        try:
            while self.producing or self.queue:
                if not self.queue:
                    await asyncio.sleep(0.005)
                    continue
                ids, body = self.queue.popleft()
                try:
                    status, _ = await conn.request("POST", self.server.path, body, timeout=10)
                except ClientError:
                    status = 0
                self.sent_batches += 1
                if 200 <= status < 300:
                    now = time.time()
                    self.acked.update((a, now) for a in ids)
                else:
                    self.retries += 1
                    self.queue.appendleft((ids, body))
                    await asyncio.sleep(0.05)
        finally:
            conn.close()

    async def kill_loop(self) -> None:
        for _ in range(self.kills):
            await asyncio.sleep(random.uniform(0.3, 1.0))
            self.server.sigkill()
            started = time.monotonic()
            self.server.restart()
            await self.server.wait_ready()
            self.restart_s.append(time.monotonic() - started)
        await asyncio.sleep(1.0)
        self.producing = False

    async def run(self) -> None:
        senders = [asyncio.create_task(self.send()) for _ in range(4)]
        producer = asyncio.create_task(self.produce())
        try:
            await self.kill_loop()
            await asyncio.wait_for(asyncio.gather(*senders), 120)
        finally:
            self.producing = False
            producer.cancel()
            for task in senders:
                task.cancel()


def count_sink(stats: dict, side: str, acked: dict[str, float]) -> dict:
    arrivals = {k: v for k, v in stats["arrivals"][side].items() if k.startswith("s-")}
    delays = [arrivals[k][0] - t for k, t in acked.items() if k in arrivals]
    out = {
        "delivered": len(arrivals),
        "losses": len(acked.keys() - arrivals.keys()),
        "delay_after_ack_p50_s": round(percentile(delays, 50) or 0, 3),
        "delay_after_ack_max_s": round(max(delays, default=0), 3),
        "duplicates": sum(len(v) - 1 for v in arrivals.values()),
        "alerts_duplicated": sum(1 for v in arrivals.values() if len(v) > 1),
        "settle_s": stats.get("settle_s"),
    }
    if side == "ours":
        # What a receiver that honours Idempotency-Key sees: distinct keys per alert.
        keys = {k: v for k, v in stats["idem"].items() if k.startswith("s-")}
        out["duplicates_after_idempotency_key"] = sum(len(set(v)) - 1 for v in keys.values())
    return out


def stored_alert_ids(db: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        rows = con.execute("SELECT json_extract(labels, '$.alert_id') FROM alerts").fetchall()
    return {r[0] for r in rows}


async def phase_storm(server: Server, sink: Sink, kills: int, rate: float, settle_s: float):
    await server.fresh()
    await sink.reset()
    storm = Storm(server, kills, rate)
    started = time.monotonic()
    await storm.run()
    storm_s = time.monotonic() - started
    acked = storm.acked
    stats = await sink.settle(server, set(acked), settle_s, quiet_s=1.0)
    before = count_sink(stats, server.side, acked)
    # The client re-sends every alert once more, as Prometheus re-sends firing alerts.
    ids = sorted(acked, key=lambda k: int(k[2:]))
    await post_all(server, batches(ids, 100, "storm"))
    stats = await sink.settle(server, set(acked), settle_s, quiet_s=1.5)
    after = count_sink(stats, server.side, acked)
    result = {
        "kills": kills,
        "rate_per_s": rate,
        "storm_s": round(storm_s, 2),
        "acked": len(acked),
        "batches_retried": storm.retries,
        "restart_s_median": round(statistics.median(storm.restart_s), 3),
        "before_resend": before,
        **after,
    }
    if isinstance(server, HotlineServer):
        result["stored_losses"] = len(acked.keys() - stored_alert_ids(server.db))
    server.stop()
    log(
        f"storm {server.side:12s}: {kills} SIGKILLs, {len(acked)} alerts acked, "
        f"losses {after['losses']} (before re-send {before['losses']}), "
        f"duplicates {after['duplicates']} (before re-send {before['duplicates']})"
    )
    return result


# --------------------------------------------------------------------------- phase 4: timers


class Timers:
    """Ours only: N deadlines due over a window; the bench watches them fire."""

    def __init__(self, work: Path, count: int, window_s: float) -> None:
        self.work, self.count, self.window_s = work, count, window_s
        self.seen: dict[int, float] = {}
        self.due: dict[int, datetime] = {}
        self.child: Child | None = None

    def prepare(self) -> Path:
        """A store with N open incidents (their own deadlines cancelled, 'opened' messages
        marked sent so no artificial backlog runs during the window)."""
        from sqlalchemy import update

        from hotline_ops.app import build_app
        from hotline_ops.services import incidents
        from hotline_ops.settings import load_settings
        from hotline_ops.store.models import Deadline, OutboxMessage

        config = write_site(self.work / "timers", {"kind": "fake"})
        init_store(config)
        app = build_app(load_settings(config, env={SECRET_ENV: TOKEN}))
        now = datetime.now(UTC)
        with app.store.session() as session:
            for i in range(self.count):
                incidents.open_incident(
                    session, app, now=now, dedup_key=f"timer-{i}", title=f"计时 {i}",
                    source="bench", actor="bench", labels={"alert_id": f"t-{i}"},
                )  # fmt: skip
            session.execute(update(Deadline).values(cancelled_at=now))
            session.execute(update(OutboxMessage).values(status="sent", sent_at=now))
        app.close()
        self.db = config.parent / "var" / "hotline-ops.db"
        return config

    def insert_deadlines(self, start: datetime) -> None:
        """One breach deadline per incident, due evenly over the window from `start`."""
        step = self.window_s / self.count
        with contextlib.closing(sqlite3.connect(self.db, timeout=30)) as con:
            ids = [r[0] for r in con.execute("SELECT id FROM incidents ORDER BY id")]
            rows = []
            for i, incident_id in enumerate(ids):
                due = start + timedelta(seconds=i * step)
                rows.append((incident_id, due.replace(tzinfo=None).isoformat(sep=" ")))
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute("SELECT coalesce(max(id), 0) FROM deadlines")
            self.first_id = cur.fetchone()[0] + 1
            con.executemany(
                "INSERT INTO deadlines (incident_id, kind, clause, due_at, purpose) "
                "VALUES (?, 'response', 'M2.1b', ?, 'breach')",
                rows,
            )
            con.commit()
            for offset, (_, due_text) in enumerate(rows):
                self.due[self.first_id + offset] = datetime.fromisoformat(due_text)

    async def run(self, config: Path, lead_s: float = 2.0) -> dict:
        port = free_port()
        args = [HOTLINE_OPS, "--config", str(config), "serve", "--listen", f"{HOST}:{port}"]
        self.child = spawn(
            "timers", [*args, "--no-probes"], self.work / "timers.log", hotline_env()
        )
        while not await is_up(port, "/healthz"):
            self.child.check()
            await asyncio.sleep(0.05)
        start = datetime.now(UTC) + timedelta(seconds=lead_s)
        self.insert_deadlines(start)
        end = time.monotonic() + lead_s + self.window_s + 15
        with contextlib.closing(
            sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        ) as con:
            low = self.first_id
            while len(self.seen) < self.count and time.monotonic() < end:
                now = time.time()
                for (deadline_id,) in con.execute(
                    "SELECT id FROM deadlines WHERE id >= ? AND fired_at IS NOT NULL", (low,)
                ):
                    self.seen.setdefault(deadline_id, now)
                while low in self.seen:
                    low += 1
                await asyncio.sleep(0.05)
            fired_at = dict(
                con.execute(
                    "SELECT id, fired_at FROM deadlines WHERE id >= ? AND fired_at IS NOT NULL",
                    (self.first_id,),
                ).fetchall()
            )
        self.child.stop()
        return self.result(fired_at)

    def result(self, fired_at: dict[int, str]) -> dict:
        observed, stored = [], []
        for deadline_id, due in self.due.items():
            due_ts = due.replace(tzinfo=UTC).timestamp()
            if deadline_id in self.seen:
                observed.append(self.seen[deadline_id] - due_ts)
            if deadline_id in fired_at:
                fired = datetime.fromisoformat(fired_at[deadline_id]).replace(tzinfo=UTC)
                stored.append(fired.timestamp() - due_ts)
        out = {
            "timers": self.count,
            "window_s": self.window_s,
            "fired": len(stored),
            "missed": self.count - len(stored),
            "early": sum(1 for x in stored if x < 0),
            "observed_p50_s": round(percentile(observed, 50) or 0, 3),
            "observed_p99_s": round(percentile(observed, 99) or 0, 3),
            "observed_max_s": round(max(observed, default=0), 3),
            "stored_p50_s": round(percentile(stored, 50) or 0, 3),
            "stored_p99_s": round(percentile(stored, 99) or 0, 3),
            "stored_max_s": round(max(stored, default=0), 3),
        }
        log(
            f"timers: {out['fired']}/{self.count} fired, lateness p99 observed "
            f"{out['observed_p99_s']} s (store {out['stored_p99_s']} s), "
            f"max {out['observed_max_s']} s"
        )
        return out


# --------------------------------------------------------------------------- main


async def run(cfg: dict, work: Path, phases: set[str]) -> dict:
    sink_port = free_port()
    spawn(
        "sink",
        [sys.executable, __file__, "--role", "sink", "--port", str(sink_port)],
        work / "sink.log",
    )
    for _ in range(250):
        if await is_up(sink_port, "/stats"):
            break
        await asyncio.sleep(0.02)
    else:
        raise RuntimeError("the sink did not start")
    sink = Sink(sink_port)
    am = AlertmanagerServer(work, sink_port)
    ours = HotlineServer(work, sink_port)
    out: dict[str, Any] = {}

    timer_task = None
    if "timers" in phases and not cfg["timers_alone"]:
        timer_task = start_timers(cfg, work)
    if "ingest" in phases:
        sizes, window_s = cfg["ingest"]
        out["ingest"] = await phase_ingest([am, ours], sizes, window_s)
    if "latency" in phases:
        n, rate = cfg["latency"]
        out["latency"] = {
            s.side: await phase_latency(s, sink, n, rate, cfg["settle_s"]) for s in (am, ours)
        }
    if "storm" in phases:
        kills, rate = cfg["storm"]
        out["storm"] = {
            s.side: await phase_storm(s, sink, kills, rate, cfg["settle_s"]) for s in (am, ours)
        }
    if "timers" in phases and cfg["timers_alone"]:
        timer_task = start_timers(cfg, work)
    if timer_task is not None:
        log("waiting for the timer window to end")
        out["timers"] = {
            **await timer_task,
            "concurrent_with_other_phases": not cfg["timers_alone"],
        }
    return {**headline(out), **out}


def start_timers(cfg: dict, work: Path) -> asyncio.Task:
    count, window = cfg["timers"]
    timers = Timers(work, count, window)
    log(f"timers: preparing {count} incidents")
    return asyncio.create_task(timers.run(timers.prepare()))


def headline(out: dict) -> dict:
    """The summary keys (None for a phase that did not run)."""
    head: dict[str, Any] = dict.fromkeys(
        [
            "ingest_ratio_vs_alertmanager",
            "delivery_p99_ratio_vs_alertmanager",
            "duplicates",
            "losses",
            "alertmanager_duplicates",
            "alertmanager_losses",
            "timer_lateness_p99_s",
        ]
    )
    if "ingest" in out:
        ours, am = out["ingest"]["ours"], out["ingest"]["alertmanager"]
        by_batch = {k: ratio(ours[k]["alerts_per_s"], am[k]["alerts_per_s"]) for k in ours}
        resend = by_batch.pop("resend")
        head["ingest_ratio_vs_alertmanager"] = min(by_batch.values())
        head["ingest_ratio_by_batch"] = by_batch
        head["ingest_resend_ratio_vs_alertmanager"] = resend
    if "latency" in out:
        lat = out["latency"]
        head["delivery_p99_ratio_vs_alertmanager"] = ratio(
            lat["ours"]["p99_ms"], lat["alertmanager"]["p99_ms"]
        )
        head["delivery_p99_ms"] = {side: lat[side]["p99_ms"] for side in lat}
    if "storm" in out:
        ours, am = out["storm"]["ours"], out["storm"]["alertmanager"]
        head.update(duplicates=ours["duplicates"], losses=ours["losses"])
        head.update(alertmanager_duplicates=am["duplicates"], alertmanager_losses=am["losses"])
    if "timers" in out:
        head["timer_lateness_p99_s"] = out["timers"]["observed_p99_s"]
    return head


def print_table(result: dict) -> None:
    """Markdown tables of whatever phases ran."""
    if "ingest" in result:
        ingest = result["ingest"]
        print("| batch | alertmanager alerts/s | ours alerts/s (durable) | ratio |")
        print("|---|---|---|---|")
        ratios = {**result["ingest_ratio_by_batch"]}
        ratios["resend"] = result["ingest_resend_ratio_vs_alertmanager"]
        for size, value in ratios.items():
            am, ours = ingest["alertmanager"][size], ingest["ours"][size]
            name = "100, re-sent" if size == "resend" else size
            print(f"| {name} | {am['alerts_per_s']:,.0f} | {ours['alerts_per_s']:,.0f} | {value} |")
        print()
    if "latency" in result:
        print("| side | delivery p50 ms | p99 ms | max ms |")
        print("|---|---|---|---|")
        for side, lat in result["latency"].items():
            print(f"| {side} | {lat['p50_ms']} | {lat['p99_ms']} | {lat['max_ms']} |")
        print()
    if "storm" in result:
        print("| side | SIGKILLs | acked | losses | duplicates | before re-send: losses, dups |")
        print("|---|---|---|---|---|---|")
        for side, st in result["storm"].items():
            pre = st["before_resend"]
            print(
                f"| {side} | {st['kills']} | {st['acked']} | {st['losses']} | "
                f"{st['duplicates']} | {pre['losses']}, {pre['duplicates']} |"
            )
        print()
    if "timers" in result:
        t = result["timers"]
        print(
            f"timers: {t['fired']}/{t['timers']} over {t['window_s']:.0f} s, lateness p99 "
            f"{t['observed_p99_s']} s observed ({t['stored_p99_s']} s in store), "
            f"max {t['observed_max_s']} s\n"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under 60 s")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, stores)")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (default: all)",
    )
    parser.add_argument(
        "--alert-ingest",
        choices=["journal", "direct"],
        default="journal",
        help="ours' daemon.alert_ingest (direct: the request opens the incident, as before)",
    )
    parser.add_argument("--role", choices=["sink"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "sink":
        role_sink(args.port)
        return 0
    for binary in (ALERTMANAGER, HOTLINE_OPS):
        if not Path(binary).exists():
            sys.stderr.write(f"missing {binary} (apt-get install prometheus-alertmanager)\n")
            return 2
    phases = set(args.phases.split(","))
    if not phases <= set(PHASES):
        parser.error(f"--phases: choose from {','.join(PHASES)}")
    cfg = QUICK if args.quick else FULL
    if cfg["claim_lease_s"] is not None:
        LEASE["claim_lease_s"] = cfg["claim_lease_s"]
    LEASE["alert_ingest"] = args.alert_ingest
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    started = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    use_uvloop()
    try:
        result = asyncio.run(run(cfg, work, phases))
    finally:
        kill_all()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    result["mode"] = "quick" if args.quick else "full"
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    print_table(result)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
