"""SIP OPTIONS probe: is a carrier's SIP trunk alive, and does it accept our traffic.

One RFC 3261 OPTIONS per check, over the shared UDP socket of its source address (see
``sip.py``) with Timer E retransmissions until ``min(timeout, deadline_s)``, or once over a
fresh TCP connection. The reply is classified:

- healthy (ok): 2xx;
- refused (ok when ``refused_is_up``): 401 403 404 405 407 480 483 484 486 501, and 3xx;
- degraded (not ok): 500 503 504 and every other 4xx/5xx/6xx;
- down (not ok): no reply, ICMP unreachable, connect refused, a malformed reply over TCP.

"Refused" means the SIP stack answered but its policy rejects a probe (many carrier SBCs
answer OPTIONS from unknown peers with 403/404/405): the trunk is alive. Our own deadline is
never a 408 and never healthy. Metrics: ``sip_status`` (0 without a reply), ``rtt_s`` (from
the first send, when there is a reply) and ``retransmits``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from hotline_ops.probes import sip
from hotline_ops.probes.base import Probe, ProbeResult, describe_error, run_within

REFUSED_STATUSES = frozenset({401, 403, 404, 405, 407, 480, 483, 484, 486, 501})
# Beyond our own deadline, a little time for the result to be built before the outer guard.
_GUARD_S = 0.5
_HOST = re.compile(r"[^\s<>\"/;@]+")
_SIP_URI = re.compile(r"sips?:[^\s<>\"]+", re.IGNORECASE)
_SIP_USER = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=%-]+")


def classify(status: int) -> str:
    """The verdict for a final response status (see the module docstring)."""
    if 200 <= status < 300:
        return "healthy"
    if status in REFUSED_STATUSES or 300 <= status < 400:
        return "refused"
    return "degraded"


def down(detail: str, retransmits: int = 0) -> ProbeResult:
    metrics = {"sip_status": 0.0, "retransmits": float(retransmits)}
    return ProbeResult(False, None, detail, metrics, "down")


def no_reply_detail(exchange: sip.Exchange, budget: float) -> str:
    return exchange.error or f"no SIP reply within {float(budget)}s"


class SipTargetParams(Probe.Params):
    """Where to send: shared by the SIP probes."""

    host: str = Field(min_length=1)
    port: int = Field(5060, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    # None lets the OS choose (the wildcard address); a carrier that allows only one source
    # address (and port) gets it here. Targets with equal values share one UDP socket.
    source_ip: str | None = None
    source_port: int | None = Field(None, ge=1, le=65535)
    deadline_s: float = Field(4.0, gt=0, le=32)

    @field_validator("host")
    @classmethod
    def _host_is_plain(cls, host: str) -> str:
        plain = host.strip("[]")
        if not _HOST.fullmatch(host) or (":" in plain and not _is_ip(plain)):
            raise ValueError(f"'{host}' is not a host name or IP address")
        return plain

    @field_validator("source_ip")
    @classmethod
    def _source_is_an_ip(cls, source_ip: str | None) -> str | None:
        if source_ip is not None:
            try:
                return str(ipaddress.ip_address(source_ip.strip("[]")))
            except ValueError as exc:
                raise ValueError(f"source_ip '{source_ip}' is not an IP address") from exc
        return source_ip

    @model_validator(mode="after")
    def _same_ip_version(self) -> SipTargetParams:
        if self.source_ip is None:
            return self
        try:
            host = ipaddress.ip_address(self.host)
        except ValueError:
            return self  # a name: resolved in the source address's family at check time
        if host.version != ipaddress.ip_address(self.source_ip).version:
            raise ValueError("source_ip and host are different IP versions")
        return self

    def peer(self) -> sip.Peer:
        return sip.Peer(self.host, self.port, self.transport, self.source_ip, self.source_port)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_user(user: str, what: str) -> str:
    if not _SIP_USER.fullmatch(user):
        raise ValueError(f"{what} '{user}' has characters not allowed in a SIP URI user")
    return user


def check_uri(uri: str) -> str:
    if not _SIP_URI.fullmatch(uri):
        raise ValueError(f"'{uri}' is not a sip: or sips: URI")
    return uri


class SipOptionsProbe(Probe):
    """Sends SIP OPTIONS to ``host:port``; ok when the trunk answers healthy (or refused)."""

    kind: ClassVar[str] = "sip_options"
    params: SipOptionsProbe.Params

    class Params(SipTargetParams):
        target_uri: str | None = None  # default sip:HOST:PORT
        from_user: str = "hotline-ops"
        refused_is_up: bool = True

        @field_validator("target_uri")
        @classmethod
        def _uri(cls, uri: str | None) -> str | None:
            return None if uri is None else check_uri(uri)

        @field_validator("from_user")
        @classmethod
        def _user(cls, user: str) -> str:
            return check_user(user, "from_user")

    @property
    def target_uri(self) -> str:
        if self.params.target_uri is not None:
            return self.params.target_uri
        return f"sip:{sip.uri_host(self.params.host)}:{self.params.port}"

    async def check(self, timeout: float) -> ProbeResult:
        budget = min(timeout, self.params.deadline_s)
        result = await run_within(budget + _GUARD_S, self._attempt(budget))
        return result if result.classification else down(result.detail)

    async def _attempt(self, budget: float) -> ProbeResult:
        deadline = asyncio.get_running_loop().time() + budget
        try:
            async with sip.open_channel(self.params.peer(), deadline) as channel:
                call_id = sip.new_call_id(channel.local.host)
                exchange = await channel.transact(
                    "OPTIONS", call_id, 1, self._renderer(call_id), deadline
                )
        except OSError as exc:
            return down(describe_error(exc))
        return self._judge(exchange, budget)

    def _renderer(self, call_id: str) -> sip.Render:
        tag = sip.new_tag()
        user, uri = self.params.from_user, self.target_uri

        def render(local: sip.Local, branch: str) -> bytes:
            headers = [
                ("Via", local.via(branch)),
                ("Max-Forwards", "70"),
                ("From", f"<sip:{user}@{local.host}>;tag={tag}"),
                ("To", f"<{uri}>"),
                ("Call-ID", call_id),
                ("CSeq", "1 OPTIONS"),
                ("Contact", f"<{local.contact_uri(user)}>"),
            ]
            return sip.format_request("OPTIONS", uri, headers)

        return render

    def _judge(self, exchange: sip.Exchange, budget: float) -> ProbeResult:
        response = exchange.response
        if response is None:
            return down(no_reply_detail(exchange, budget), exchange.retransmits)
        metrics = {
            "sip_status": float(response.status),
            "rtt_s": exchange.rtt_s or 0.0,
            "retransmits": float(exchange.retransmits),
        }
        verdict = classify(response.status)
        ok, detail = verdict == "healthy", response.label
        if verdict == "refused":
            ok = self.params.refused_is_up
            detail = f"{'alive, ' if ok else ''}refused probe: {response.label}"
        return ProbeResult(ok, exchange.rtt_s, detail, metrics, verdict)
