"""TCP connect probe: is something listening, and how long does the handshake take."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine
from typing import Any, ClassVar

from pydantic import Field

from hotline_ops.probes.base import Probe, ProbeResult, run_within


class TcpProbe(Probe):
    """Connects to ``host:port``; ok when the TCP handshake completes in time."""

    kind: ClassVar[str] = "tcp"
    params: TcpProbe.Params

    class Params(Probe.Params):
        host: str = Field(min_length=1)
        port: int = Field(ge=1, le=65535)

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt())

    def attempt(self) -> Coroutine[Any, Any, ProbeResult]:
        return self._attempt()

    def __init__(self, params: dict) -> None:
        super().__init__(params)
        self._literal = _literal(self.params.host, self.params.port)

    async def _address(self, loop: asyncio.AbstractEventLoop) -> tuple[int, tuple]:
        """An IP literal needs no lookup (getaddrinfo runs in a thread pool: costly at
        thousands of checks a second); a name is resolved on every check, as it may move."""
        if self._literal is not None:
            return self._literal
        infos = await loop.getaddrinfo(self.params.host, self.params.port, type=socket.SOCK_STREAM)
        return infos[0][0], infos[0][4]

    async def _attempt(self) -> ProbeResult:
        # A bare non-blocking socket: no streams, no protocol objects. At thousands of
        # checks a second this is most of the probe's CPU.
        loop = asyncio.get_running_loop()
        family, address = self._literal or await self._address(loop)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            start = time.perf_counter()
            await loop.sock_connect(sock, address)
            latency = time.perf_counter() - start
        finally:
            sock.close()
        return ProbeResult(ok=True, latency_s=latency, detail="connected")


def _literal(host: str, port: int) -> tuple[int, tuple] | None:
    """(family, address) when ``host`` is an IPv4 or IPv6 literal, else None."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family, (host, port)
    return None
