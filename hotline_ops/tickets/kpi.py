"""KPI figures from the store for one period (queries in store.ticket_kpi, formulas in
core.kpi; the reports read the same queries)."""

from __future__ import annotations

from typing import Any

from hotline_ops.core import kpi as core
from hotline_ops.store import ticket_kpi


def compute(app: Any, *, period: core.Period) -> dict[str, Any]:
    with app.store.session() as session:
        figures = ticket_kpi.measure(session, period.start, period.end)
    return {
        "period": period.label,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "kpi": figures,
    }
