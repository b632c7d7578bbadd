"""Run the real `hotline-ops` console script as a child process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOTLINE_OPS = str(Path(sys.executable).parent / "hotline-ops")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HOTLINE_OPS, "--config", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )


def _env() -> dict[str, str]:
    # The child must not inherit overrides meant for the test process.
    return {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}


class Serve:
    """`hotline-ops serve` on a free port; stopped by SIGTERM (or SIGKILL) by the test."""

    def __init__(self, root: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [HOTLINE_OPS, "--config", str(root), "serve", "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=_env(),
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, within_s: float = 30) -> dict:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}")
            try:
                reply = httpx.get(f"{self.base}/healthz", timeout=1)
                if reply.status_code == 200:
                    return reply.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve not healthy within {within_s}s")

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", timeout=5)

    def terminate(self, timeout_s: float = 5) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        self.log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()

    def ensure_stopped(self) -> None:
        if self.proc.poll() is None:
            self.kill()


def wait_for(predicate, within_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every_s)
    return predicate()
