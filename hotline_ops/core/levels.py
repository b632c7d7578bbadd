"""Fault levels and contract timers (CONTRACT.md M2.1, M2.3), pure.

A rule maps a target's labels to level 1, 2 or 3. Each level carries the timers the contract
sets for it; on open they are copied onto the incident (the snapshot) and turned into
deadlines, so editing ``incidents/levels.yaml`` never retimes an incident already open.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Timer:
    """One contract timer: ``kind`` is met when the incident reaches ``met_by``."""

    kind: str  # response | plan | resolve
    after_s: int
    clause: str  # contract clause the timer enforces, e.g. "M2.1b"
    met_by: str  # status that satisfies it: acknowledged | plan | resolved


@dataclass(frozen=True)
class Level:
    level: int
    name: str
    timers: tuple[Timer, ...]
    channels: tuple[str, ...] = ()
    warn_at: tuple[float, ...] = (0.5, 0.8)  # warnings at these fractions of each timer


@dataclass(frozen=True)
class FaultBudget:
    """P9.4: at most ``per_year`` system faults a year, each at most ``max_duration_s``;
    warn when an open one passes ``warn_after_s`` and when the year's count reaches the cap."""

    level: int = 1
    per_year: int = 3
    max_duration_s: int = 3600
    warn_after_s: int = 2700
    clause: str = "P9.4"


@dataclass(frozen=True)
class PlannedDeadline:
    kind: str
    clause: str
    due_at: datetime
    purpose: str  # breach | warning | budget
    fraction: float | None = None


@dataclass(frozen=True)
class Rule:
    """Labels that must all match (value or list of values) for ``level`` to apply."""

    level: int
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    name: str = ""

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(key) in values for key, values in self.match.items())


@dataclass(frozen=True)
class LevelPolicy:
    levels: dict[int, Level]
    rules: tuple[Rule, ...]
    default_level: int = 3
    reopen_window_s: int = 1800  # the same fault back within this reopens the incident
    budget: FaultBudget = field(default_factory=FaultBudget)

    def classify(self, labels: dict[str, str]) -> Level:
        """The first matching rule of levels.yaml wins; a ``level`` label (naming a defined
        level) only stands in for ``default_level`` when no rule matches.

        The rules are the site's grading of the contract (M2.3): an alert's label must not
        overrule them, because a ``level`` label also arrives by accident (a metric's own
        label carried into an alert) and could grade a system-down fault as level 3, with
        the slower timers. See docs/alerts.md."""
        for rule in self.rules:
            if rule.matches(labels):
                return self.levels[rule.level]
        explicit = labels.get("level")
        if explicit is not None and explicit.isdecimal() and int(explicit) in self.levels:
            return self.levels[int(explicit)]
        return self.levels[self.default_level]


def snapshot(level: Level) -> dict[str, Any]:
    """The level as plain data, stored on the incident when it opens: what ``asdict``
    gives, built by hand (asdict's generic deep copy was a fifth of a millisecond per new
    incident, on the path of an alert's first notice)."""
    return {
        "level": level.level,
        "name": level.name,
        "timers": tuple(
            {"kind": t.kind, "after_s": t.after_s, "clause": t.clause, "met_by": t.met_by}
            for t in level.timers
        ),
        "channels": level.channels,
        "warn_at": level.warn_at,
    }


def from_snapshot(data: dict[str, Any]) -> Level:
    timers = tuple(Timer(**t) for t in data["timers"])
    warn_at = tuple(data.get("warn_at", (0.5, 0.8)))
    return Level(data["level"], data["name"], timers, tuple(data.get("channels", ())), warn_at)


def deadlines(level: Level, opened_at: datetime) -> list[tuple[Timer, datetime]]:
    """Each timer of the level as an absolute due time."""
    return [(t, opened_at + timedelta(seconds=t.after_s)) for t in level.timers]


def timers_met_by(level: Level, status: str) -> list[str]:
    """Timer kinds that reaching ``status`` satisfies (resolving also answers the response)."""
    reached = {"acknowledged": {"acknowledged"}, "resolved": {"acknowledged", "resolved"}}
    statuses = reached.get(status, {status})
    return [t.kind for t in level.timers if t.met_by in statuses]


def kinds_met(level: Level, milestones: frozenset[str]) -> list[str]:
    """Timer kinds met once the incident has reached all of ``milestones``."""
    return [t.kind for t in level.timers if t.met_by in milestones]


HANDLING_TIMERS = {"remote_resolve": "remote", "onsite_resolve": "onsite"}


def applies(timer_kind: str, handling: str) -> bool:
    """M2.1c/d: the remote-fix timer runs for remote handling, the on-site one for on-site."""
    only_for = HANDLING_TIMERS.get(timer_kind)
    return only_for is None or only_for == handling


def plan_deadlines(
    level: Level, opened_at: datetime, budget: FaultBudget | None = None
) -> list[PlannedDeadline]:
    """Every deadline an incident of this level gets: each timer, its warnings, and (for
    system faults) the P9.4 duration warning. All count from the fault's opening."""
    return [
        PlannedDeadline(kind, clause, opened_at + after, purpose, fraction)
        for kind, clause, after, purpose, fraction in _offsets(level, budget)
    ]


@functools.lru_cache(maxsize=256)
def _offsets(
    level: Level, budget: FaultBudget | None
) -> tuple[tuple[str, str, timedelta, str, float | None], ...]:
    """The deadlines as distances from the opening, in due order (due, kind, purpose): the
    same for every incident of a level, so worked out once per level, not per incident
    (every new incident, and every alert's first notice, plans them)."""
    out = []
    for timer in level.timers:
        out.append((timer.kind, timer.clause, timedelta(seconds=timer.after_s), "breach", None))
        for fraction in level.warn_at:
            after = timedelta(seconds=timer.after_s * fraction)
            out.append((timer.kind, timer.clause, after, "warning", fraction))
    if budget is not None and level.level == budget.level:
        after = timedelta(seconds=budget.warn_after_s)
        out.append(("fault_duration", budget.clause, after, "budget", None))
    return tuple(sorted(out, key=lambda d: (d[2], d[0], d[3])))
