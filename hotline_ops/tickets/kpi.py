"""KPI figures from the store for one period (queries in store.ticket_kpi, formulas in
core.kpi; the reports read the same queries)."""

from __future__ import annotations

from typing import Any

from hotline_ops.core import kpi as core
from hotline_ops.errors import BadRequest
from hotline_ops.store import ticket_kpi


def parse_period(text: str, tz: Any) -> core.Period:
    """A day, ISO week or month (``core.Period.parse``); a bad one is a BadRequest. Here,
    not in tickets.api, so that the CLI's `ticket kpi` does not import FastAPI."""
    try:
        return core.Period.parse(text, tz)
    except ValueError as exc:
        raise BadRequest(f"period: {exc}") from exc


def compute(app: Any, *, period: core.Period) -> dict[str, Any]:
    figures = ticket_kpi.measure_in(app.store, period.start, period.end)
    return {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "kpi": figures,
    }
