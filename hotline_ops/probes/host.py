"""Local host probe: CPU, memory, disk, load and required processes against thresholds.

CPU is the busy share between two snapshots of the CPU times kept per probe, so each check
reports the average since the previous one (a real utilisation over the interval, not a
momentary spike). The very first check samples a short window instead. psutil's own
``cpu_percent()`` keeps one module-wide baseline, which several probes would disturb.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import psutil
from pydantic import Field, field_validator, model_validator

from hotline_ops.probes.base import Probe, ProbeResult, run_within

_CPU_WINDOW_S = 0.2  # shortest window that gives a usable CPU figure (100 Hz kernel ticks)
_NOT_BUSY = ("idle", "iowait")
_COUNTED_TWICE = ("guest", "guest_nice")  # Linux already counts these in user and nice

Percent = Annotated[float, Field(gt=0, le=100)]


def disk_metric(path: str) -> str:
    """Metric name for a mount point: ``/`` -> ``disk_pct_root``, ``/var/log`` -> ``…_var_log``."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", path).strip("_").lower()
    return f"disk_pct_{slug or 'root'}"


def _busy_pct(before: Any, after: Any) -> float:
    def split(times: Any) -> tuple[float, float]:
        fields = times._asdict()
        total = sum(fields.values()) - sum(fields.get(name, 0.0) for name in _COUNTED_TWICE)
        idle = sum(fields.get(name, 0.0) for name in _NOT_BUSY)
        return total, total - idle

    total_before, busy_before = split(before)
    total_after, busy_after = split(after)
    elapsed = total_after - total_before
    if elapsed <= 0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (busy_after - busy_before) / elapsed))


@dataclass
class _Sample:
    cpu_pct: float
    memory_pct: float
    load1: float
    disks: dict[str, float | str] = field(default_factory=dict)  # percent, or why unreadable
    missing: list[str] = field(default_factory=list)


class HostProbe(Probe):
    """Checks the machine the daemon runs on; ok when every configured threshold holds."""

    kind: ClassVar[str] = "host"
    params: HostProbe.Params

    class Params(Probe.Params):
        cpu_max_pct: Percent | None = None
        memory_max_pct: Percent | None = None
        disks: dict[str, Percent] = Field(default_factory=dict)  # mount point -> max used %
        # Each must be running: equal to a process name or a substring of a command line.
        processes: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
        load_max: float | None = Field(default=None, gt=0)

        @field_validator("disks")
        @classmethod
        def _metric_names_are_distinct(cls, disks: dict[str, float]) -> dict[str, float]:
            seen: dict[str, str] = {}
            for path in disks:
                if not path:
                    raise ValueError("disk path must not be empty")
                name = disk_metric(path)
                if name in seen:
                    raise ValueError(f"disks '{seen[name]}' and '{path}' both map to {name}")
                seen[name] = path
            return disks

        @model_validator(mode="after")
        def _something_to_check(self) -> HostProbe.Params:
            thresholds = (self.cpu_max_pct, self.memory_max_pct, self.load_max)
            if all(t is None for t in thresholds) and not self.disks and not self.processes:
                raise ValueError(
                    "nothing to check: set cpu_max_pct, memory_max_pct, disks, processes "
                    "or load_max"
                )
            return self

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._cpu_base: tuple[float, Any] | None = None  # (monotonic, psutil.cpu_times())

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt(timeout))

    async def _attempt(self, timeout: float) -> ProbeResult:
        if self._cpu_base is None:
            self._cpu_base = (time.monotonic(), psutil.cpu_times())
        wait = self._cpu_base[0] + min(_CPU_WINDOW_S, timeout / 2) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        start = time.perf_counter()
        sample = await asyncio.to_thread(self._sample)  # /proc walks can take a while
        return self._judge(sample, time.perf_counter() - start)

    def _sample(self) -> _Sample:
        now = psutil.cpu_times()
        assert self._cpu_base is not None
        cpu = _busy_pct(self._cpu_base[1], now)
        self._cpu_base = (time.monotonic(), now)
        sample = _Sample(cpu, psutil.virtual_memory().percent, psutil.getloadavg()[0])
        for path in self.params.disks:
            try:
                sample.disks[path] = psutil.disk_usage(path).percent
            except OSError as exc:
                sample.disks[path] = exc.strerror or type(exc).__name__
        sample.missing = _missing_processes(self.params.processes)
        return sample

    def _judge(self, sample: _Sample, latency: float) -> ProbeResult:
        p = self.params
        metrics = {"cpu_pct": sample.cpu_pct, "memory_pct": sample.memory_pct}
        metrics["load1"] = sample.load1
        seen: list[str] = []
        problems: list[str] = []

        def judge(label: str, value: float, limit: float | None, unit: str = "%") -> None:
            shown = f"{label} {value:.1f}{unit}" if unit else f"{label} {value:.2f}"
            if limit is not None and value > limit:
                problems.append(f"{shown} over {limit:g}{unit}")
            elif limit is not None:
                seen.append(shown)

        judge("cpu", sample.cpu_pct, p.cpu_max_pct)
        judge("memory", sample.memory_pct, p.memory_max_pct)
        judge("load", sample.load1, p.load_max, unit="")
        for path, limit in p.disks.items():
            used = sample.disks[path]
            if isinstance(used, str):
                problems.append(f"disk {path}: {used}")
                continue
            metrics[disk_metric(path)] = used
            judge(f"disk {path}", used, limit)
        if p.processes:
            metrics["processes_missing"] = float(len(sample.missing))
            problems += [f"process '{name}' not running" for name in sample.missing]
            if not sample.missing:
                count = len(p.processes)
                seen.append(f"{count} process{'' if count == 1 else 'es'} running")
        if problems:
            return ProbeResult(False, latency, "; ".join(problems), metrics)
        return ProbeResult(True, latency, ", ".join(seen), metrics)


def _missing_processes(wanted: list[str]) -> list[str]:
    """The names in ``wanted`` that no live process (other than this one) matches."""
    if not wanted:
        return []
    remaining = set(wanted)
    me = os.getpid()
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if proc.pid == me or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        name = info["name"] or ""
        cmdline = " ".join(info["cmdline"] or ())
        remaining = {w for w in remaining if w != name and w not in cmdline}
        if not remaining:
            break
    return [w for w in wanted if w in remaining]
