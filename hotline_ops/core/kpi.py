"""Hotline KPI formulas (pure), per CONTRACT.md and GB/T 33358.

Every KPI is a ratio with its numerator and denominator kept, so a report can show how it
was reached; an empty denominator gives ``None`` (no data), never 0 % or 100 %.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ANSWER_WITHIN_S = 15.0  # GB/T 33358: answered within 15 s
REPEAT_WINDOW_DAYS = 30  # a caller back on the same subject within 30 days is a repeat call
DIMENSIONS = ("attitude", "efficiency", "result")  # P6.2
SATISFIED = (2, 3)  # 基本满意 and 满意 count as satisfied


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> Period:
        """``2027-03`` (a month) or ``2027-03-05`` (a day), cut in the site's time zone."""
        parts = [int(p) for p in text.split("-")]
        if len(parts) == 2:
            first = date(parts[0], parts[1], 1)
            days = calendar.monthrange(parts[0], parts[1])[1]
        elif len(parts) == 3:
            first, days = date(*parts), 1
        else:
            raise ValueError("period must be YYYY-MM or YYYY-MM-DD")
        start = datetime(first.year, first.month, first.day, tzinfo=tz)
        end = start + timedelta(days=days)
        return cls(text, start.astimezone(UTC), end.astimezone(UTC))


def ratio(num: int, den: int) -> dict[str, Any]:
    return {"value": round(num / den, 4) if den else None, "num": num, "den": den}


@dataclass(frozen=True)
class Calls:
    offered: int = 0
    answered: int = 0
    answered_in_15s: int = 0


@dataclass(frozen=True)
class Tickets:
    created: int = 0
    closed: int = 0
    close_attempts: int = 0  # passed + failed completeness checks (P5.2)
    evaluated: int = 0
    returned: int = 0
    repeat_calls: int = 0
    # deadline kind -> (met in time, breached)
    deadlines: dict[str, tuple[int, int]] = field(default_factory=dict)
    # dimension -> (satisfied, rated)
    satisfaction: dict[str, tuple[int, int]] = field(default_factory=dict)
    # collection channel (ivr, sms, seat) -> evaluated through it (P6.1)
    evaluated_via: dict[str, int] = field(default_factory=dict)


EVALUATION_CHANNELS = ("ivr", "sms", "seat")


def _on_time(t: Tickets, kind: str) -> dict[str, Any]:
    met, late = t.deadlines.get(kind, (0, 0))
    return ratio(met, met + late)


def compute(calls: Calls, t: Tickets) -> dict[str, Any]:
    """The KPI set of R3.2 and P3–P7 (keys are stable: reports and probes read them)."""
    return {
        "answer_rate": ratio(calls.answered, calls.offered),  # 接通率 R3.2
        "answer_15s_rate": ratio(calls.answered_in_15s, calls.answered),  # GB/T 33358
        "dispatch_on_time": _on_time(t, "dispatch"),  # P3.1
        "first_response_on_time": _on_time(t, "first_response"),  # P4.1
        "completion_on_time": _on_time(t, "complete"),  # 按时办结率
        "completion_rate": ratio(t.closed, t.created),  # 办结率 R3.2
        "closing_pass_rate": ratio(t.closed, t.close_attempts),  # P5.2 ≥ 98 %
        "evaluation_coverage": ratio(t.evaluated, t.closed),  # P6.1 ≥ 90 %
        "evaluation_coverage_by_channel": {  # P6.1: evaluated through each channel ÷ closed
            via: ratio(t.evaluated_via.get(via, 0), t.closed) for via in EVALUATION_CHANNELS
        },
        "satisfaction": {k: ratio(*v) for k, v in sorted(t.satisfaction.items())},  # P6.2
        "callback_on_time": _on_time(t, "callback"),  # P7.1
        "return_rate": ratio(t.returned, t.closed),
        "repeat_call_rate": ratio(t.repeat_calls, t.created),
    }


def tally_channels(scores: list[dict[str, Any]]) -> dict[str, int]:
    """Evaluations per collection channel; older ones without ``via`` count as seat."""
    out: dict[str, int] = {}
    for score in scores:
        via = str(score.get("via") or "seat")
        out[via] = out.get(via, 0) + 1
    return out


def tally_satisfaction(scores: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per dimension (the three of P6.2 and every custom item): (satisfied, rated)."""
    out: dict[str, list[int]] = {d: [0, 0] for d in DIMENSIONS}
    for score in scores:
        items = {**{d: score.get(d) for d in DIMENSIONS}, **(score.get("custom") or {})}
        for name, value in items.items():
            if value is None:
                continue
            cell = out.setdefault(name, [0, 0])
            cell[0] += value in SATISFIED
            cell[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}
