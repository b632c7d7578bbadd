"""Loading ``incidents/escalation.yaml``: escalation chains and the routes that pick them.

Validated completely before anything is stored; every error names file:line and field
(see yamlfile), because a chain that silently notifies no one is found only when an
incident goes unanswered.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline_ops import yamlfile
from hotline_ops.core.durations import parse_duration
from hotline_ops.core.escalation import Chain, EscalationPolicy, Route, Step
from hotline_ops.core.roster import RosterPolicy
from hotline_ops.errors import ConfigError

# `wait: 0m` means "at once"; parse_duration refuses zero because a zero interval or
# timeout is always a mistake elsewhere.
_ZERO = re.compile(r"0+(?:\.0+)?(?:ms|s|m|h|d)?")


def _wait(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    if isinstance(value, str) and _ZERO.fullmatch(value.strip()):
        return 0.0
    return parse_duration(value)


def _every(value: Any) -> float | None:
    return None if value is None else parse_duration(value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepSpec(_Strict):
    wait: float
    notify: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    roster: str | None = Field(None, min_length=1)
    channels: list[str] = Field(default_factory=list)
    repeat: int = Field(0, ge=0, le=100)
    every: float | None = None

    _wait = field_validator("wait", mode="before")(_wait)
    _every = field_validator("every", mode="before")(_every)

    @model_validator(mode="after")
    def _coherent(self) -> StepSpec:
        if self.repeat and self.every is None:
            raise ValueError("repeat needs every (the gap between runs)")
        if self.every is not None and not self.repeat:
            raise ValueError("every needs repeat (how many more runs)")
        paged = bool(self.people or self.roster)
        if self.channels and not paged:
            raise ValueError("channels is the fallback for people/roster; use notify")
        if not (self.notify or paged):
            raise ValueError("the step notifies no one: give notify, or people/roster")
        return self

    def step(self) -> Step:
        return Step(
            wait_s=int(self.wait),
            notify=tuple(self.notify),
            people=tuple(self.people),
            roster=self.roster,
            channels=tuple(self.channels),
            repeat=self.repeat,
            every_s=int(self.every or 0),
        )


class ChainSpec(_Strict):
    steps: list[StepSpec] = Field(min_length=1)


Matcher = str | int | list[str | int]


class RouteSpec(_Strict):
    match: dict[str, Matcher] = Field(default_factory=dict)
    chain: str


class EscalationFile(_Strict):
    chains: dict[str, ChainSpec] = Field(min_length=1)
    routes: list[RouteSpec] = Field(min_length=1)


def load_escalation(
    path: Path, channel_names: set[str], roster: RosterPolicy | None = None
) -> EscalationPolicy:
    """The policy in ``path``; ConfigError naming file:line and field on any problem.
    ``people``/``roster`` targets are checked against ``roster`` (incidents/roster.yaml)."""
    doc = yamlfile.load(path)
    spec = yamlfile.validate(EscalationFile, doc)
    chains = {name: _chain(doc, name, c, channel_names) for name, c in spec.chains.items()}
    for name, chain in spec.chains.items():
        for i, step in enumerate(chain.steps):
            _check_targets(doc, ("chains", name, "steps", i), step, roster)
    routes = tuple(_route(doc, i, r, chains) for i, r in enumerate(spec.routes))
    _check_catch_all(doc, routes)
    return EscalationPolicy(chains, routes)


def _chain(doc: yamlfile.YamlDoc, name: str, spec: ChainSpec, channel_names: set[str]) -> Chain:
    steps = tuple(s.step() for s in spec.steps)
    for i, step in enumerate(spec.steps):
        _check_channels(doc, ("chains", name, "steps", i), step, channel_names)
    _check_order(doc, name, steps)
    return Chain(name, steps)


def _check_channels(
    doc: yamlfile.YamlDoc, loc: tuple, step: StepSpec, channel_names: set[str]
) -> None:
    for key in ("notify", "channels"):
        for j, channel in enumerate(getattr(step, key)):
            if channel not in channel_names:
                where = (*loc, key, j)
                raise ConfigError(
                    f"{doc.where(where)}: {_dotted(where)}: unknown channel '{channel}'"
                )


def _check_targets(
    doc: yamlfile.YamlDoc, loc: tuple, step: StepSpec, roster: RosterPolicy | None
) -> None:
    """People and rosters must exist; without a roster file they need fallback channels."""
    if roster is None:
        if (step.people or step.roster) and not step.channels:
            where = (*loc, "people" if step.people else "roster")
            raise ConfigError(
                f"{doc.where(where)}: {_dotted(where)}: no incidents/roster.yaml to resolve "
                "people/roster; add it, or a fallback `channels` list"
            )
        return
    if step.roster is not None and step.roster not in roster.rosters:
        where = (*loc, "roster")
        known = ", ".join(roster.rosters)
        raise ConfigError(
            f"{doc.where(where)}: {_dotted(where)}: unknown roster '{step.roster}' (known: {known})"
        )
    for j, key in enumerate(step.people):
        if key not in roster.people and key not in roster.roles:
            where = (*loc, "people", j)
            raise ConfigError(
                f"{doc.where(where)}: {_dotted(where)}: '{key}' is neither a person nor a role "
                "in incidents/roster.yaml"
            )


def _check_order(doc: yamlfile.YamlDoc, name: str, steps: tuple[Step, ...]) -> None:
    """Waits count from the opening, so a step must start after the previous step's last run;
    otherwise runs would interleave and "step 2" would not mean "later than step 1"."""
    for i in range(1, len(steps)):
        before = steps[i - 1]
        if steps[i].wait_s <= before.last_run_s():
            loc = ("chains", name, "steps", i, "wait")
            raise ConfigError(
                f"{doc.where(loc)}: {_dotted(loc)}: must be after {before.last_run_s()}s, "
                f"the last run of step {i - 1} (waits count from the incident's opening)"
            )


def _route(doc: yamlfile.YamlDoc, index: int, spec: RouteSpec, chains: dict[str, Chain]) -> Route:
    if spec.chain not in chains:
        loc = ("routes", index, "chain")
        known = ", ".join(chains)
        raise ConfigError(
            f"{doc.where(loc)}: {_dotted(loc)}: unknown chain '{spec.chain}' (known: {known})"
        )
    levels: frozenset[int] = frozenset()
    labels: dict[str, tuple[str, ...]] = {}
    for key, raw in spec.match.items():
        values = raw if isinstance(raw, list) else [raw]
        if key == "level":
            levels = _levels(doc, ("routes", index, "match", "level"), values)
        else:
            # Label values are strings; YAML reads `env: 1` as a number.
            labels[key] = tuple(str(v) for v in values)
    return Route(chains[spec.chain], levels, labels)


def _levels(doc: yamlfile.YamlDoc, loc: tuple, values: list[str | int]) -> frozenset[int]:
    for value in values:
        if not isinstance(value, int):
            raise ConfigError(f"{doc.where(loc)}: {_dotted(loc)}: '{value}' is not a level number")
    return frozenset(int(v) for v in values)


def _check_catch_all(doc: yamlfile.YamlDoc, routes: tuple[Route, ...]) -> None:
    """Every incident must reach some chain, and a route after the catch-all never would."""
    for i, route in enumerate(routes):
        if route.catch_all and i + 1 < len(routes):
            loc = ("routes", i + 1)
            raise ConfigError(
                f"{doc.where(loc)}: {_dotted(loc)}: unreachable, "
                f"routes.{i} before it matches every incident"
            )
    if not routes[-1].catch_all:
        raise ConfigError(
            f"{doc.where(('routes',))}: routes: no catch-all route; end with one without "
            "match, e.g. - {chain: default}"
        )


def _dotted(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)
