"""Probe engine vs prometheus-blackbox-exporter, and SIP OPTIONS at 1 000 trunks, in one run.

    .venv/bin/python bench/probes_vs_blackbox.py [--quick] [--repeats R]

Same N local TCP and HTTP targets (N = 100, 1 000, 5 000; --quick: 100 and 1 000), each
probed every ``interval`` seconds by

* **ours**: a worker process that builds a real App from a temp content folder (SQLite store
  in a temp dir), and runs ``ProbeEngine`` on uvloop; every result goes through the
  Recorder (state rows, state changes, rollups), as in the daemon;
* **blackbox**: ``prometheus-blackbox-exporter`` (``tcp_connect`` / ``http_2xx`` modules,
  ``preferred_ip_protocol: ip4``), driven through ``/probe`` at the same rate by a driver
  process whose own CPU is not counted (it plays Prometheus' part).

Both probers are pinned to the same core (peers, driver and this orchestrator to the other);
CPU is the prober process's user+sys time over the measurement window only. Reported per
case: completed probes per CPU-second, failures on healthy targets, schedule lag.

SIP: SIPp UAS instances that answer OPTIONS with 200 and drop 5 % of requests; ``sip_options``
targets (``attempts: 3``) every 10 s through the same worker; p99 schedule lag and the number
of trunks that went hard DOWN (all are healthy, so every one is a false DOWN).

Only loopback (127.0.0.1) is used. Every child runs in its own process group and is killed
on exit. The last stdout line is one JSON object (see README.md for the fields).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
HERE = Path(__file__).resolve().parent
EXPORTER = "/usr/bin/prometheus-blackbox-exporter"
SIPP_SCENARIO = HERE / "sipp" / "uas_options_lost5.xml"
PEER_PORTS = 50
TIMEOUT_S = 2.0
SIP_INSTANCES = 10
PROBER_CPU = 1  # probers are pinned here; peers, driver, SIPp and the orchestrator elsewhere
OTHER_CPU = 0

# (N, interval s): the probe rate is N / interval, identical for both probers.
FULL_CASES = [(100, 2.0), (1000, 2.0), (5000, 5.0)]
QUICK_CASES = [(100, 2.0), (1000, 2.0)]
KINDS = ("tcp", "http")


# --------------------------------------------------------------------------- small helpers


def pin(cpu: int) -> None:
    """Pin the calling process to one CPU if there are two or more (no-op otherwise)."""
    with contextlib.suppress(AttributeError, OSError):
        if (os.cpu_count() or 1) > max(cpu, 1):
            os.sched_setaffinity(0, {cpu})


def use_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads, microsecond resolution
    return usage.ru_utime + usage.ru_stime


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def say(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def sip_available() -> bool:
    try:
        from hotline_ops.probes.sip_options import SipOptionsProbe  # noqa: F401
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- peer role


class _Peer(asyncio.Protocol):
    """Answers any request with 200 and closes; a bare connect is simply accepted."""

    RESPONSE = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
        b"Connection: close\r\n\r\nok\n"
    )

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.transport.write(self.RESPONSE)
            self.transport.close()
        elif len(self.buffer) > 65536:
            self.transport.close()

    def eof_received(self) -> bool:
        return False  # close our side too


async def _peer_main(count: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(_Peer, HOST, 0, backlog=4096, reuse_address=True)
        for _ in range(count)
    ]
    say({"ports": [s.sockets[0].getsockname()[1] for s in servers]})
    # Serve until the orchestrator closes our stdin (or kills us).
    await loop.run_in_executor(None, sys.stdin.read)


def role_peer(args: argparse.Namespace) -> None:
    use_uvloop()
    asyncio.run(_peer_main(args.ports))


# --------------------------------------------------------------------------- ours role


def write_content(root: Path, targets: list[dict]) -> Path:
    """A complete, minimal content folder (root file, probes/, incidents/)."""
    import yaml

    (root / "probes").mkdir(parents=True, exist_ok=True)
    (root / "incidents").mkdir(parents=True, exist_ok=True)
    settings = {
        "site": {"name": "bench"},
        "timezone": "Asia/Shanghai",
        "data_dir": "var",
        "log_level": "WARNING",
    }
    levels = {
        "levels": {
            3: {
                "name": "bench",
                "channels": ["ops"],
                "timers": {"response": {"after": "30m", "clause": "bench"}},
            }
        },
        "default_level": 3,
    }
    files = {
        root / "hotline-ops.yaml": settings,
        root / "probes" / "targets.yaml": {"targets": targets},
        root / "incidents" / "channels.yaml": {"channels": {"ops": {"kind": "fake"}}},
        root / "incidents" / "levels.yaml": levels,
    }
    for path, data in files.items():
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root / "hotline-ops.yaml"


def sip_params(host: str, port: int) -> dict:
    """sip_options params the probe module accepts (read from its Params model)."""
    from hotline_ops.probes.sip_options import SipOptionsProbe

    fields = SipOptionsProbe.Params.model_fields
    wanted = {"host": host, "port": port, "transport": "udp"}
    return {k: v for k, v in wanted.items() if k in fields}


def bench_targets(cfg: dict) -> list[dict]:
    ports, n = cfg["ports"], cfg["max_n"]
    common = {"interval": "5s", "timeout": f"{TIMEOUT_S}s", "attempts": 3}
    targets = []
    for i in range(n):
        port = ports[i % len(ports)]
        targets.append({"name": f"tcp-{i}", "kind": "tcp", "host": HOST, "port": port, **common})
        targets.append(
            {"name": f"http-{i}", "kind": "http", "url": f"http://{HOST}:{port}/t/{i}", **common}
        )
    sip_ports = cfg.get("sip_ports") or []
    for i in range(cfg.get("sip_n", 0) if sip_ports else 0):
        targets.append(
            {
                "name": f"sip-{i}",
                "kind": "sip_options",
                "interval": "10s",
                "timeout": "5s",
                "attempts": 3,
                **sip_params(HOST, sip_ports[i % len(sip_ports)]),
            }
        )
    return targets


class _LagShim:
    """Stands in for engine.SCHEDULE_LAG: forwards to it and keeps every exact lag."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.lags: list[float] = []

    def observe(self, value: float) -> None:
        self.lags.append(value)
        self.real.observe(value)


def _make_recorder(app: Any) -> Any:
    from hotline_ops.core.health import Status
    from hotline_ops.services import probing

    class CountingRecorder(probing.Recorder):
        """The real Recorder, also counting failures, hard DOWNs and its own thread CPU."""

        def reset(self) -> None:
            self.thread_cpu = 0.0
            self.failures = 0
            self.details: dict[str, int] = {}
            self.downs: set[str] = set()
            self.metrics: dict[str, float] = {}

        def record_many(self, items: list) -> list:
            started = time.thread_time()
            outcomes = super().record_many(items)
            for outcome in outcomes:
                result = outcome.result
                if not result.ok:
                    self.failures += 1
                    self.details[result.detail] = self.details.get(result.detail, 0) + 1
                flip = outcome.flip
                if flip is not None and flip.new == Status.DOWN:
                    self.downs.add(outcome.target.name)
                for key, value in result.metrics.items():
                    if isinstance(value, int | float) and "retrans" in key:
                        self.metrics[key] = self.metrics.get(key, 0.0) + value
            self.thread_cpu += time.thread_time() - started
            return outcomes

    recorder = CountingRecorder(app)
    recorder.reset()
    return recorder


async def _window(app: Any, recorder: Any, targets: list, duration: float) -> dict:
    from hotline_ops import engine as engine_module

    shim = engine_module.SCHEDULE_LAG
    engine = engine_module.ProbeEngine(app, recorder, seed=7)
    # Steady state: per-target probe objects exist already (built on a target's first check).
    engine.probes = {t.name: t.probe() for t in targets}
    # Steady state for the store too: every target's row exists (a daemon inserts each once
    # in its life; counting those inserts would measure start-up, not probing).
    from hotline_ops.probes.base import ProbeResult

    await asyncio.to_thread(
        recorder.record_many, [(t, ProbeResult(True, 0.001, "warm-up")) for t in targets]
    )
    recorder.reset()
    shim.lags.clear()
    cpu0, wall0 = own_cpu(), time.monotonic()
    task = asyncio.create_task(engine.run(targets))
    await asyncio.sleep(duration)
    engine.stop()
    await task
    cpu, wall = own_cpu() - cpu0, time.monotonic() - wall0
    lags = list(shim.lags)
    return {
        "completed": engine.completed,
        "cpu_s": round(cpu, 4),
        "store_cpu_s": round(recorder.thread_cpu, 4),
        "wall_s": round(wall, 3),
        "per_cpu_s": round(engine.completed / cpu, 1) if cpu else None,
        "per_cpu_s_excl_store": round(engine.completed / (cpu - recorder.thread_cpu), 1)
        if cpu > recorder.thread_cpu
        else None,
        "failures": recorder.failures,
        "failure_details": dict(sorted(recorder.details.items(), key=lambda kv: -kv[1])[:5]),
        "hard_down": len(recorder.downs),
        "lag_p50_ms": ms(percentile(lags, 50)),
        "lag_p99_ms": ms(percentile(lags, 99)),
        "lag_max_ms": ms(max(lags) if lags else None),
        "retransmissions": recorder.metrics,
    }


def role_ours(args: argparse.Namespace) -> None:
    import dataclasses
    import logging

    use_uvloop()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from hotline_ops import engine as engine_module
    from hotline_ops.app import build_app
    from hotline_ops.clock import SystemClock
    from hotline_ops.settings import load_settings

    cfg = json.loads(Path(args.config).read_text())
    started = time.monotonic()
    root = write_content(Path(cfg["dir"]) / "site", bench_targets(cfg))
    app = build_app(load_settings(root, env={}), clock=SystemClock())
    app.store.upgrade()
    engine_module.SCHEDULE_LAG = _LagShim(engine_module.SCHEDULE_LAG)
    recorder = _make_recorder(app)
    built = round(time.monotonic() - started, 2)
    say({"ready": True, "targets": len(app.targets), "build_s": built})
    try:
        for line in sys.stdin:
            cmd = json.loads(line)
            names = [f"{cmd['kind']}-{i}" for i in range(cmd["n"])]
            targets = [
                dataclasses.replace(app.targets[name], interval_s=cmd["interval"]) for name in names
            ]
            say(asyncio.run(_window(app, recorder, targets, cmd["duration"])))
    finally:
        recorder.flush(final=True)
        app.close()


# --------------------------------------------------------------------------- driver role


class _Exporter:
    """Keep-alive HTTP/1.1 client for the exporter's /probe (the Prometheus scraper's part)."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(connections)

    async def probe(self, request: bytes) -> bool:
        async with self.slots:
            conn = self.idle.pop() if self.idle else await asyncio.open_connection(HOST, self.port)
            reader, writer = conn
            try:
                writer.write(request)
                body = await _read_reply(reader)
            except BaseException:
                writer.transport.abort()
                raise
            self.idle.append(conn)
        return b"\nprobe_success 1\n" in body

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"exporter said {head[:40]!r}")
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        chunks = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return b"".join(chunks)
            chunks.append(chunk[:-2])
    length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def _exporter_cpu(pid: int) -> float:
    """CPU seconds of the exporter: per-thread schedstat (ns) if readable, else psutil (ticks)."""
    try:
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            total += int((task / "schedstat").read_text().split()[0])
        if total:
            return total / 1e9
    except (OSError, ValueError, IndexError):
        pass
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


async def _drive(cmd: dict, cfg: dict) -> dict:
    ports, module = cfg["ports"], {"tcp": "tcp_connect", "http": "http_2xx"}[cmd["kind"]]
    client = _Exporter(cfg["exporter_port"], 256)
    requests = []
    for i in range(cmd["n"]):
        port = ports[i % len(ports)]
        target = f"{HOST}:{port}" if cmd["kind"] == "tcp" else f"http://{HOST}:{port}/t/{i}"
        requests.append(
            f"GET /probe?module={module}&target={target} HTTP/1.1\r\n"
            f"Host: {HOST}:{cfg['exporter_port']}\r\n"
            f"X-Prometheus-Scrape-Timeout-Seconds: {TIMEOUT_S + 0.5:g}\r\n\r\n".encode()
        )
    interval, rng, seq = cmd["interval"], random.Random(7), itertools.count()
    stats = {"ok": 0, "failed": 0, "errors": 0}
    lags: list[float] = []
    tasks: set[asyncio.Task] = set()

    async def one(index: int, due: float) -> None:
        lags.append(time.monotonic() - due)
        try:
            stats["ok" if await client.probe(requests[index]) else "failed"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats["errors"] += 1

    cpu0, start = _exporter_cpu(cfg["exporter_pid"]), time.monotonic()
    end = start + cmd["duration"]
    heap = [(start + rng.uniform(0, interval), next(seq), i) for i in range(cmd["n"])]
    heapq.heapify(heap)
    while heap[0][0] < end:
        due, _, index = heap[0]
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        spread = interval * 0.05
        heapq.heapreplace(heap, (due + interval + rng.uniform(-spread, spread), next(seq), index))
        task = asyncio.create_task(one(index, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, late = await asyncio.wait(set(tasks), timeout=TIMEOUT_S + 2)
        stats["errors"] += len(late)  # the exporter never answered: a failure on its side
    cpu, wall = _exporter_cpu(cfg["exporter_pid"]) - cpu0, time.monotonic() - start
    client.close()
    done = stats["ok"] + stats["failed"]
    return {
        "completed": done,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 3),
        "per_cpu_s": round(done / cpu, 1) if cpu else None,
        "failures": stats["failed"] + stats["errors"],
        "driver_errors": stats["errors"],
        "driver_lag_p99_ms": ms(percentile(lags, 99)),
    }


def role_driver(args: argparse.Namespace) -> None:
    use_uvloop()
    cfg = json.loads(Path(args.config).read_text())
    say({"ready": True})
    for line in sys.stdin:
        say(asyncio.run(_drive(json.loads(line), cfg)))


# --------------------------------------------------------------------------- orchestrator


class Child:
    """A child process in its own process group, spoken to in JSON lines."""

    def __init__(self, argv: list[str], *, cwd: Path, log: Path, preexec: Any = None) -> None:
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            start_new_session=True,
            preexec_fn=preexec,
            text=True,
        )

    def ask(self, command: dict | None = None, timeout: float = 120.0) -> dict:
        if command is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        return self.read(timeout)

    def read(self, timeout: float) -> dict:
        import selectors

        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise RuntimeError(f"{self.proc.args[:4]} gave no answer in {timeout}s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.proc.args[:4]} exited: see {self.log.name}")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(3)
        self.log.close()


def role_args(role: str, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--role", role, *extra]


EXPORTER_CONFIG = f"""\
modules:
  tcp_connect:
    prober: tcp
    timeout: {TIMEOUT_S:g}s
    tcp:
      preferred_ip_protocol: ip4
  http_2xx:
    prober: http
    timeout: {TIMEOUT_S:g}s
    http:
      preferred_ip_protocol: ip4
      method: GET
"""


def wait_listening(port: int, child: Child, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.proc.args[0]} exited: see {child.log.name}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {HOST}:{port} after {seconds}s")


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.cases = QUICK_CASES if args.quick else FULL_CASES
        self.window = args.window or (3.0 if args.quick else 15.0)
        self.sip_n = args.sip_trunks or (200 if args.quick else 1000)
        self.sip_window = args.sip_window or (15.0 if args.quick else 60.0)
        self.sip_interval = args.sip_interval or (5.0 if args.quick else 10.0)
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
        self.children: list[Child] = []

    def spawn(self, name: str, argv: list[str], cpu: int | None = None) -> Child:
        preexec = (lambda: pin(cpu)) if cpu is not None and not self.args.no_pin else None
        child = Child(argv, cwd=self.dir, log=self.dir / f"{name}.log", preexec=preexec)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_sipp(self) -> list[int]:
        ports = []
        for i in range(SIP_INSTANCES):
            port = free_port(socket.SOCK_DGRAM)
            argv = [
                "sipp",
                "-sf",
                str(SIPP_SCENARIO),
                "-i",
                HOST,
                "-p",
                str(port),
                "-cp",
                str(free_port(socket.SOCK_DGRAM)),
                "-mi",
                HOST,
                "-mp",
                str(free_port(socket.SOCK_DGRAM)),
                "-nostdin",
            ]
            self.spawn(f"sipp{i}", argv, OTHER_CPU)
            ports.append(port)
        return ports

    def run(self) -> dict:
        began = time.monotonic()
        with_sip = not self.args.no_sip and sip_available() and shutil.which("sipp")
        peer = self.spawn("peer", role_args("peer", "--ports", str(PEER_PORTS)), OTHER_CPU)
        ports = peer.read(20)["ports"]
        exporter_port = free_port()
        (self.dir / "blackbox.yml").write_text(EXPORTER_CONFIG)
        exporter = self.spawn(
            "exporter",
            [
                EXPORTER,
                f"--config.file={self.dir / 'blackbox.yml'}",
                f"--web.listen-address={HOST}:{exporter_port}",
            ],
            PROBER_CPU,
        )
        sip_ports = self.start_sipp() if with_sip else []
        cfg = {
            "dir": str(self.dir),
            "ports": ports,
            "max_n": max(n for n, _ in self.cases),
            "exporter_port": exporter_port,
            "exporter_pid": exporter.proc.pid,
            "sip_ports": sip_ports,
            "sip_n": self.sip_n,
        }
        (self.dir / "config.json").write_text(json.dumps(cfg))
        config = str(self.dir / "config.json")
        ours = self.spawn("ours", role_args("ours", "--config", config), PROBER_CPU)
        driver = self.spawn("driver", role_args("driver", "--config", config), OTHER_CPU)
        wait_listening(exporter_port, exporter)
        driver.read(30)
        ready = ours.read(300)
        log(f"worker ready: {ready['targets']} targets, built in {ready['build_s']} s")
        cases = self.tcp_http(ours, driver)
        sip = self.sip(ours) if with_sip else None
        return summary(self, cases, sip, time.monotonic() - began)

    def tcp_http(self, ours: Child, driver: Child) -> list[dict]:
        results = []
        for n, interval in self.cases:
            for kind in KINDS:
                cmd = {"kind": kind, "n": n, "interval": interval, "duration": self.window}
                runs = []
                for rep in range(self.args.repeats):
                    # Alternate who goes first, so a slow spell on the machine hits both.
                    order = [("ours", ours), ("blackbox", driver)]
                    pair = dict(
                        (name, c.ask(cmd)) for name, c in order[:: 1 if rep % 2 == 0 else -1]
                    )
                    runs.append(pair)
                    log(
                        f"{kind:4} N={n:5} rate={n / interval:6.0f}/s  "
                        f"ours {pair['ours']['per_cpu_s']}/CPU-s "
                        f"(fail {pair['ours']['failures']}, lag p99 "
                        f"{pair['ours']['lag_p99_ms']} ms)  blackbox "
                        f"{pair['blackbox']['per_cpu_s']}/CPU-s "
                        f"(fail {pair['blackbox']['failures']})"
                    )
                results.append(case_result(kind, n, interval, runs))
        return results

    def sip(self, ours: Child) -> dict:
        cmd = {
            "kind": "sip",
            "n": self.sip_n,
            "interval": self.sip_interval,
            "duration": self.sip_window,
        }
        result = ours.ask(cmd, timeout=self.sip_window + 120)
        log(
            f"sip  N={self.sip_n} every {self.sip_interval:g}s for {self.sip_window:g}s: "
            f"{result['completed']} probes, {result['failures']} failed, "
            f"{result['hard_down']} hard DOWN, lag p99 {result['lag_p99_ms']} ms"
        )
        return {
            "trunks": self.sip_n,
            "interval_s": self.sip_interval,
            "window_s": self.sip_window,
            "instances": SIP_INSTANCES,
            "loss_pct": 5,
            "attempts": 3,
            **result,
        }


def case_result(kind: str, n: int, interval: float, runs: list[dict]) -> dict:
    def med(side: str, key: str) -> Any:
        values = [r[side][key] for r in runs if r[side].get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    ours = {
        k: med("ours", k)
        for k in (
            "per_cpu_s",
            "per_cpu_s_excl_store",
            "cpu_s",
            "store_cpu_s",
            "completed",
            "lag_p50_ms",
            "lag_p99_ms",
        )
    }
    ours["failures"] = sum(r["ours"]["failures"] for r in runs)
    blackbox = {
        k: med("blackbox", k) for k in ("per_cpu_s", "cpu_s", "completed", "driver_lag_p99_ms")
    }
    blackbox["failures"] = sum(r["blackbox"]["failures"] for r in runs)
    ratios = [
        r["ours"]["per_cpu_s"] / r["blackbox"]["per_cpu_s"]
        for r in runs
        if r["ours"]["per_cpu_s"] and r["blackbox"]["per_cpu_s"]
    ]
    ratios_excl = [
        r["ours"]["per_cpu_s_excl_store"] / r["blackbox"]["per_cpu_s"]
        for r in runs
        if r["ours"]["per_cpu_s_excl_store"] and r["blackbox"]["per_cpu_s"]
    ]
    return {
        "kind": kind,
        "n": n,
        "interval_s": interval,
        "rate_per_s": round(n / interval, 1),
        "repeats": len(runs),
        "ratio": round(statistics.median(ratios), 2) if ratios else None,
        "ratio_excl_store": round(statistics.median(ratios_excl), 2) if ratios_excl else None,
        "ours": ours,
        "blackbox": blackbox,
        "runs": runs if len(runs) > 1 else None,
    }


def summary(bench: Bench, cases: list[dict], sip: dict | None, elapsed: float) -> dict:
    ratios = [c["ratio"] for c in cases if c["ratio"] is not None]
    false_failures = sum(c["ours"]["failures"] for c in cases)
    out = {
        "mode": "quick" if bench.quick else "full",
        "window_s": bench.window,
        "repeats": bench.args.repeats,
        "pinned": not bench.args.no_pin,
        "ratio_vs_blackbox": min(ratios) if ratios else None,
        "ratio_vs_blackbox_median": round(statistics.median(ratios), 2) if ratios else None,
        "ratio_vs_blackbox_excl_store": min(
            (c["ratio_excl_store"] for c in cases if c["ratio_excl_store"]), default=None
        ),
        "false_failures": false_failures,
        "blackbox_false_failures": sum(c["blackbox"]["failures"] for c in cases),
        "lag_p99_ms": max((c["ours"]["lag_p99_ms"] or 0) for c in cases) if cases else None,
        "sip_lag_p99_ms": sip["lag_p99_ms"] if sip else None,
        "sip_false_down": sip["hard_down"] if sip else None,
        "sip_failed_probes": sip["failures"] if sip else None,
        "sip_probes": sip["completed"] if sip else None,
        "sip_trunks": sip["trunks"] if sip else None,
    }
    out["goals"] = {
        "ratio_ge_2": bool(ratios) and min(ratios) >= 2,
        "zero_false_failures": false_failures == 0,
        "sip_lag_p99_lt_100ms": None if sip is None else (sip["lag_p99_ms"] or 0) < 100,
        "sip_zero_false_down": None if sip is None else sip["hard_down"] == 0,
    }
    out["cases"] = [{k: v for k, v in c.items() if v is not None} for c in cases]
    out["sip"] = sip
    out["elapsed_s"] = round(elapsed, 1)
    return out


def log(message: str) -> None:
    print(message, flush=True)


def print_table(result: dict) -> None:
    log("")
    log(
        "| kind | N | probes/s | ours probes/CPU-s | (excl. store) | blackbox probes/CPU-s "
        "| ratio | ours fail | bb fail | ours lag p99 ms |"
    )
    log("|---|---|---|---|---|---|---|---|---|---|")
    for c in result["cases"]:
        o, b = c["ours"], c["blackbox"]
        log(
            f"| {c['kind']} | {c['n']} | {c['rate_per_s']:g} | {o['per_cpu_s']} | "
            f"{o.get('per_cpu_s_excl_store')} | {b['per_cpu_s']} | {c.get('ratio')} | "
            f"{o['failures']} | {b['failures']} | {o['lag_p99_ms']} |"
        )
    log("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 100, 1 000; under a minute")
    parser.add_argument("--repeats", type=int, default=1, help="runs per case (median kept)")
    parser.add_argument("--window", type=float, help="seconds per measurement window")
    parser.add_argument("--sip-trunks", type=int)
    parser.add_argument("--sip-window", type=float)
    parser.add_argument("--sip-interval", type=float)
    parser.add_argument("--no-sip", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, store)")
    parser.add_argument("--role", choices=["peer", "ours", "driver"], help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, default=PEER_PORTS, help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        {"peer": role_peer, "ours": role_ours, "driver": role_driver}[args.role](args)
        return 0
    if not os.path.exists(EXPORTER):
        parser.error(f"{EXPORTER} missing: apt-get install prometheus-blackbox-exporter")
    if not args.no_pin:
        pin(OTHER_CPU)
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = bench.run()
    finally:
        bench.close()
    print_table(result)
    print(json.dumps(result, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
