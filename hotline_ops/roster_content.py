"""Loading ``incidents/roster.yaml``: people, roles, rosters with layers, overrides, swaps and
the Chinese statutory calendar.

Everything is checked when the file loads, not at 3 a.m.: a person with no channel they can
actually be reached on (sms without a phone, email without an address) is a ConfigError
naming file:line, as is a rotation member nobody defined.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline_ops import yamlfile
from hotline_ops.core import roster as core
from hotline_ops.errors import ConfigError

# Which Recipient field each channel kind addresses; any one of them will do. A kind not
# listed (webhook, fake) posts to a fixed endpoint and needs no personal address.
ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    "sms": ("phone",),
    "voice": ("phone",),
    "email": ("email",),
    "wecom": ("phone", "wecom_id"),
    "dingtalk": ("phone", "dingtalk_id"),
}
REQUIRED_ROLES = ("after-sales-manager",)  # CONTRACT.md C4: one dedicated after-sales manager
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: Any) -> time:
    # YAML 1.1 reads an unquoted 22:00 as the sexagesimal int 1320 (but 09:00 as a string).
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 60}:{value % 60:02d}"
    match = _HHMM.match(str(value).strip())
    if not match:
        raise ValueError(f"'{value}' is not a local time HH:MM")
    return time(int(match.group(1)), int(match.group(2)))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonSpec(_Strict):
    name: str = Field(min_length=1)
    phone: str | None = Field(None, pattern=r"^\+?\d{5,20}$")
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    wecom_id: str | None = None
    dingtalk_id: str | None = None
    channels: list[str] = Field(default_factory=list)
    quiet_hours: str | None = None

    @field_validator("phone", "wecom_id", "dingtalk_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("quiet_hours")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        if value is not None:
            _quiet(value)
        return value


def _quiet(value: str) -> tuple[time, time]:
    begin, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"'{value}' is not a local time range HH:MM-HH:MM")
    first, last = _clock_time(begin), _clock_time(end)
    if first == last:
        raise ValueError("quiet hours must not start and end at the same time")
    return first, last


class LayerSpec(_Strict):
    name: str = Field(min_length=1)
    rotation: Literal["daily", "weekly"]
    handoff: time
    start: date
    members: list[str] = Field(min_length=1)
    days: Literal["all", "workdays", "holidays"] = "all"

    _handoff = field_validator("handoff", mode="before")(_clock_time)


class RosterSpec(_Strict):
    layers: list[LayerSpec] = Field(min_length=1)


def _local_dt(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip(), "%Y-%m-%d %H:%M")
        except ValueError as exc:
            raise ValueError(f"'{value}' is not a local time YYYY-MM-DD HH:MM") from exc
    return value


class OverrideSpec(_Strict):
    roster: str
    person: str
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    replaces: str | None = None

    _dates = field_validator("start", "end", mode="before")(_local_dt)

    @model_validator(mode="after")
    def _ordered(self) -> OverrideSpec:
        if self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        return self


class YearSpec(_Strict):
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)


class RosterFile(_Strict):
    people: dict[str, PersonSpec] = Field(min_length=1)
    roles: dict[str, str] = Field(default_factory=dict)
    rosters: dict[str, RosterSpec] = Field(min_length=1)
    overrides: list[OverrideSpec] = Field(default_factory=list)
    swaps: list[OverrideSpec] = Field(default_factory=list)
    calendar: dict[int, YearSpec] = Field(default_factory=dict)


def load_roster(path: Path, channels: dict[str, Any], tz: ZoneInfo) -> core.RosterPolicy:
    """The roster in ``path``; ConfigError naming file:line and field on any problem.
    ``channels`` maps configured channel names to channels (their ``kind`` is read)."""
    doc = yamlfile.load(path)
    spec = yamlfile.validate(RosterFile, doc)
    people = {key: _person(doc, key, p, channels) for key, p in spec.people.items()}
    _check_roles(doc, spec, people)
    rosters = {name: _roster(doc, name, r, people) for name, r in spec.rosters.items()}
    overrides = [
        *(_override(doc, ("overrides", i), o, spec, tz) for i, o in enumerate(spec.overrides)),
        *(_override(doc, ("swaps", i), o, spec, tz) for i, o in enumerate(spec.swaps)),
    ]
    calendar = build_calendar(spec.calendar)
    return core.RosterPolicy(tz, people, rosters, calendar, tuple(overrides), dict(spec.roles))


def _person(doc: yamlfile.YamlDoc, key: str, spec: PersonSpec, channels: dict[str, Any]):
    loc = ("people", key, "channels")
    if not spec.channels:
        raise ConfigError(f"{doc.where(loc)}: people.{key}.channels: no channel to reach {key}")
    for i, name in enumerate(spec.channels):
        where = f"{doc.where((*loc, i))}: people.{key}.channels.{i}"
        if name not in channels:
            raise ConfigError(f"{where}: unknown channel '{name}'")
        kind = getattr(channels[name], "kind", "")
        fields = getattr(channels[name], "recipient_fields", None) or ADDRESS_FIELDS.get(kind, ())
        if fields and not any(getattr(spec, f) for f in fields):
            need = " or ".join(fields)
            raise ConfigError(f"{where}: channel '{name}' ({kind}) needs {need}, {key} has none")
    if len(set(spec.channels)) != len(spec.channels):
        raise ConfigError(f"{doc.where(loc)}: people.{key}.channels: a channel is listed twice")
    quiet = _quiet(spec.quiet_hours) if spec.quiet_hours else None
    return core.Person(
        key,
        spec.name,
        spec.phone,
        spec.email,
        spec.wecom_id,
        spec.dingtalk_id,
        tuple(spec.channels),
        quiet,
    )


def _check_roles(doc: yamlfile.YamlDoc, spec: RosterFile, people: dict[str, Any]) -> None:
    for role in REQUIRED_ROLES:
        if role not in spec.roles:
            raise ConfigError(f"{doc.where(('roles',))}: roles.{role}: required (CONTRACT C4)")
    for role, key in spec.roles.items():
        if key not in people:
            raise ConfigError(f"{doc.where(('roles', role))}: roles.{role}: unknown person '{key}'")
        if role in people:
            loc = ("roles", role)
            raise ConfigError(f"{doc.where(loc)}: roles.{role}: also a person's key; rename one")


def _roster(doc: yamlfile.YamlDoc, name: str, spec: RosterSpec, people: dict[str, Any]):
    layers = []
    for i, layer in enumerate(spec.layers):
        for j, member in enumerate(layer.members):
            if member not in people:
                loc = ("rosters", name, "layers", i, "members", j)
                dotted = ".".join(str(p) for p in loc)
                raise ConfigError(f"{doc.where(loc)}: {dotted}: unknown person '{member}'")
        layers.append(
            core.Layer(
                layer.name,
                layer.rotation,
                layer.handoff,
                layer.start,
                tuple(layer.members),
                layer.days,
            )
        )
    return core.Roster(name, tuple(layers))


def _override(
    doc: yamlfile.YamlDoc, loc: tuple, spec: OverrideSpec, roster: RosterFile, tz: ZoneInfo
) -> core.Override:
    dotted = ".".join(str(p) for p in loc)
    if spec.roster not in roster.rosters:
        raise ConfigError(f"{doc.where((*loc, 'roster'))}: {dotted}.roster: unknown roster")
    for field in ("person", "replaces"):
        key = getattr(spec, field)
        if key is not None and key not in roster.people:
            where = doc.where((*loc, field))
            raise ConfigError(f"{where}: {dotted}.{field}: unknown person '{key}'")
    if loc[0] == "swaps" and spec.replaces is None:
        raise ConfigError(f"{doc.where(loc)}: {dotted}.replaces: a swap names whom it replaces")
    start, end = (_aware(spec.start, tz), _aware(spec.end, tz))
    return core.Override(spec.roster, spec.person, start, end, spec.replaces, doc.where(loc))


def _aware(at: datetime, tz: ZoneInfo) -> datetime:
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def build_calendar(extra: dict[int, YearSpec] | None = None) -> core.Calendar:
    """chinese-calendar's statutory data, with the years in ``extra`` replacing it (the
    package knows 2004–2026; later years come from the State Council's notice)."""
    holidays = set(chinese_calendar.holidays)
    workdays = set(chinese_calendar.workdays)
    years = {d.year for d in holidays}
    for year, spec in (extra or {}).items():
        holidays = {d for d in holidays if d.year != year} | set(spec.holidays)
        workdays = {d for d in workdays if d.year != year} | set(spec.workdays)
        years.add(year)
    return core.Calendar(frozenset(holidays), frozenset(workdays), frozenset(years))
