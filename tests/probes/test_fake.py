"""FakeProbe: scripted outcomes and overrides by name."""

from __future__ import annotations

import asyncio

import pytest

from hotline_ops.probes import fake
from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.fake import FakeProbe


def _run(probe: FakeProbe, times: int, timeout: float = 1.0) -> list[ProbeResult]:
    async def checks() -> list[ProbeResult]:
        return [await probe.check(timeout) for _ in range(times)]

    return asyncio.run(checks())


def test_it_cycles_through_results_in_order() -> None:
    results = _run(FakeProbe({"results": [True, False, False]}), times=5)
    assert [r.ok for r in results] == [True, False, False, True, False]


def test_it_reports_configured_latency_and_default_details() -> None:
    results = _run(FakeProbe({"results": [True, False], "latency_s": 0.002}), times=2)
    assert [(r.latency_s, r.detail) for r in results] == [
        (0.002, "fake ok"),
        (0.002, "fake failure"),
    ]


def test_it_reports_the_configured_detail() -> None:
    [result] = _run(FakeProbe({"detail": "all quiet"}), times=1)
    assert result == ProbeResult(ok=True, latency_s=0.001, detail="all quiet")


def test_it_lets_fake_states_override_results_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = FakeProbe({"results": [True], "name": "db"})
    monkeypatch.setitem(fake.FAKE_STATES, "db", False)
    overridden = _run(probe, times=1)
    monkeypatch.delitem(fake.FAKE_STATES, "db")
    released = _run(probe, times=1)
    assert [r.ok for r in overridden + released] == [False, True]


def test_it_ignores_fake_states_of_other_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fake.FAKE_STATES, "cache", False)
    [result] = _run(FakeProbe({"name": "db"}), times=1)
    assert result.ok is True


def test_it_times_out_when_latency_exceeds_the_timeout() -> None:
    [result] = _run(FakeProbe({"latency_s": 5.0}), times=1, timeout=0.05)
    assert result == ProbeResult(ok=False, latency_s=None, detail="timeout after 0.05s")
