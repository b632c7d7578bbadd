"""The line inventory (M1.2, R1.5): merged hotline numbers, the carrier SIP trunks and E1
spans that carry them, and the media gateways the spans end on.

It lives in ``probes/*.yaml`` beside plain targets and becomes targets itself: one
``sip_options`` target per trunk, one ``snmp`` target per E1 span, one reachability target
per gateway. Each generated target is labelled with its segment (carrier / gateway / lan),
so a fault is placed where it is, and with the numbers it carries, so the daily line
inspection can speak per number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hotline_ops import yamlfile
from hotline_ops.errors import ConfigError

Segment = Literal["carrier", "gateway", "lan"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Defaults(_Strict):
    interval: str | float = "10s"
    timeout: str | float = "4s"
    attempts: int = Field(3, ge=1)
    rise: int = Field(2, ge=1)


class Cadence(_Strict):
    interval: str | float | None = None
    timeout: str | float | None = None
    attempts: int | None = Field(None, ge=1)
    rise: int | None = Field(None, ge=1)


class GatewaySpec(Cadence):
    host: str = Field(min_length=1)
    vendor: str = ""
    snmp_port: int = Field(161, ge=1, le=65535)
    community_env: str | None = None
    version: Literal["1", "2c"] = "2c"
    reach_port: int | None = Field(None, ge=1, le=65535)  # a TCP port proving the LAN hop
    labels: dict[str, str] = Field(default_factory=dict)


class TrunkSpec(Cadence):
    carrier: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    channels: int = Field(30, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)  # further sip_options params
    labels: dict[str, str] = Field(default_factory=dict)


class SpanSpec(Cadence):
    gateway: str
    index: int = Field(ge=1)  # ifIndex of the DS1 line on the gateway
    channels: int = Field(30, ge=1, le=31)
    lapd_index: int | None = Field(None, ge=1)
    bearer_indexes: list[int] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class NumberSpec(_Strict):
    name: str = Field(min_length=1)
    trunks: list[str] = Field(default_factory=list)
    spans: list[str] = Field(default_factory=list)


@dataclass
class Inventory:
    gateways: dict[str, GatewaySpec] = field(default_factory=dict)
    trunks: dict[str, TrunkSpec] = field(default_factory=dict)
    spans: dict[str, SpanSpec] = field(default_factory=dict)
    numbers: dict[str, NumberSpec] = field(default_factory=dict)
    where: dict[tuple[str, str], str] = field(default_factory=dict)

    def merge(self, other: Inventory, doc: yamlfile.YamlDoc) -> Inventory:
        for part in ("gateways", "trunks", "spans", "numbers"):
            mine, theirs = getattr(self, part), getattr(other, part)
            for name, spec in theirs.items():
                if name in mine:
                    raise ConfigError(
                        f"{other.where[(part, name)]}: {part}.{name}: already "
                        f"defined at {self.where[(part, name)]}"
                    )
                mine[name] = spec
        self.where.update(other.where)
        return self

    def check_references(self) -> None:
        """Every number's trunks and spans, and every span's gateway, must exist."""
        for name, span in self.spans.items():
            if span.gateway not in self.gateways:
                raise ConfigError(
                    f"{self.where[('spans', name)]}: spans.{name}.gateway: "
                    f"unknown gateway '{span.gateway}'"
                )
        for number, spec in self.numbers.items():
            for part, refs in (("trunks", spec.trunks), ("spans", spec.spans)):
                for ref in refs:
                    if ref not in getattr(self, part):
                        raise ConfigError(
                            f"{self.where[('numbers', number)]}: numbers.{number}."
                            f"{part}: unknown {part[:-1]} '{ref}'"
                        )

    def numbers_on(self, part: str, name: str) -> list[str]:
        return sorted(n for n, spec in self.numbers.items() if name in getattr(spec, part))


MakeTarget = Callable[..., Any]


def load_inventory(doc: yamlfile.YamlDoc, make_target: MakeTarget) -> tuple[Inventory, list]:
    """Validate the inventory part of one probes file; return it and its generated targets."""
    data = doc.data or {}
    defaults = yamlfile.validate(Defaults, doc, data.get("defaults") or {}, ("defaults",))
    inv = Inventory()
    for part, model in (
        ("gateways", GatewaySpec),
        ("trunks", TrunkSpec),
        ("spans", SpanSpec),
        ("numbers", NumberSpec),
    ):
        for name, raw in (data.get(part) or {}).items():
            getattr(inv, part)[str(name)] = yamlfile.validate(model, doc, raw or {}, (part, name))
            inv.where[(part, str(name))] = doc.where((part, name))
    if not (inv.trunks or inv.spans or inv.gateways):
        return inv, []
    # References across files are checked once all files are merged; within one file the
    # numbers' trunk lists are needed now for the labels.
    targets = [
        *_gateway_targets(doc, inv, defaults, make_target),
        *_trunk_targets(doc, inv, defaults, make_target),
        *_span_targets(doc, inv, defaults, make_target),
    ]
    return inv, targets


def _cadence(spec: Cadence, defaults: Defaults) -> dict[str, Any]:
    return {
        key: getattr(spec, key) if getattr(spec, key) is not None else getattr(defaults, key)
        for key in ("interval", "timeout", "attempts", "rise")
    }


def _gateway_targets(doc, inv: Inventory, defaults: Defaults, make_target: MakeTarget):
    for name, gw in inv.gateways.items():
        if gw.reach_port is None:
            continue
        labels = {**gw.labels, "segment": "lan", "component": "gateway", "gateway": name}
        raw = {
            "name": f"gateway:{name}",
            "kind": "tcp",
            "host": gw.host,
            "port": gw.reach_port,
            "labels": labels,
            **_cadence(gw, defaults),
        }
        yield make_target(doc, ("gateways", name), raw)


def _trunk_targets(doc, inv: Inventory, defaults: Defaults, make_target: MakeTarget):
    for name, trunk in inv.trunks.items():
        numbers = ",".join(inv.numbers_on("trunks", name))
        labels = {
            **trunk.labels,
            "segment": "carrier",
            "component": "trunk",
            "trunk": name,
            "carrier": trunk.carrier,
            "numbers": numbers,
        }
        raw = {
            "name": f"trunk:{name}",
            "kind": "sip_options",
            "host": trunk.host,
            "port": trunk.port,
            "transport": trunk.transport,
            **trunk.options,
            "labels": labels,
            **_cadence(trunk, defaults),
        }
        yield make_target(doc, ("trunks", name), raw, ("trunks", name, "options"))


def _span_targets(doc, inv: Inventory, defaults: Defaults, make_target: MakeTarget):
    for name, span in inv.spans.items():
        gw = inv.gateways.get(span.gateway)
        if gw is None:
            raise ConfigError(
                f"{doc.where(('spans', name, 'gateway'))}: spans.{name}.gateway: "
                f"unknown gateway '{span.gateway}'"
            )
        numbers = ",".join(inv.numbers_on("spans", name))
        labels = {
            **span.labels,
            "segment": "gateway",
            "component": "span",
            "span": name,
            "gateway": span.gateway,
            "numbers": numbers,
        }
        raw = {
            "name": f"span:{name}",
            "kind": "snmp",
            **span_params(gw, span),
            "labels": labels,
            **_cadence(span, defaults),
        }
        yield make_target(doc, ("spans", name), raw)


def span_params(gw: GatewaySpec, span: SpanSpec) -> dict[str, Any]:
    """The snmp probe's params for one E1 span: line status, error intervals and, for a PRI
    span with a D channel, ISDN signalling and B-channel occupancy."""
    checks: list[dict[str, Any]] = [{"type": "e1", "span_index": span.index}]
    if span.lapd_index is not None:
        isdn: dict[str, Any] = {"type": "isdn", "lapd_index": span.lapd_index,
                                "capacity": span.channels}
        if span.bearer_indexes:
            isdn["bearer_indexes"] = span.bearer_indexes
        else:
            isdn["bearer_walk"] = True
        checks.append(isdn)
    params: dict[str, Any] = {
        "host": gw.host,
        "port": gw.snmp_port,
        "version": gw.version,
        "checks": checks,
    }
    if gw.community_env:
        params["community_env"] = gw.community_env
    return params
