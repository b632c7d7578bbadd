"""The line inventory (M1.2, R1.5): merged hotline numbers, the carrier SIP trunks and E1
spans that carry them, and the media gateways the spans end on.

It lives in ``probes/*.yaml`` beside plain targets and becomes targets itself: one
``sip_options`` target per trunk, one ``snmp`` target per E1 span, one reachability target
per gateway. Each generated target is labelled with its segment (carrier / gateway / lan),
so a fault is placed where it is, and with the numbers it carries, so the daily line
inspection can speak per number.
"""

from __future__ import annotations

import re
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
    # Where each entry was written, and that file's document and defaults: targets are
    # generated after every file is merged, so references may cross files.
    where: dict[tuple[str, str], str] = field(default_factory=dict)
    docs: dict[tuple[str, str], yamlfile.YamlDoc] = field(default_factory=dict)
    defaults: dict[tuple[str, str], Defaults] = field(default_factory=dict)

    def merge(self, other: Inventory) -> Inventory:
        for part in PARTS:
            mine, theirs = getattr(self, part), getattr(other, part)
            for name, spec in theirs.items():
                if name in mine:
                    raise ConfigError(
                        f"{other.where[(part, name)]}: {part}.{name}: already "
                        f"defined at {self.where[(part, name)]}"
                    )
                mine[name] = spec
        self.where.update(other.where)
        self.docs.update(other.docs)
        self.defaults.update(other.defaults)
        return self

    def check_references(self) -> None:
        """Every number's trunks and spans, and every span's gateway, must exist; a
        gateway that carries spans needs its SNMP community."""
        for name, span in self.spans.items():
            gateway = self.gateways.get(span.gateway)
            if gateway is None:
                raise self._error("spans", name, "gateway", f"unknown gateway '{span.gateway}'")
            if gateway.community_env is None:
                raise self._error(
                    "gateways",
                    span.gateway,
                    "community_env",
                    f"required: span '{name}' is read over SNMP",
                )
        for number, spec in self.numbers.items():
            for part, refs in (("trunks", spec.trunks), ("spans", spec.spans)):
                for ref in refs:
                    if ref not in getattr(self, part):
                        raise self._error("numbers", number, part, f"unknown {part[:-1]} '{ref}'")

    def _error(self, part: str, name: str, fld: str, message: str) -> ConfigError:
        doc = self.docs[(part, name)]
        return ConfigError(f"{doc.where((part, name, fld))}: {part}.{name}.{fld}: {message}")

    def numbers_on(self, part: str, name: str) -> list[str]:
        return sorted(n for n, spec in self.numbers.items() if name in getattr(spec, part))


PARTS = ("gateways", "trunks", "spans", "numbers")
MODELS = {"gateways": GatewaySpec, "trunks": TrunkSpec, "spans": SpanSpec, "numbers": NumberSpec}
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# Keys a trunk's `options` may not set: the inventory sets them itself.
RESERVED_OPTIONS = {
    "name",
    "kind",
    "host",
    "port",
    "transport",
    "labels",
    "interval",
    "timeout",
    "attempts",
    "rise",
    "flap_high",
    "flap_low",
}
MakeTarget = Callable[..., Any]


def load_inventory(doc: yamlfile.YamlDoc) -> Inventory:
    """Validate the inventory part of one probes file (references are checked later)."""
    data = doc.data or {}
    defaults = yamlfile.validate(Defaults, doc, data.get("defaults") or {}, ("defaults",))
    inv = Inventory()
    for part in PARTS:
        for key, raw in (data.get(part) or {}).items():
            name = str(key)
            if part != "numbers" and not NAME.match(name):
                raise ConfigError(
                    f"{doc.where((part, key))}: {part}.{name}: names may use "
                    "letters, digits, '_', '.' and '-' only"
                )
            spec = yamlfile.validate(MODELS[part], doc, raw or {}, (part, key))
            _check_options(doc, part, key, spec)
            getattr(inv, part)[name] = spec
            inv.where[(part, name)] = doc.where((part, key))
            inv.docs[(part, name)] = doc
            inv.defaults[(part, name)] = defaults
    return inv


def _check_options(doc: yamlfile.YamlDoc, part: str, key: Any, spec: Any) -> None:
    if part != "trunks":
        return
    clash = sorted(set(spec.options) & RESERVED_OPTIONS)
    if clash:
        loc = (part, key, "options", clash[0])
        raise ConfigError(
            f"{doc.where(loc)}: trunks.{key}.options.{clash[0]}: set by the "
            "inventory itself; write it on the trunk"
        )


def generate_targets(inv: Inventory, make_target: MakeTarget) -> list:
    """One target per trunk, span and reachable gateway, labelled with its segment."""
    return [
        *_gateway_targets(inv, make_target),
        *_trunk_targets(inv, make_target),
        *_span_targets(inv, make_target),
    ]


def _cadence(inv: Inventory, part: str, name: str, spec: Cadence) -> dict[str, Any]:
    defaults = inv.defaults[(part, name)]
    return {
        key: getattr(spec, key) if getattr(spec, key) is not None else getattr(defaults, key)
        for key in ("interval", "timeout", "attempts", "rise")
    }


def _gateway_targets(inv: Inventory, make_target: MakeTarget):
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
            **_cadence(inv, "gateways", name, gw),
        }
        yield make_target(inv.docs[("gateways", name)], ("gateways", name), raw)


def _trunk_targets(inv: Inventory, make_target: MakeTarget):
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
            **_cadence(inv, "trunks", name, trunk),
        }
        doc = inv.docs[("trunks", name)]
        yield make_target(doc, ("trunks", name), raw, ("trunks", name, "options"))


def _span_targets(inv: Inventory, make_target: MakeTarget):
    for name, span in inv.spans.items():
        gw = inv.gateways[span.gateway]
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
            **_cadence(inv, "spans", name, span),
        }
        yield make_target(inv.docs[("spans", name)], ("spans", name), raw)


def span_params(gw: GatewaySpec, span: SpanSpec) -> dict[str, Any]:
    """The snmp probe's params for one E1 span: line status, error intervals and, for a PRI
    span with a D channel, ISDN signalling and B-channel occupancy."""
    checks: list[dict[str, Any]] = [{"type": "e1", "span_index": span.index}]
    if span.lapd_index is not None:
        isdn: dict[str, Any] = {
            "type": "isdn",
            "lapd_index": span.lapd_index,
            "capacity": span.channels,
        }
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
