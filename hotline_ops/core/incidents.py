"""Incident lifecycle rules, pure (first cut: open -> acknowledged -> resolved)."""

from __future__ import annotations

from enum import StrEnum


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# action -> (allowed from, goes to)
TRANSITIONS: dict[str, tuple[frozenset[IncidentStatus], IncidentStatus]] = {
    "ack": (frozenset({IncidentStatus.OPEN}), IncidentStatus.ACKNOWLEDGED),
    "resolve": (
        frozenset({IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED}),
        IncidentStatus.RESOLVED,
    ),
    # The same fault back within the reopen window continues the old incident (one
    # incident for one fault, however often it blinks).
    "reopen": (frozenset({IncidentStatus.RESOLVED}), IncidentStatus.OPEN),
}


class TransitionRefused(ValueError):
    """The action is not allowed from the current status."""


def next_status(current: IncidentStatus, action: str) -> IncidentStatus:
    if action not in TRANSITIONS:
        raise TransitionRefused(f"unknown action '{action}'")
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        names = ", ".join(sorted(allowed))
        raise TransitionRefused(f"cannot {action} an incident that is {current} (only {names})")
    return target


def is_open(status: IncidentStatus) -> bool:
    return status != IncidentStatus.RESOLVED
