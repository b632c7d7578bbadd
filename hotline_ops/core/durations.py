"""Durations as operators write them: ``30``, ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ValueError naming what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return _positive(float(value), value)
    text = str(value).strip().replace(" ", "")
    if not text or _PART.sub("", text):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 2h, 1h30m)")
    return _positive(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)), value)


def _positive(seconds: float, raw: object) -> float:
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {raw!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact form for tables: 1h30m, 45s, -5m (negative = overdue)."""
    sign = "-" if seconds < 0 else ""
    rest = int(abs(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts[:2]) or "0s")
