"""Alert rules, pure: fingerprints, grouping into incidents, inhibition, silences' reach.

Policy comes from ``incidents/alerts.yaml`` (see docs/alerts.md); the store is never read
here: callers pass the firing alerts and active silences they loaded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hotline_ops.core.matchers import Matcher, matches_all

FIRING = "firing"
RESOLVED = "resolved"
SOURCES = ("alertmanager", "api")
KEY_PREFIX = "alert:"
MAX_KEY = 300  # incidents.dedup_key

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEPARATOR = b"\xff"


@dataclass(frozen=True)
class Notice:
    """The incident an alert was promised when it was received: its first notice already
    went out naming this id and opening time (services.first_notice)."""

    incident_id: int
    opened_at: datetime


@dataclass(frozen=True)
class AlertIn:
    """One alert as received, before any store lookup. ``starts_at``/``ends_at`` are None
    when not given (Alertmanager's zero time ``0001-01-01T00:00:00Z`` counts as not given).
    ``notice``: set at ingest when the alert's first notice was sent before its incident
    was stored."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    status: str = FIRING
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    fingerprint: str | None = None
    notice: Notice | None = None

    def noticed(self, notice: Notice) -> AlertIn:
        """This alert carrying ``notice`` (dataclasses.replace, without its introspection)."""
        return AlertIn(
            self.labels, self.annotations, self.status, self.starts_at, self.ends_at,
            self.generator_url, self.fingerprint, notice,
        )  # fmt: skip


@dataclass(frozen=True)
class SourcePolicy:
    """``auto_resolve``: resolve the incident once all its alerts are resolved.
    ``resolve_timeout_s``: an alert without endsAt fires until this passes without a re-send
    (None: until the source says it is resolved)."""

    auto_resolve: bool = True
    resolve_timeout_s: float | None = None


# The v2 API's clients (Prometheus, scripts) re-send firing alerts, so a missing endsAt
# means "until resolve_timeout" (Alertmanager's default 5 m). Alertmanager's webhook sends
# firing alerts with a zero endsAt and re-sends only every repeat_interval (hours), so there
# a missing endsAt means "until Alertmanager sends the resolved notification".
DEFAULT_SOURCES = {
    "alertmanager": SourcePolicy(True, None),
    "api": SourcePolicy(True, 300.0),
}


@dataclass(frozen=True)
class GroupRule:
    """Alerts matching ``matchers`` that carry every ``group_by`` label form one incident
    per distinct value of those labels (e.g. every number behind one trunk)."""

    group_by: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    name: str = ""

    def applies(self, labels: Mapping[str, str]) -> bool:
        return all(name in labels for name in self.group_by) and matches_all(self.matchers, labels)


@dataclass(frozen=True)
class InhibitRule:
    """Alertmanager's inhibit rule: a firing alert matching ``source`` mutes alerts matching
    ``target`` whose ``equal`` labels have the same values (missing on both counts as equal)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


@dataclass(frozen=True)
class AlertPolicy:
    sources: dict[str, SourcePolicy] = field(default_factory=lambda: dict(DEFAULT_SOURCES))
    grouping: tuple[GroupRule, ...] = ()
    inhibit_rules: tuple[InhibitRule, ...] = ()

    def source(self, name: str) -> SourcePolicy:
        return self.sources.get(name) or DEFAULT_SOURCES.get(name) or SourcePolicy()


@dataclass(frozen=True)
class Firing:
    """A firing alert as the inhibition check needs it."""

    fingerprint: str
    labels: Mapping[str, str]


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' labelSetToFingerprint: FNV-1a 64 over the labels sorted by name, each
    name and value followed by 0xff, as 16 hex digits. It is what Alertmanager sends, so an
    alert gets the same fingerprint through the webhook and through the v2 API."""
    digest = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8") + _SEPARATOR:
                digest = ((digest ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{digest:016x}"


def is_resolved(alert: AlertIn, now: datetime) -> bool:
    return alert.status == RESOLVED or (alert.ends_at is not None and alert.ends_at <= now)


def firing_until(alert: AlertIn, now: datetime, policy: SourcePolicy) -> datetime | None:
    """When a firing alert stops by itself unless re-sent (None: never)."""
    if alert.ends_at is not None:
        return alert.ends_at
    if policy.resolve_timeout_s is None:
        return None
    return now + timedelta(seconds=policy.resolve_timeout_s)


def group_of(policy: AlertPolicy, labels: Mapping[str, str], fp: str) -> tuple[str, dict]:
    """(group key, the labels that made it): the first grouping rule that applies, else the
    alert's own fingerprint (one incident per alert)."""
    for rule in policy.grouping:
        if rule.applies(labels):
            keyed = {name: labels[name] for name in rule.group_by}
            return ",".join(f"{k}={v}" for k, v in keyed.items()), keyed
    return fp, {}


def dedup_key(group: str) -> str:
    """The incident's dedup key; a very long group key is hashed to fit the column."""
    key = KEY_PREFIX + group
    if len(key) <= MAX_KEY:
        return key
    return KEY_PREFIX + "sha256:" + hashlib.sha256(group.encode("utf-8")).hexdigest()


def title(labels: Mapping[str, str], annotations: Mapping[str, str], keyed: dict) -> str:
    """The summary annotation when there is one; else alertname and the key labels (the
    group's, or every other label for an ungrouped alert)."""
    summary = (annotations.get("summary") or "").strip()
    if summary:
        return summary
    shown = keyed or {k: v for k, v in sorted(labels.items()) if k != "alertname"}
    parts = [labels.get("alertname", "alert"), *(f"{k}={v}" for k, v in shown.items())]
    text = " ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"


def inhibited_by(
    policy: AlertPolicy, fp: str, labels: Mapping[str, str], firing: Iterable[Firing]
) -> str | None:
    """Fingerprint of a firing alert that inhibits this one, if any. An alert never
    inhibits itself (a rule whose source and target both match it)."""
    rules = [r for r in policy.inhibit_rules if matches_all(r.target, labels)]
    if not rules:
        return None
    for other in firing:
        if other.fingerprint == fp:
            continue
        for rule in rules:
            if matches_all(rule.source, other.labels) and _equal(rule.equal, labels, other):
                return other.fingerprint
    return None


def _equal(names: tuple[str, ...], labels: Mapping[str, str], other: Firing) -> bool:
    return all(labels.get(n, "") == other.labels.get(n, "") for n in names)


def silenced_by(silences: Iterable[tuple[Any, tuple[Matcher, ...]]], labels: Mapping) -> Any:
    """The id of the first silence whose matchers all match, if any."""
    for silence_id, matchers in silences:
        if matches_all(matchers, labels):
            return silence_id
    return None
