"""Nagios plugin output (Monitoring Plugins guidelines), so Zabbix, Icinga or Nagios can
call `hotline-ops probe run --nagios TARGET` as an ordinary check command."""

from __future__ import annotations

import re

from hotline_ops.probes.base import ProbeResult

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
# Alive but flagged: the target answers, yet not the way a healthy one does.
WARNING_CLASSES = {"refused", "warning"}


def code_of(result: ProbeResult) -> int:
    if not result.ok:
        return CRITICAL
    return WARNING if result.classification in WARNING_CLASSES else OK


def status_line(name: str, result: ProbeResult) -> tuple[str, int]:
    code = code_of(result)
    perf = perfdata(result)
    line = f"{NAMES[code]} - {name}: {result.detail}"
    return (f"{line} | {perf}" if perf else line), code


def perfdata(result: ProbeResult) -> str:
    items = []
    if result.latency_s is not None:
        items.append(f"time={result.latency_s:.6f}s;;;0")
    for key, value in sorted(result.metrics.items()):
        items.append(f"{_label(key)}={value:g}")
    return " ".join(items)


def _label(key: str) -> str:
    # Perfdata labels with spaces or '=' need quoting; ours never need more than a cleanup.
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", key)
