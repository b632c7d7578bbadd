"""A probe that touches no network, for tests and demos."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any, ClassVar

from pydantic import Field

from hotline_ops.probes.base import Probe, ProbeResult, run_within

FAKE_STATES: dict[str, bool] = {}
"""Outcome overrides by probe name; see FakeProbe."""


class FakeProbe(Probe):
    """Reports scripted outcomes.

    Params:
        results: outcomes returned in order, one per check, cycling forever (default ``[True]``).
        latency_s: how long each check sleeps and the latency it reports (default 0.001);
            a value above the check's timeout yields "timeout after Xs", like a slow target.
        detail: the reported detail; when empty, "fake ok" or "fake failure".
        name: a key into the module dict ``FAKE_STATES``. While ``FAKE_STATES[name]`` exists,
            its value wins over ``results`` (which still advance one step per check). Tests and
            demos flip a running service up or down with ``FAKE_STATES["db"] = False`` and hand
            control back with ``del FAKE_STATES["db"]``.
    """

    kind: ClassVar[str] = "fake"
    params: FakeProbe.Params

    class Params(Probe.Params):
        results: list[bool] = Field(default_factory=lambda: [True], min_length=1)
        latency_s: float = Field(default=0.001, ge=0)
        detail: str = ""
        name: str | None = None

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._results = itertools.cycle(self.params.results)

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt())

    def attempt(self) -> Coroutine[Any, Any, ProbeResult]:
        return self._attempt()

    async def _attempt(self) -> ProbeResult:
        ok = self._next_outcome()
        await asyncio.sleep(self.params.latency_s)
        detail = self.params.detail or ("fake ok" if ok else "fake failure")
        return ProbeResult(ok=ok, latency_s=self.params.latency_s, detail=detail)

    def _next_outcome(self) -> bool:
        scripted = next(self._results)
        name = self.params.name
        if name is not None and name in FAKE_STATES:
            return FAKE_STATES[name]
        return scripted
