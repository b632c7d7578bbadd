"""Runbooks, pure: which runbook applies to an incident, and how an Ansible event reads on
the incident timeline.

A runbook's ``applies_to`` is a list of selectors; a selector holds when ALL its conditions
hold, the runbook applies when ANY selector holds. A selector's ``match`` is the
``incidents/levels.yaml`` rule form (label -> value or list of values); its ``matchers`` are
Alertmanager matcher strings (``alertname=~"Trunk.*"``), the form of ``incidents/alerts.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hotline_ops.core.matchers import Matcher, matches_all


@dataclass(frozen=True)
class Selector:
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    matchers: tuple[Matcher, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        exact = all(labels.get(key) in values for key, values in self.match.items())
        return exact and matches_all(self.matchers, labels)

    @property
    def weight(self) -> int:
        """How specific the selector is: more conditions win over fewer."""
        return len(self.match) + len(self.matchers)


@dataclass(frozen=True)
class Step:
    """Either ``text`` for a person or ``playbook`` (with ``vars``) for the runner."""

    number: int  # 1-based, as the on-call reads it
    title: str = ""
    text: str = ""
    playbook: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    limit: str = ""  # Ansible host pattern; empty: the playbook's own hosts

    @property
    def automated(self) -> bool:
        return bool(self.playbook)


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    level: int | None
    applies_to: tuple[Selector, ...]
    steps: tuple[Step, ...]
    clauses: tuple[str, ...] = ()
    body: str = ""  # the Markdown after the front matter
    where: str = ""  # file:line, for messages

    def specificity(self, labels: Mapping[str, str]) -> int:
        """The weight of the most specific selector that holds; -1 when none does."""
        return max((s.weight for s in self.applies_to if s.matches(labels)), default=-1)


def applicable(
    runbooks: Mapping[str, Runbook], labels: Mapping[str, str], level: int | None = None
) -> list[Runbook]:
    """Runbooks that apply to an incident, best first: the most specific selector, then a
    runbook written for the incident's level, then by name (stable output)."""
    scored = [(rb.specificity(labels), rb) for rb in runbooks.values()]
    hits = [(score, rb) for score, rb in scored if score >= 0]
    hits.sort(key=lambda pair: (-pair[0], pair[1].level != level, pair[1].name))
    return [rb for _, rb in hits]


# ansible-runner event -> timeline kind. Others (playbook/play starts, stats, verbose
# output) stay in the run's artifacts only: they say nothing the on-call acts on.
EVENT_KINDS = {
    "runner_on_start": "task.start",
    "runner_on_ok": "task.ok",
    "runner_on_failed": "task.failed",
    "runner_on_unreachable": "task.unreachable",
    "runner_on_skipped": "task.skipped",
}


@dataclass(frozen=True)
class TaskEvent:
    kind: str  # task.start | task.ok | task.changed | task.failed | task.unreachable | …
    host: str
    task: str
    action: str = ""
    message: str = ""
    ignored: bool = False

    @property
    def fails_run(self) -> bool:
        return self.kind in ("task.failed", "task.unreachable") and not self.ignored


def task_event(event: Mapping[str, Any]) -> TaskEvent | None:
    """The timeline view of one ansible-runner event, or None for events we do not show."""
    kind = EVENT_KINDS.get(str(event.get("event", "")))
    if kind is None:
        return None
    data = event.get("event_data") or {}
    result = data.get("res") or {}
    if kind == "task.ok" and isinstance(result, dict) and result.get("changed"):
        kind = "task.changed"
    return TaskEvent(
        kind=kind,
        host=str(data.get("host") or data.get("remote_addr") or ""),
        task=str(data.get("task") or ""),
        action=str(data.get("task_action") or ""),
        message=_message(kind, result),
        ignored=bool(data.get("ignore_errors")),
    )


def _message(kind: str, result: Any) -> str:
    """The first line of what went wrong, capped: the full output is in the artifacts."""
    if kind not in ("task.failed", "task.unreachable") or not isinstance(result, dict):
        return ""
    text = str(result.get("msg") or result.get("stderr") or result.get("stdout") or "")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:300]


def scrub_text(text: str, secrets: list[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
