"""SIP REGISTER probe: does the registrar accept our credentials (RFC 3261 10, digest auth).

REGISTER without credentials -> 401/407 with a Digest challenge -> REGISTER with
Authorization (RFC 2617/3261: MD5 or SHA-256, ``-sess`` variants, qop ``auth``/``auth-int``
or none) -> 200 OK. One stale-nonce challenge is answered again; a second real challenge
means the credentials are wrong. Then, unless ``unregister: false``, our binding is removed
again (``Expires: 0`` for our Contact): a probe must not pile up bindings on a carrier's
registrar (each check may use another source port), and its outcome does not change the
result.

Use a dedicated probe account: registering the trunk's production AOR from the prober may
replace the PBX's binding on registrars that keep one contact per AOR.

The password never sits in the config or the params: ``password_env`` names an environment
variable (e.g. ``HOTLINE_OPS_SECRET_CT_SIP``) that is read at each check, so rotation needs no
restart. Only its digest goes on the wire; it is never in a detail, a metric or a repr.
Metrics: ``sip_status``, ``expires_s`` (granted, from our Contact's ``expires`` or the
Expires header) and ``rtt_s`` (first REGISTER sent -> final answer, challenge included).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field, field_validator

from hotline_ops.probes import sip
from hotline_ops.probes.base import Probe, ProbeResult, describe_error, env_name, run_within
from hotline_ops.probes.sip_options import (
    SipTargetParams,
    check_user,
    classify,
    down,
    no_reply_detail,
)

_GUARD_S = 0.5
_DOMAIN = re.compile(r"[A-Za-z0-9.\-\[\]:]+")
_AUTH_PARAM = re.compile(r"([A-Za-z][\w-]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^\s,]+)")
_EXPIRES_PARAM = re.compile(r";\s*expires\s*=\s*([0-9]+)", re.IGNORECASE)
_CONTACT_URI = re.compile(r"<([^>]*)>")

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


@dataclass(frozen=True)
class DigestChallenge:
    """A parsed ``WWW-Authenticate``/``Proxy-Authenticate: Digest ...`` value."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def usable(self) -> bool:
        base = self.algorithm.removesuffix("-SESS")
        qop_ok = not self.qop or bool({"auth", "auth-int"} & set(self.qop))
        return base in _HASHES and qop_ok


def parse_challenge(value: str) -> DigestChallenge | None:
    """None unless it is a Digest challenge with realm and nonce."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = {k.lower(): _unquote(v) for k, v in _AUTH_PARAM.findall(rest)}
    if "realm" not in params or "nonce" not in params:
        return None
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return DigestChallenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5").upper(),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest_response(
    *,
    algorithm: str,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str = "00000001",
    cnonce: str = "",
    body: bytes = b"",
) -> str:
    """The ``response`` value of RFC 2617 3.2.2 (RFC 7616 for SHA-256)."""
    hash_ = _HASHES[algorithm.upper().removesuffix("-SESS")]

    def h(*parts: str) -> str:
        return hash_(":".join(parts).encode("utf-8"))

    ha1 = h(username, realm, password)
    if algorithm.upper().endswith("-SESS"):
        ha1 = h(ha1, nonce, cnonce)
    ha2 = h(method, uri, hash_(body)) if qop == "auth-int" else h(method, uri)
    if qop is None:
        return h(ha1, nonce, ha2)
    return h(ha1, nonce, nc, cnonce, qop, ha2)


def authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The value of an ``Authorization``/``Proxy-Authorization`` header for ``challenge``."""
    qop = next((q for q in ("auth", "auth-int") if q in challenge.qop), None)
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    response = digest_response(
        algorithm=challenge.algorithm,
        username=username,
        realm=challenge.realm,
        password=password,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    parts = [
        f"username={_quote(username)}",
        f"realm={_quote(challenge.realm)}",
        f"nonce={_quote(challenge.nonce)}",
        f"uri={_quote(uri)}",
        f"response={_quote(response)}",
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f"cnonce={_quote(cnonce)}", f"qop={qop}", f"nc={nc_text}"]
    if challenge.opaque is not None:
        parts.append(f"opaque={_quote(challenge.opaque)}")
    return "Digest " + ", ".join(parts)


def pick_challenge(response: sip.SipResponse) -> tuple[str, DigestChallenge] | None:
    """(header to answer with, challenge): the first usable one, as the server ordered them."""
    header, answer = (
        ("proxy-authenticate", "Proxy-Authorization")
        if response.status == 407
        else ("www-authenticate", "Authorization")
    )
    for value in response.values(header):
        challenge = parse_challenge(value)
        if challenge is not None and challenge.usable:
            return answer, challenge
    return None


def granted_expires(response: sip.SipResponse, contact_uri: str) -> int | None:
    """Seconds the registrar granted our Contact: its ``expires`` param, else Expires."""
    for value in response.values("contact"):
        for entry in value.split(","):
            uri = _CONTACT_URI.search(entry)
            if uri is not None and uri.group(1) == contact_uri:
                found = _EXPIRES_PARAM.search(entry[uri.end() :])
                if found is not None:
                    return int(found.group(1))
    expires = (response.first("expires") or "").strip()
    return int(expires) if expires.isdigit() else None


class _MissingPassword(Exception):
    pass


@dataclass
class _Dialog:
    """The fixed parts of this check's REGISTERs: one Call-ID and From tag, rising CSeq."""

    channel: sip.Channel
    aor: str
    request_uri: str
    call_id: str
    tag: str
    contact: str
    deadline: float
    cseq: int = 0

    async def register(self, expires: int, auth: tuple[str, str] | None) -> sip.Exchange:
        self.cseq += 1
        cseq = self.cseq

        def render(local: sip.Local, branch: str) -> bytes:
            headers = [
                ("Via", local.via(branch)),
                ("Max-Forwards", "70"),
                ("From", f"<{self.aor}>;tag={self.tag}"),
                ("To", f"<{self.aor}>"),
                ("Call-ID", self.call_id),
                ("CSeq", f"{cseq} REGISTER"),
                ("Contact", f"<{self.contact}>" + (";expires=0" if expires == 0 else "")),
                ("Expires", str(expires)),
            ]
            if auth is not None:
                headers.append(auth)
            return sip.format_request("REGISTER", self.request_uri, headers)

        return await self.channel.transact("REGISTER", self.call_id, cseq, render, self.deadline)


class SipRegisterProbe(Probe):
    """Registers ``user@domain`` at ``host:port`` with digest auth; ok on 2xx."""

    kind: ClassVar[str] = "sip_register"
    params: SipRegisterProbe.Params

    class Params(SipTargetParams):
        user: str
        domain: str | None = None  # default: host
        auth_user: str | None = None  # digest username when it differs from user
        password_env: str
        expires: int = Field(300, ge=1, le=2**31 - 1)
        unregister: bool = True

        @field_validator("user", "auth_user")
        @classmethod
        def _user(cls, user: str | None) -> str | None:
            return None if user is None else check_user(user, "user")

        @field_validator("domain")
        @classmethod
        def _domain(cls, domain: str | None) -> str | None:
            if domain is not None and not _DOMAIN.fullmatch(domain):
                raise ValueError(f"'{domain}' is not a SIP domain")
            return domain

        @field_validator("password_env")
        @classmethod
        def _env(cls, name: str) -> str:
            return env_name("password_env", name) or name

    async def check(self, timeout: float) -> ProbeResult:
        budget = min(timeout, self.params.deadline_s)
        result = await run_within(budget + _GUARD_S, self._attempt(budget))
        return result if result.classification else down(result.detail)

    def _password(self) -> str:
        password = os.environ.get(self.params.password_env)
        if not password:
            raise _MissingPassword(f"password env var {self.params.password_env} is not set")
        return password

    async def _attempt(self, budget: float) -> ProbeResult:
        try:
            password = self._password()
        except _MissingPassword as exc:
            return ProbeResult(False, None, str(exc), {"sip_status": 0.0}, "misconfigured")
        deadline = asyncio.get_running_loop().time() + budget
        try:
            async with sip.open_channel(self.params.peer(), deadline) as channel:
                domain = sip.uri_host(self.params.domain or self.params.host)
                dialog = _Dialog(
                    channel=channel,
                    aor=f"sip:{self.params.user}@{domain}",
                    request_uri=f"sip:{domain}",
                    call_id=sip.new_call_id(channel.local.host),
                    tag=sip.new_tag(),
                    contact=channel.local.contact_uri(self.params.user),
                    deadline=deadline,
                )
                return await self._register(dialog, password, budget)
        except OSError as exc:
            return down(describe_error(exc))

    async def _register(self, dialog: _Dialog, password: str, budget: float) -> ProbeResult:
        started = time.perf_counter()
        exchange, auth = await self._authenticated(dialog, password)
        response = exchange.response
        if response is None:
            return down(no_reply_detail(exchange, budget), exchange.retransmits)
        rtt = time.perf_counter() - started
        metrics = {"sip_status": float(response.status), "rtt_s": rtt}
        if not 200 <= response.status < 300:
            verdict = "degraded" if classify(response.status) == "degraded" else "refused"
            detail = f"registration refused: {response.label}"
            return ProbeResult(False, rtt, detail, metrics, verdict)
        expires = granted_expires(response, dialog.contact)
        detail = "registered"
        if expires is not None:
            metrics["expires_s"] = float(expires)
            detail = f"registered for {expires}s"
        if self.params.unregister:
            await self._unregister(dialog, auth, password)
        return ProbeResult(True, rtt, detail, metrics, "healthy")

    async def _authenticated(
        self, dialog: _Dialog, password: str
    ) -> tuple[sip.Exchange, _Auth | None]:
        """Register, answering a challenge and at most one more stale-nonce challenge."""
        auth: _Auth | None = None
        exchange = await dialog.register(self.params.expires, None)
        for _ in range(2):
            response = exchange.response
            if response is None or response.status not in (401, 407):
                break
            picked = pick_challenge(response)
            if picked is None or (auth is not None and not picked[1].stale):
                break  # nothing we can answer, or our answer was rejected: wrong credentials
            auth = _Auth(*picked, self.params.auth_user or self.params.user, dialog.request_uri)
            exchange = await dialog.register(self.params.expires, auth.header(password))
        return exchange, auth

    async def _unregister(self, dialog: _Dialog, auth: _Auth | None, password: str) -> None:
        # Best effort within what is left of the deadline; the check already succeeded.
        exchange = await dialog.register(0, auth.header(password) if auth else None)
        response = exchange.response
        if response is not None and response.status in (401, 407):
            picked = pick_challenge(response)
            if picked is not None:
                username = self.params.auth_user or self.params.user
                fresh = _Auth(*picked, username, dialog.request_uri)
                await dialog.register(0, fresh.header(password))


@dataclass
class _Auth:
    """A challenge being answered; ``nc`` counts our uses of its nonce."""

    answer_header: str
    challenge: DigestChallenge
    username: str
    uri: str
    nc: int = 0

    def header(self, password: str) -> tuple[str, str]:
        self.nc += 1
        value = authorization(
            self.challenge,
            username=self.username,
            password=password,
            method="REGISTER",
            uri=self.uri,
            nc=self.nc,
        )
        return self.answer_header, value
