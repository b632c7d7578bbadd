"""Soft/hard health state of one target (Nagios-style, pure).

A single failed probe is usually a lost packet, not an outage: the target turns *hard* DOWN
only after ``attempts`` consecutive failures, and back UP only after ``rise`` consecutive
successes. Only hard flips leave this module, so one bad sample never wakes anybody.

Flap detection (Nagios' weighted percent state change): a target whose recent results keep
changing is *flapping*; while it flaps, its incident stays open instead of opening and
resolving again every few minutes.
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
    flap_window: int = 21
    flap_high: float = 0.5  # start flapping above this weighted share of changes
    flap_low: float = 0.25  # stop flapping below it (hysteresis)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.rise < 1:
            raise ValueError("attempts and rise must be >= 1")
        if self.flap_window < 3 or not 0 <= self.flap_low <= self.flap_high <= 1:
            raise ValueError("need flap_window >= 3 and 0 <= flap_low <= flap_high <= 1")


@dataclass(frozen=True)
class HealthState:
    status: Status = Status.UNKNOWN
    fails: int = 0
    oks: int = 0
    changed_at: datetime | None = None
    checked_at: datetime | None = None
    history: str = ""  # last results, oldest first: "1" ok, "0" failed
    flapping: bool = False

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


@dataclass(frozen=True)
class Verdict:
    state: HealthState
    flip: Flip | None = None
    flap: str | None = None  # "start" | "stop" when flapping begins or ends


def assess(state: HealthState, ok: bool, now: datetime, policy: HealthPolicy) -> Verdict:
    """``observe`` plus result history and flap detection."""
    if ok and _steady(state, policy):
        # Hard UP with a full window of successes: only the counters and checked_at move
        # (the same outcome as below, without three copies and a flap-score loop; this is
        # every result of a healthy target, thousands a second).
        steady = HealthState(
            Status.UP, 0, state.oks + 1, state.changed_at, now, state.history, False
        )
        return Verdict(steady)
    state, flip = observe(state, ok, now, policy)
    history = (state.history + ("1" if ok else "0"))[-policy.flap_window :]
    change = flap_change(history, policy.flap_window)
    flapping = state.flapping
    if not flapping and change > policy.flap_high:
        flapping = True
    elif flapping and change < policy.flap_low:
        flapping = False
    event = None if flapping == state.flapping else ("start" if flapping else "stop")
    return Verdict(replace(state, history=history, flapping=flapping), flip, event)


def _steady(state: HealthState, policy: HealthPolicy) -> bool:
    return (
        state.status == Status.UP
        and not state.flapping
        and state.fails == 0
        and len(state.history) == policy.flap_window
        and "0" not in state.history
    )


def flap_change(history: str, window: int) -> float:
    """Weighted share of result changes: newer changes weigh 1.2, the oldest 0.8.

    Divided by the full window's transitions, so a short history cannot look like flapping.
    """
    transitions = window - 1
    offset = transitions - (len(history) - 1)  # a short history is the newest part
    total = 0.0
    for i in range(1, len(history)):
        if history[i] != history[i - 1]:
            position = offset + i - 1
            total += 0.8 + 0.4 * position / (transitions - 1)
    return total / transitions
