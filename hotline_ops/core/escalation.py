"""Escalation chains, pure: who is told, and when, while an incident stays unacknowledged.

A chain is a list of steps. Every ``wait`` counts from the incident's **opening** (an offset,
not a gap after the previous step): ``wait: 10m`` fires 10 minutes after the fault opened,
however late the step before it ran. A step may repeat ``repeat`` more times, ``every``
apart, counted from the step's own first run (``opened + wait``). So every step run has a
fixed place on the incident's clock, ``opened + wait + repeat_index * every``, and the
timer loop's lateness never shifts the schedule.

Routes pick the chain when the incident opens (first match wins); the chain is then
snapshotted onto the incident, so editing ``incidents/escalation.yaml`` never retimes an
incident already open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Step:
    """One step. ``people`` and ``roster`` are recorded for the on-call rosters of issue
    [4/7]; until then the step notifies ``notify`` plus their fallback ``channels``."""

    wait_s: int  # offset from the incident's opening
    notify: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    roster: str | None = None
    channels: tuple[str, ...] = ()  # fallback channels for people/roster
    repeat: int = 0  # runs after the first one
    every_s: int = 0  # gap between runs of this step

    def channels_now(self) -> tuple[str, ...]:
        """The channels this step notifies today: its own, then the people's fallback."""
        return tuple(dict.fromkeys((*self.notify, *self.channels)))

    def last_run_s(self) -> int:
        return self.wait_s + self.repeat * self.every_s


@dataclass(frozen=True)
class Chain:
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Route:
    """``levels`` (empty: any) and label matchers that must all match for ``chain``."""

    chain: Chain
    levels: frozenset[int] = frozenset()
    match: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def matches(self, level: int, labels: Mapping[str, str]) -> bool:
        if self.levels and level not in self.levels:
            return False
        return all(labels.get(key) in values for key, values in self.match.items())

    @property
    def catch_all(self) -> bool:
        return not self.levels and not self.match


@dataclass(frozen=True)
class EscalationPolicy:
    chains: Mapping[str, Chain]
    routes: tuple[Route, ...]

    def select(self, level: int, labels: Mapping[str, str]) -> Chain:
        return select(self.routes, level, labels)


class Run(NamedTuple):
    """One run of a step: ``repeat`` 0 is its first run."""

    step: int
    repeat: int
    due_at: datetime


def select(routes: Sequence[Route], level: int, labels: Mapping[str, str]) -> Chain:
    """The chain of the first matching route (the loader guarantees a catch-all)."""
    for route in routes:
        if route.matches(level, labels):
            return route.chain
    raise LookupError(f"no escalation route matches level {level} and labels {dict(labels)}")


def snapshot(chain: Chain) -> dict[str, Any]:
    """The chain as plain JSON data, stored on the incident when it opens."""
    return asdict(chain)


def from_snapshot(data: Mapping[str, Any]) -> Chain:
    steps = tuple(
        Step(
            wait_s=s["wait_s"],
            notify=tuple(s.get("notify", ())),
            people=tuple(s.get("people", ())),
            roster=s.get("roster"),
            channels=tuple(s.get("channels", ())),
            repeat=s.get("repeat", 0),
            every_s=s.get("every_s", 0),
        )
        for s in data["steps"]
    )
    return Chain(data["name"], steps)


def _chain(chain: Chain | Mapping[str, Any]) -> Chain:
    return chain if isinstance(chain, Chain) else from_snapshot(chain)


def runs(chain: Chain | Mapping[str, Any], opened_at: datetime) -> list[Run]:
    """Every run of every step, in order, on the incident's clock."""
    out = []
    for index, step in enumerate(_chain(chain).steps):
        for repeat in range(step.repeat + 1):
            offset = step.wait_s + repeat * step.every_s
            out.append(Run(index, repeat, opened_at + timedelta(seconds=offset)))
    return out


def first_step(chain: Chain | Mapping[str, Any], opened_at: datetime) -> Run:
    return runs(chain, opened_at)[0]


def next_step(
    chain: Chain | Mapping[str, Any],
    step: int,
    repeat: int,
    opened_at: datetime,
    now: datetime,
) -> Run | None:
    """The run after (step, repeat), or None when the chain is done.

    ``due_at`` is always the run's scheduled time, which may already be past when the timer
    loop ran late (daemon down): the loop then fires it at once. Catching up, a *repeat*
    that is overdue while a later run is already due too is skipped — a burst of stale
    reminders helps no one — but a step's first run never is: each step reaches people the
    earlier ones did not.
    """
    later = [r for r in runs(chain, opened_at) if (r.step, r.repeat) > (step, repeat)]
    index = 0
    while index + 1 < len(later) and later[index].repeat > 0 and later[index + 1].due_at <= now:
        index += 1
    return later[index] if later else None


def repeat_of(
    chain: Chain | Mapping[str, Any], step: int, due_at: datetime, opened_at: datetime
) -> int:
    """Which run of ``step`` is scheduled at ``due_at`` (deadline rows store the step and
    the due time, and every run's due time is fixed on the incident's clock)."""
    spec = _chain(chain).steps[step]
    if not spec.every_s:
        return 0
    offset = (due_at - opened_at).total_seconds() - spec.wait_s
    return min(spec.repeat, max(0, round(offset / spec.every_s)))
