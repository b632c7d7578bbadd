"""Alertmanager label matchers, pure.

A matcher is ``{name, value, isRegex, isEqual}`` as Alertmanager stores it in a silence; the
text forms ``name=value``, ``name!=value``, ``name=~regex`` and ``name!~regex`` (value
optionally double-quoted) are what ``amtool`` and ``alertmanager.yml`` use. Semantics follow
Alertmanager: a missing label matches as the empty string, and a regex must match the WHOLE
value (it is anchored at both ends). Regexes use Python's ``re`` syntax, which agrees with
Go's RE2 for everything operators write in practice (alternation, classes, ``.*``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Longest operators first, so `!~` is never read as `!` + `~…`.
_TEXT = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")
_OPS = {"=": (False, True), "!=": (False, False), "=~": (True, True), "!~": (True, False)}


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not LABEL_NAME.fullmatch(self.name):
            raise ValueError(f"'{self.name}' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        if self.is_regex:
            try:
                # Compiled alone first: the error positions then refer to what was written,
                # and a value like `a)|(b` cannot escape the group added below.
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"{self.name}: bad regex '{self.value}': {exc}") from exc
            object.__setattr__(self, "_pattern", re.compile(f"(?:{self.value})"))

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self._pattern is not None:
            hit = self._pattern.fullmatch(value) is not None
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit

    @property
    def op(self) -> str:
        return next(op for op, flags in _OPS.items() if flags == (self.is_regex, self.is_equal))

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"

    def to_dict(self) -> dict[str, Any]:
        """Alertmanager's JSON form (stored in ``silences.matchers`` and served by the API)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


def from_dict(data: Mapping[str, Any]) -> Matcher:
    return Matcher(
        str(data["name"]),
        str(data["value"]),
        bool(data.get("isRegex", False)),
        bool(data.get("isEqual", True)),
    )


def parse(text: str) -> Matcher:
    """``name=value`` / ``name!=value`` / ``name=~re`` / ``name!~re``; ValueError names it."""
    found = _TEXT.fullmatch(text)
    if found is None:
        raise ValueError(f"'{text}' is not name=value, name!=value, name=~regex or name!~regex")
    name, op, raw = found.groups()
    is_regex, is_equal = _OPS[op]
    try:
        return Matcher(name, _unquote(raw), is_regex, is_equal)
    except ValueError as exc:
        raise ValueError(f"'{text}': {exc}") from exc


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            return str(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise ValueError(f"bad quoted value {raw}") from exc
    return raw


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def check_silence_matchers(matchers: list[Matcher]) -> None:
    """Alertmanager refuses a silence that would match every alert: at least one matcher
    must not match the empty label set (``job=~".*"`` alone would mute everything)."""
    if not matchers:
        raise ValueError("a silence needs at least one matcher")
    if all(m.matches({}) for m in matchers):
        raise ValueError("at least one matcher must not match the empty string")
