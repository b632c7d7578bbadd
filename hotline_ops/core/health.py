"""Soft/hard health state of one target (Nagios-style, pure).

A single failed probe is usually a lost packet, not an outage: the target turns *hard* DOWN
only after ``attempts`` consecutive failures, and back UP only after ``rise`` consecutive
successes. Only hard flips leave this module, so one bad sample never wakes anybody.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class HealthPolicy:
    attempts: int = 3
    rise: int = 1

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.rise < 1:
            raise ValueError("attempts and rise must be >= 1")


@dataclass(frozen=True)
class HealthState:
    status: Status = Status.UNKNOWN
    fails: int = 0
    oks: int = 0
    changed_at: datetime | None = None
    checked_at: datetime | None = None

    @property
    def soft_failing(self) -> bool:
        """Failing, but not yet long enough to be hard DOWN."""
        return self.status != Status.DOWN and self.fails > 0


@dataclass(frozen=True)
class Flip:
    """A hard state change: the only thing that opens or resolves an incident."""

    old: Status
    new: Status
    at: datetime


def observe(
    state: HealthState, ok: bool, now: datetime, policy: HealthPolicy
) -> tuple[HealthState, Flip | None]:
    """Fold one probe outcome into the state; return the new state and a flip, if any."""
    if ok:
        state = replace(state, oks=state.oks + 1, fails=0, checked_at=now)
        reached = state.oks >= policy.rise
        target = Status.UP
    else:
        state = replace(state, fails=state.fails + 1, oks=0, checked_at=now)
        reached = state.fails >= policy.attempts
        target = Status.DOWN
    if not reached or state.status == target:
        return state, None
    flip = Flip(old=state.status, new=target, at=now)
    return replace(state, status=target, changed_at=now), flip
