"""HOOK for the ticket service's KPIs (issue [6/7], CONTRACT.md P3.1–P9.3, R3.2, C2).

The core ticket service is being built in parallel. Until it lands, ``ticket_kpis`` returns
None and every report shows those figures as "无证据" (no evidence). When it lands, replace
the body with queries over its tables, returning a dict with any of the keys below (each a
number over the period, or None when not measured); the acceptance pack and the monthly
report pick them up without other changes.

    dispatch_max_min      P3.1 / P9.1  longest accepted -> dispatched, minutes (≤ 30)
    urgent_response_max_min  P4.1      longest urgent first response, minutes (≤ 5)
    closure_pass_rate     P5.2         passed ÷ submitted (≥ 0.98)
    evaluation_coverage   P6.1         evaluated ÷ closed (≥ 0.90)
    callback_late         P7.1         callbacks later than 24 h / 1 h (0)
    warning_late          P8.2         timeout warnings later than 60 min before (0)
    concurrent_users_peak P9.3         (≥ 50)
    seats_online_peak     P9.3         (≥ 26)
    tickets               R3.2         tickets created in the period
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

KPI_KEYS = (
    "dispatch_max_min",
    "urgent_response_max_min",
    "closure_pass_rate",
    "evaluation_coverage",
    "callback_late",
    "warning_late",
    "concurrent_users_peak",
    "seats_online_peak",
    "tickets",
)


def ticket_kpis(app: Any, session: Any, start: datetime, end: datetime) -> dict[str, Any] | None:
    """Ticket-service KPIs over [start, end); None: no ticket service yet (no evidence)."""
    del app, session, start, end
    return None
