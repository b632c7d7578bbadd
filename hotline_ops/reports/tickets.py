"""The ticket service's KPIs for the reports and the acceptance pack (issues [6/7],
CONTRACT.md P3.1–P9.3, R3.2). The queries are store.ticket_kpi's, the same the ticket API
serves; ``ticket_kpis`` returns a dict with the keys below (each a number over the period,
or None when not measured) plus ``detail`` (how each was reached), or None when the period
has neither a ticket nor a call record: every ticket clause then shows "无证据".

    dispatch_max_min      P3.1 / P9.1  longest accepted -> dispatched, minutes (≤ 30)
    urgent_response_max_min  P4.1      longest urgent first response, minutes (≤ 5)
    closure_pass_rate     P5.2         passed ÷ submitted (≥ 0.98)
    evaluation_coverage   P6.1         evaluated ÷ closed (≥ 0.90)
    callback_late         P7.1         callbacks later than 24 h / 1 h (0)
    warning_late          P8.2         timeout warnings later than 60 min before (0)
    concurrent_users_peak P9.3         (≥ 50; not recorded by the ticket store: None)
    seats_online_peak     P9.3         (≥ 26; not recorded by the ticket store: None)
    tickets               R3.2         tickets created in the period
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline_ops.store import ticket_kpi

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
    """Ticket-service KPIs over [start, end); None: nothing recorded (no evidence)."""
    del app  # the figures depend on the store only
    return ticket_kpi.evidence(session, start, end)
