"""Loading the operator-edited content folders: probes/, incidents/.

Everything is validated before anything touches the store, and every error names
file:line and field (see yamlfile). Content is loaded once per App.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hotline_ops import yamlfile
from hotline_ops.core import matchers as core_matchers
from hotline_ops.core.alerts import (
    DEFAULT_SOURCES,
    SOURCES,
    AlertPolicy,
    GroupRule,
    InhibitRule,
    SourcePolicy,
)
from hotline_ops.core.durations import parse_duration
from hotline_ops.core.escalation import EscalationPolicy
from hotline_ops.core.levels import FaultBudget, Level, LevelPolicy, Rule, Timer
from hotline_ops.core.maintenance import Window
from hotline_ops.core.roster import RosterPolicy
from hotline_ops.errors import ConfigError, ProbeError
from hotline_ops.escalation_content import load_escalation
from hotline_ops.inventory import Inventory, generate_targets, load_inventory
from hotline_ops.notify.base import Channel
from hotline_ops.notify.registry import build_channel
from hotline_ops.probes.base import Probe
from hotline_ops.probes.registry import build_probe
from hotline_ops.roster_content import load_roster

# Which incident status satisfies each timer kind (CONTRACT.md M2.1, M2.3).
TIMER_MET_BY = {
    "response": "acknowledged",
    "plan": "plan",
    "resolve": "resolved",
    "remote_resolve": "resolved",
    "onsite_resolve": "resolved",
}


@dataclass(frozen=True)
class Target:
    name: str
    kind: str
    interval_s: float
    timeout_s: float
    attempts: int
    rise: int
    labels: dict[str, str]
    params: dict[str, Any]
    where: str = ""
    flap_high: float = 0.5
    flap_low: float = 0.25

    def probe(self) -> Probe:
        return build_probe(self.kind, self.params)


@dataclass(frozen=True)
class Content:
    targets: dict[str, Target] = field(default_factory=dict)
    levels: LevelPolicy | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    maintenance: tuple[Window, ...] = ()
    inventory: Inventory = field(default_factory=Inventory)
    alerting: AlertPolicy = field(default_factory=AlertPolicy)
    escalation: EscalationPolicy | None = None
    roster: RosterPolicy | None = None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _duration(value: Any) -> float:
    return parse_duration(value)


class TargetSpec(BaseModel):
    """Common target fields; every other key belongs to the probe kind's own Params."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: str
    interval: float = 30.0
    timeout: float = 5.0
    attempts: int = Field(3, ge=1, le=100)
    rise: int = Field(1, ge=1, le=100)
    labels: dict[str, str] = Field(default_factory=dict)
    flap_high: float = Field(0.5, ge=0, le=1)
    flap_low: float = Field(0.25, ge=0, le=1)

    _durations = field_validator("interval", "timeout", mode="before")(_duration)


# Hotline numbers are written bare (`12315:`), which YAML reads as an int.
Key = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class TargetsFile(_Strict):
    """A probes file: plain ``targets`` and/or a line inventory (see inventory.py)."""

    targets: list[dict[str, Any]] = Field(default_factory=list)
    defaults: dict[str, Any] = Field(default_factory=dict)
    gateways: dict[Key, dict[str, Any]] = Field(default_factory=dict)
    trunks: dict[Key, dict[str, Any]] = Field(default_factory=dict)
    spans: dict[Key, dict[str, Any]] = Field(default_factory=dict)
    numbers: dict[Key, dict[str, Any]] = Field(default_factory=dict)


def load_targets(folder: Path) -> dict[str, Target]:
    return load_probes(folder)[0]


def load_probes(folder: Path) -> tuple[dict[str, Target], Inventory]:
    targets: dict[str, Target] = {}
    inventory = Inventory()
    for path in sorted(folder.glob("*.yaml")):
        doc = yamlfile.load(path)
        yamlfile.validate(TargetsFile, doc)
        for i, raw in enumerate(doc.data.get("targets") or []):
            _add_unique(targets, _target(doc, i, raw))
        inventory = inventory.merge(load_inventory(doc))
    inventory.check_references()
    for target in generate_targets(inventory, _target_from_spec):
        _add_unique(targets, target)
    return targets, inventory


def _add_unique(targets: dict[str, Target], target: Target) -> None:
    if target.name in targets:
        first = targets[target.name].where
        raise ConfigError(f"{target.where}: name: '{target.name}' already defined at {first}")
    targets[target.name] = target


def _target(doc: yamlfile.YamlDoc, index: int, raw: dict[str, Any]) -> Target:
    return _target_from_spec(doc, ("targets", index), raw)


def _target_from_spec(
    doc: yamlfile.YamlDoc, loc: tuple, raw: dict[str, Any], param_loc: tuple | None = None
) -> Target:
    """Validate one target; ``param_loc`` is where probe params were written, if elsewhere."""
    spec = yamlfile.validate(TargetSpec, doc, raw, loc)
    dotted = ".".join(str(p) for p in loc)
    if spec.timeout > spec.interval:
        raise ConfigError(
            f"{doc.where((*loc, 'timeout'))}: {dotted}.timeout: must not exceed interval"
        )
    params = dict(spec.model_extra or {})
    try:
        build_probe(spec.kind, params)
    except ProbeError as exc:
        raise ConfigError(f"{doc.where((*loc, 'kind'))}: {dotted}.kind: {exc}") from exc
    except pydantic.ValidationError as exc:
        raise yamlfile.config_error(exc, doc, param_loc or loc) from exc
    return Target(
        spec.name,
        spec.kind,
        spec.interval,
        spec.timeout,
        spec.attempts,
        spec.rise,
        spec.labels,
        params,
        doc.where(loc),
        spec.flap_high,
        spec.flap_low,
    )


class TimerSpec(_Strict):
    after: float
    clause: str = Field(min_length=1)

    _after = field_validator("after", mode="before")(_duration)


Fraction = Annotated[float, Field(gt=0, lt=1)]


class LevelSpec(_Strict):
    name: str
    timers: dict[str, TimerSpec]
    channels: list[str] = Field(default_factory=list)
    warn_at: list[Fraction] | None = None  # default: the file's warn_at

    @field_validator("timers")
    @classmethod
    def _known_kinds(cls, value: dict[str, TimerSpec]) -> dict[str, TimerSpec]:
        unknown = sorted(set(value) - set(TIMER_MET_BY))
        if unknown:
            raise ValueError(f"unknown timer {unknown[0]} (known: {', '.join(TIMER_MET_BY)})")
        return value


class RuleSpec(_Strict):
    name: str = ""
    level: int
    match: dict[str, str | list[str]] = Field(min_length=1)


class BudgetSpec(_Strict):
    level: int = 1
    per_year: int = Field(3, ge=1)
    max_duration: float = 3600.0
    warn_after: float = 2700.0
    clause: str = "P9.4"

    _durations = field_validator("max_duration", "warn_after", mode="before")(_duration)


class LevelsFile(_Strict):
    levels: dict[int, LevelSpec]
    rules: list[RuleSpec] = Field(default_factory=list)
    default_level: int = 3
    reopen_window: float = 1800.0
    warn_at: list[Fraction] = Field(default_factory=lambda: [0.5, 0.8])
    fault_budget: BudgetSpec = Field(default_factory=BudgetSpec)

    _reopen = field_validator("reopen_window", mode="before")(_duration)


def load_levels(path: Path, channel_names: set[str]) -> LevelPolicy:
    doc = yamlfile.load(path)
    spec = yamlfile.validate(LevelsFile, doc)
    _check_level_refs(doc, spec, channel_names)
    levels = {n: _level(n, s, spec.warn_at) for n, s in spec.levels.items()}
    rules = tuple(Rule(r.level, _match(r.match), r.name) for r in spec.rules)
    b = spec.fault_budget
    budget = FaultBudget(b.level, b.per_year, int(b.max_duration), int(b.warn_after), b.clause)
    return LevelPolicy(levels, rules, spec.default_level, int(spec.reopen_window), budget)


def _check_level_refs(doc: yamlfile.YamlDoc, spec: LevelsFile, channel_names: set[str]) -> None:
    for number, level in spec.levels.items():
        for i, name in enumerate(level.channels):
            if name not in channel_names:
                loc = ("levels", number, "channels", i)
                raise ConfigError(
                    f"{doc.where(loc)}: levels.{number}.channels: unknown channel '{name}'"
                )
    for i, rule in enumerate(spec.rules):
        if rule.level not in spec.levels:
            raise ConfigError(
                f"{doc.where(('rules', i, 'level'))}: rules.{i}.level: "
                f"no level {rule.level} defined"
            )
    if spec.default_level not in spec.levels:
        raise ConfigError(
            f"{doc.where(('default_level',))}: default_level: no level {spec.default_level} defined"
        )


def _level(number: int, spec: LevelSpec, warn_at: list[float]) -> Level:
    timers = tuple(
        Timer(kind, int(t.after), t.clause, TIMER_MET_BY[kind]) for kind, t in spec.timers.items()
    )
    warnings = tuple(sorted(spec.warn_at if spec.warn_at is not None else warn_at))
    return Level(number, spec.name, timers, tuple(spec.channels), warnings)


def _match(raw: dict[str, str | list[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in raw.items()}


class ChannelSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str


class ChannelsFile(_Strict):
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)


def load_channels(path: Path, secrets: dict[str, str]) -> dict[str, Channel]:
    if not path.exists():
        return {}
    doc = yamlfile.load(path)
    spec = yamlfile.validate(ChannelsFile, doc)
    return {name: _channel(doc, name, raw, secrets) for name, raw in spec.channels.items()}


def _channel(doc: yamlfile.YamlDoc, name: str, raw: dict[str, Any], secrets: dict[str, str]):
    loc = ("channels", name)
    spec = yamlfile.validate(ChannelSpec, doc, raw, loc)
    try:
        return build_channel(name, spec.kind, dict(spec.model_extra or {}), secrets)
    except pydantic.ValidationError as exc:
        raise yamlfile.config_error(exc, doc, loc) from exc
    except ConfigError as exc:
        raise ConfigError(f"{doc.where(loc)}: channels.{name}: {exc}") from exc


WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class WindowSpec(_Strict):
    """One-off (start + end) or recurring (every + at + duration); naive times are local."""

    name: str = Field(min_length=1)
    targets: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    every: list[Literal["daily", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=list
    )
    at: time | None = None
    duration: float | None = None

    _duration = field_validator("duration", mode="before")(_duration)

    @field_validator("at", mode="before")
    @classmethod
    def _local_time(cls, value: Any) -> Any:
        # YAML reads an unquoted 2:30 as the number 150 (sexagesimal): refuse, don't guess.
        if isinstance(value, int | float):
            raise ValueError('quote the time, e.g. at: "02:30"')
        if (isinstance(value, str) and any(c in value for c in "+Zz")) or (
            isinstance(value, time) and value.tzinfo is not None
        ):
            raise ValueError("give a local time without an offset (the site's time zone)")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> WindowSpec:
        one_off = self.start is not None and self.end is not None
        recurring = bool(self.every) and self.at is not None and self.duration is not None
        if one_off == recurring:
            raise ValueError("give either start and end, or every, at and duration")
        if one_off and (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("give start and end both with an offset or both without")
        if one_off and self.end <= self.start:
            raise ValueError("end must be after start")
        if not (self.targets or self.labels):
            raise ValueError("name targets or labels the window applies to")
        return self

    def window(self, tz: ZoneInfo) -> Window:
        days = range(7) if "daily" in self.every else [WEEKDAYS[d] for d in self.every]
        return Window(
            self.name,
            tuple(self.targets),
            dict(self.labels),
            _aware(self.start, tz),
            _aware(self.end, tz),
            tuple(sorted(set(days))),
            self.at,
            timedelta(seconds=self.duration) if self.duration else None,
        )


def _aware(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=tz)).astimezone(UTC)


class MaintenanceFile(_Strict):
    windows: list[WindowSpec] = Field(default_factory=list)


def load_maintenance(path: Path, tz: ZoneInfo) -> tuple[Window, ...]:
    if not path.exists():
        return ()
    doc = yamlfile.load(path)
    spec = yamlfile.validate(MaintenanceFile, doc)
    return tuple(w.window(tz) for w in spec.windows)


def _optional_duration(value: Any) -> float | None:
    return None if value is None else _duration(value)


def _matcher_list(value: Any) -> Any:
    """Alertmanager-style matcher strings (``alertname="TrunkDown"``, ``trunk=~"ct-.*"``)."""
    if not isinstance(value, list):
        return value
    out = []
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise ValueError(f"item {i}: write a matcher as a string, e.g. 'trunk=\"ct-1\"'")
        out.append(core_matchers.parse(text))
    return out


Matchers = Annotated[list[Any], BeforeValidator(_matcher_list)]


class AlertSourceSpec(_Strict):
    auto_resolve: bool = True
    resolve_timeout: float | None = None  # null: firing until the source resolves it

    _timeout = field_validator("resolve_timeout", mode="before")(_optional_duration)


class GroupSpec(_Strict):
    name: str = ""
    matchers: Matchers = Field(default_factory=list)
    group_by: list[str] = Field(min_length=1)


class InhibitSpec(_Strict):
    source_matchers: Matchers = Field(min_length=1)
    target_matchers: Matchers = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)


class AlertsFile(_Strict):
    sources: dict[Literal["alertmanager", "api"], AlertSourceSpec] = Field(default_factory=dict)
    grouping: list[GroupSpec] = Field(default_factory=list)
    inhibit_rules: list[InhibitSpec] = Field(default_factory=list)


def load_alerting(path: Path) -> AlertPolicy:
    """``incidents/alerts.yaml`` (optional): per-source behaviour, grouping, inhibition."""
    if not path.exists():
        return AlertPolicy()
    doc = yamlfile.load(path)
    spec = yamlfile.validate(AlertsFile, doc)
    sources = dict(DEFAULT_SOURCES)
    for name in SOURCES:
        given = spec.sources.get(name)
        if given is not None:
            timeout = given.resolve_timeout
            if "resolve_timeout" not in given.model_fields_set:
                timeout = DEFAULT_SOURCES[name].resolve_timeout_s
            sources[name] = SourcePolicy(given.auto_resolve, timeout)
    grouping = tuple(GroupRule(tuple(g.group_by), tuple(g.matchers), g.name) for g in spec.grouping)
    inhibit = tuple(
        InhibitRule(tuple(r.source_matchers), tuple(r.target_matchers), tuple(r.equal))
        for r in spec.inhibit_rules
    )
    return AlertPolicy(sources, grouping, inhibit)


def load_content(
    probes_dir: Path, incidents_dir: Path, secrets: dict[str, str], tz: ZoneInfo | None = None
) -> Content:
    channels = load_channels(incidents_dir / "channels.yaml", secrets)
    levels = load_levels(incidents_dir / "levels.yaml", set(channels))
    targets, inventory = load_probes(probes_dir)
    windows = load_maintenance(incidents_dir / "maintenance.yaml", tz or ZoneInfo("UTC"))
    alerting = load_alerting(incidents_dir / "alerts.yaml")
    roster_path = incidents_dir / "roster.yaml"
    roster = (
        load_roster(roster_path, channels, tz or ZoneInfo("UTC")) if roster_path.exists() else None
    )
    path = incidents_dir / "escalation.yaml"
    escalation = load_escalation(path, set(channels), roster) if path.exists() else None
    return Content(
        targets,
        levels,
        channels,
        windows,
        inventory,
        alerting=alerting,
        escalation=escalation,
        roster=roster,
    )
