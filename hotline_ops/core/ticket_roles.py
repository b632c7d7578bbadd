"""Who may do what on the ticket service (pure data; checked on every API route).

Roles follow the 12345 centre's posts: seat agents take calls and do callbacks, dispatchers
route, handling units (承办单位) work the ticket, reviewers check before closing, supervisors
urge (督办), O&M engineers import call records and read KPIs, the purchaser's auditor only
reads, admin does everything.
"""

from __future__ import annotations

READ, CREATE, ATTACH, KPI, CDR = "read", "create", "attach", "kpi", "cdr"
PROBE = "probe"  # the P9.1 synthetic transaction (create → query → close)
IVR = "ivr_evaluation"  # P6.1: the telephony integration posts survey keypresses

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "seat_agent": frozenset(
        {
            READ,
            CREATE,
            ATTACH,
            "accept",
            "close",
            "evaluate",
            "callback",
            "callback_missed",
            "archive",
            "merge",
        }
    ),
    "dispatcher": frozenset(
        {READ, "dispatch", "redispatch", "objection_approve", "objection_reject", "merge"}
    ),
    "reviewer": frozenset({READ, "approve", "reject", "extend_approve", "extend_reject"}),
    "handling_unit": frozenset(
        {READ, ATTACH, "sign", "respond", "submit", "object", "extend_request"}
    ),
    "supervisor": frozenset({READ, KPI, "supervise"}),
    "om_engineer": frozenset({READ, KPI, CDR, PROBE}),
    "auditor": frozenset({READ, KPI}),
    # The IVR only posts keypresses: it reads nothing (callers' data stays out of it).
    "ivr": frozenset({IVR}),
}
ALL = frozenset().union(*ROLE_ACTIONS.values())
ROLE_ACTIONS["admin"] = ALL
ROLES = tuple(ROLE_ACTIONS)


def may(role: str, permission: str) -> bool:
    return permission in ROLE_ACTIONS.get(role, frozenset())
