"""The on-call roster, pure: who is on call at an instant, and who covers every minute of a
period (CONTRACT.md M2.1a 7×24 support, R1.1 a duty never interrupted, C4 after-sales manager).

A roster has layers; each layer is a rotation of members with a daily or weekly handoff at a
local time. A **duty day** runs from the handoff on date D to the handoff on D+1, so a layer
limited to `holidays` covers the nights after a holiday too: the engineer who took the
holiday at 09:00 keeps it until the next 09:00 handoff. The highest active layer wins; then
overrides (somebody takes the roster for an interval) and swaps (A's slots go to B) apply,
the latest written last. Nothing here reads the clock: callers pass the instant.

The Chinese statutory calendar (holidays and make-up working days, 调休) is passed in as a
``Calendar`` built by the loader; a year it does not know is reported by ``unknown_years``
rather than silently treated as Mon–Fri.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

Rotation = Literal["daily", "weekly"]
DayFilter = Literal["all", "workdays", "holidays"]


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    phone: str | None = None
    email: str | None = None
    wecom_id: str | None = None
    dingtalk_id: str | None = None
    channels: tuple[str, ...] = ()
    # Local (start, end); may wrap midnight. Never applied to level 1 (see in_quiet_hours).
    quiet_hours: tuple[time, time] | None = None


@dataclass(frozen=True)
class Calendar:
    """Statutory days off and make-up working days, by date, for the ``years`` it knows."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    def is_day_off(self, day: date) -> bool:
        if day in self.workdays:
            return False  # a make-up working day (调休上班), even on a weekend
        return day in self.holidays or day.weekday() >= 5

    def unknown_years(self, start: date, end: date) -> list[int]:
        return [y for y in range(start.year, end.year + 1) if y not in self.years]


@dataclass(frozen=True)
class Layer:
    name: str
    rotation: Rotation
    handoff: time  # local time of day
    start: date  # the first duty day of members[0]; weekly handoffs fall on its weekday
    members: tuple[str, ...]
    days: DayFilter = "all"

    def duty_day(self, local: datetime) -> date:
        """The duty day ``local`` belongs to: before the handoff, it is still yesterday's."""
        day = local.date()
        return day - timedelta(days=1) if local.time() < self.handoff else day

    def active_on(self, day: date, calendar: Calendar) -> bool:
        if self.days == "all":
            return True
        return calendar.is_day_off(day) == (self.days == "holidays")

    def member_on(self, day: date) -> str:
        elapsed = (day - self.start).days
        index = elapsed if self.rotation == "daily" else elapsed // 7
        return self.members[index % len(self.members)]


@dataclass(frozen=True)
class Override:
    """``person`` is on call in ``roster`` during [start, end). With ``replaces`` set it is a
    swap: only the slots of ``replaces`` go to ``person``."""

    roster: str
    person: str
    start: datetime
    end: datetime
    replaces: str | None = None
    source: str = ""  # file:line or "cli:<actor>", shown to whoever asks why


@dataclass(frozen=True)
class Roster:
    name: str
    layers: tuple[Layer, ...]  # lowest first: a higher layer wins where it is active


@dataclass(frozen=True)
class RosterPolicy:
    tz: ZoneInfo
    people: Mapping[str, Person]
    rosters: Mapping[str, Roster]
    calendar: Calendar = field(default_factory=Calendar)
    overrides: tuple[Override, ...] = ()
    roles: Mapping[str, str] = field(default_factory=dict)  # role -> person key

    def person(self, key: str) -> Person:
        return self.people[self.roles.get(key, key)]

    def missing_years(self, start: datetime, end: datetime) -> list[int]:
        """Years in [start, end] without statutory calendar data, when a layer needs it."""
        needs = any(layer.days != "all" for r in self.rosters.values() for layer in r.layers)
        if not needs:
            return []
        return self.calendar.unknown_years(
            start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        )

    def with_overrides(self, extra: Iterable[Override]) -> RosterPolicy:
        return RosterPolicy(
            self.tz,
            self.people,
            self.rosters,
            self.calendar,
            (*self.overrides, *extra),
            self.roles,
        )


@dataclass(frozen=True)
class OnCall:
    """Who is on call and why (the layer, or the override's source)."""

    person: str | None
    via: str


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    person: str | None
    via: str


def on_call(policy: RosterPolicy, roster: str, at: datetime) -> OnCall:
    """Who is on call in ``roster`` at ``at`` (aware); person None is a gap."""
    base = _layers_at(policy, policy.rosters[roster], at)
    return _apply_overrides(policy.overrides, roster, at, base)


def _layers_at(policy: RosterPolicy, roster: Roster, at: datetime) -> OnCall:
    local = at.astimezone(policy.tz)
    for layer in reversed(roster.layers):
        day = layer.duty_day(local)
        if layer.active_on(day, policy.calendar):
            return OnCall(layer.member_on(day), f"layer {layer.name}")
    return OnCall(None, "no layer active")


def _apply_overrides(
    overrides: Iterable[Override], roster: str, at: datetime, base: OnCall
) -> OnCall:
    current = base
    for item in overrides:  # in the order written: a later override wins
        if item.roster != roster or not item.start <= at < item.end:
            continue
        if item.replaces is None or item.replaces == current.person:
            kind = "override" if item.replaces is None else "swap"
            current = OnCall(item.person, f"{kind} {item.source}".strip())
    return current


def coverage(policy: RosterPolicy, roster: str, start: datetime, end: datetime) -> list[Segment]:
    """Who covers [start, end), as maximal segments; person None marks a gap."""
    points = _breakpoints(policy, policy.rosters[roster], start, end)
    segments: list[Segment] = []
    for seg_start, seg_end in pairwise(points):
        who = on_call(policy, roster, seg_start)
        if segments and segments[-1].person == who.person and segments[-1].via == who.via:
            segments[-1] = Segment(segments[-1].start, seg_end, who.person, who.via)
        else:
            segments.append(Segment(seg_start, seg_end, who.person, who.via))
    return segments


def gaps(policy: RosterPolicy, roster: str, start: datetime, end: datetime) -> list[Segment]:
    return [s for s in coverage(policy, roster, start, end) if s.person is None]


def _breakpoints(
    policy: RosterPolicy, roster: Roster, start: datetime, end: datetime
) -> list[datetime]:
    """Every instant the answer may change: each layer's handoffs and each override edge."""
    points = {start, end}
    first = start.astimezone(policy.tz).date() - timedelta(days=1)
    last = end.astimezone(policy.tz).date() + timedelta(days=1)
    handoffs = {layer.handoff for layer in roster.layers}
    day = first
    while day <= last:
        for handoff in handoffs:
            points.add(datetime.combine(day, handoff, policy.tz).astimezone(UTC))
        day += timedelta(days=1)
    for item in policy.overrides:
        if item.roster == roster.name:
            points.update((item.start, item.end))
    return sorted(p for p in points if start <= p <= end)


def in_quiet_hours(person: Person, at: datetime, tz: ZoneInfo) -> datetime | None:
    """When ``person``'s quiet hours end if ``at`` falls inside them, else None."""
    if person.quiet_hours is None:
        return None
    begin, finish = person.quiet_hours
    local = at.astimezone(tz)
    now = local.time()
    wraps = begin > finish  # e.g. 22:00–07:00
    inside = (now >= begin or now < finish) if wraps else begin <= now < finish
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1) if wraps and now >= begin else local.date()
    return datetime.combine(end_day, finish, tz).astimezone(UTC)
