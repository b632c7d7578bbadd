"""Durations as operators write them: ``30``, ``30s``, ``5m``, ``2h``, ``1d``, ``1h30m``."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: object) -> float:
    """Seconds in ``value``; raises ValueError naming what was wrong."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return _positive(float(value), value)
    text = str(value).strip().replace(" ", "")
    if _NUMBER.fullmatch(text):
        return _positive(float(text), value)  # a quoted "30" means seconds, as 30 does
    if not text or _PART.sub("", text):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 2h, 1h30m)")
    return _positive(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)), value)


def _positive(seconds: float, raw: object) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite: {raw!r}")
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {raw!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Compact form for tables: 1h30m, 45s, -5m (negative = overdue)."""
    rest = int(abs(seconds))
    sign = "-" if seconds < 0 and rest else ""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts[:2]) or "0s")
