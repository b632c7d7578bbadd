"""Incident lifecycle rules, pure.

open → acknowledged → (level 1: emergency plan started) → mitigated → resolved → closed,
with reopen from resolved. Closing a level 1 or 2 incident needs a postmortem. Every action
not listed for the current status is refused with a message that says what is allowed.
"""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    PLAN = "plan"  # level 1: emergency plan started (M2.3a)
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


S = IncidentStatus
ACTIVE = frozenset({S.OPEN, S.ACKNOWLEDGED, S.PLAN, S.MITIGATED})

# action -> (allowed from, goes to)
TRANSITIONS: dict[str, tuple[frozenset[IncidentStatus], IncidentStatus]] = {
    "ack": (frozenset({S.OPEN}), S.ACKNOWLEDGED),
    "plan": (frozenset({S.OPEN, S.ACKNOWLEDGED}), S.PLAN),
    "mitigate": (frozenset({S.OPEN, S.ACKNOWLEDGED, S.PLAN}), S.MITIGATED),
    "resolve": (ACTIVE, S.RESOLVED),
    "close": (frozenset({S.RESOLVED}), S.CLOSED),
    # The same fault back within the reopen window continues the old incident (one
    # incident for one fault, however often it blinks); a person may reopen too.
    "reopen": (frozenset({S.RESOLVED}), S.OPEN),
}
# Levels whose close needs a postmortem (the contract's system and core faults).
POSTMORTEM_LEVELS = frozenset({1, 2})

# Reaching a status also passes the earlier milestones: what each status counts as reached.
REACHED: dict[str, frozenset[str]] = {
    S.ACKNOWLEDGED: frozenset({"acknowledged"}),
    S.PLAN: frozenset({"acknowledged", "plan"}),
    S.MITIGATED: frozenset({"acknowledged"}),
    S.RESOLVED: frozenset({"acknowledged", "plan", "resolved"}),
}


class TransitionRefused(ValueError):
    """The action is not allowed from the current status."""


def next_status(
    current: IncidentStatus, action: str, *, level: int = 3, has_postmortem: bool = False
) -> IncidentStatus:
    if action not in TRANSITIONS:
        raise TransitionRefused(f"unknown action '{action}'")
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        names = ", ".join(sorted(allowed))
        raise TransitionRefused(f"cannot {action} an incident that is {current} (only {names})")
    if action == "plan" and level != 1:
        raise TransitionRefused(
            f"an emergency plan is for level 1 incidents; this is level {level}"
        )
    if action == "close" and level in POSTMORTEM_LEVELS and not has_postmortem:
        raise TransitionRefused(
            f"a level {level} incident needs a postmortem before it closes (--postmortem)"
        )
    return target


def is_open(status: IncidentStatus) -> bool:
    return status in ACTIVE


def reached(status: IncidentStatus) -> frozenset[str]:
    """Milestones a status counts as reached (timers met by any of them are met)."""
    return REACHED.get(status, frozenset())
