"""TCP connect probe: is something listening, and how long does the handshake take."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from typing import ClassVar

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

    async def _attempt(self) -> ProbeResult:
        start = time.perf_counter()
        _, writer = await asyncio.open_connection(self.params.host, self.params.port)
        latency = time.perf_counter() - start
        writer.close()
        # A reset while closing does not undo a handshake that already succeeded.
        with suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(ok=True, latency_s=latency, detail="connected")
