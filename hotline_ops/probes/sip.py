"""SIP plumbing shared by the SIP probes: messages, and client transactions over UDP and TCP.

UDP: every transaction from one source address (``source_ip``/``source_port``, or the OS's
choice) in one event loop goes through ONE unconnected, shared socket, so 1 000 trunks probed
every 10 s cost one file descriptor, not 1 000. Replies are dispatched by the top Via branch
(64 random bits, new per transaction) and must also match the Call-ID and CSeq, so a late reply
to an earlier probe is never taken as the answer. The socket is opened by the first
transaction that needs it and closed when the last one in flight ends.

A connected UDP socket would learn about ICMP port unreachable for free, a shared one does
not; on Linux the shared socket sets ``IP_RECVERR``/``IPV6_RECVERR``, reads each ICMP error
from the socket's error queue and fails the transaction whose request it quotes (by branch,
else by destination). Elsewhere an unreachable UDP target is reported when its deadline runs
out. Such a report also shows up as a one-off ECONNREFUSED on the next send of any other
transaction; the sender then drains the queue and sends again.

Timer E (RFC 3261 17.1.2.2): sends at 0, 0.5, 1.5, 3.5 s (T1 doubling, capped at T2), and
every T2 once a provisional response has arrived, until the caller's deadline (no Timer F).

TCP: one connection per channel, requests sent once, replies framed by Content-Length.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import secrets
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Literal, Protocol

from hotline_ops.probes.base import describe_error

T1 = 0.5
T2 = 4.0
MAX_HEAD_BYTES = 16_384
MAX_BODY_BYTES = 65_536
_RCVBUF_BYTES = 1 << 20
_ERRQUEUE_PAYLOAD = 2048
# Linux <linux/errqueue.h>, <linux/in.h>, <linux/in6.h>; Python exposes not all of them.
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_SO_EE_ORIGIN_ICMP = 2
_SO_EE_ORIGIN_ICMP6 = 3
_RECVERR_SUPPORTED = sys.platform.startswith("linux")

MALFORMED = "malformed SIP reply"

# RFC 3261 7.3.3 and later RFCs' compact header names.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

_STATUS_LINE = re.compile(r"SIP/2\.0[ \t]+([1-6][0-9]{2})(?:[ \t]+(.*))?", re.IGNORECASE)
_REQUEST_LINE = re.compile(r"[A-Za-z]+[ \t]+\S+[ \t]+SIP/2\.0", re.IGNORECASE)
_CSEQ = re.compile(r"\s*([0-9]{1,10})\s+([A-Za-z]+)\s*")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_LINE_BREAK = re.compile(r"\r?\n")
_BRANCH_IN_REQUEST = re.compile(rb"branch=(z9hG4bK[^;,\s]+)")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


class SipParseError(ValueError):
    """Bytes that are not a SIP message this module can use."""


@dataclass(frozen=True)
class SipResponse:
    """A parsed response; header names are lower-case full forms, in arrival order."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    @property
    def label(self) -> str:
        """``404 Not Found``: the status and the (sanitised) reason phrase."""
        return f"{self.status} {self.reason}".rstrip()

    @property
    def branch(self) -> str | None:
        return via_params(self.values("via")[0]).get("branch")

    @property
    def call_id(self) -> str:
        return self.values("call-id")[0]

    @property
    def cseq(self) -> tuple[int, str]:
        match = _CSEQ.fullmatch(self.values("cseq")[0])
        assert match is not None  # checked by parse_message
        return int(match.group(1)), match.group(2).upper()


def via_params(via: str) -> dict[str, str]:
    """Parameters of the first Via value (``rport`` without a value maps to "")."""
    first = via.split(",", 1)[0]
    params: dict[str, str] = {}
    for part in first.split(";")[1:]:
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip()
    return params


def parse_message(data: bytes) -> SipResponse | None:
    """A response, or None for a request or a CRLF keep-alive; SipParseError if malformed."""
    data = data.lstrip(b"\r\n")
    if not data:
        return None
    match = _BLANK_LINE.search(data)
    head, body = (data[: match.start()], data[match.end() :]) if match else (data, b"")
    start, headers = _parse_head(head)
    if start is None:
        return None
    length = _content_length(headers)
    return _response(start, headers, body if length is None else body[:length])


def _parse_head(head: bytes) -> tuple[re.Match[str] | None, list[tuple[str, str]]]:
    lines = _LINE_BREAK.split(head.decode("utf-8", errors="replace"))
    start = _STATUS_LINE.fullmatch(lines[0].strip())
    if start is None:
        if _REQUEST_LINE.fullmatch(lines[0].strip()):
            return None, []
        raise SipParseError("not a SIP status line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if headers:  # a folded continuation of the previous header
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            continue  # a broken header line is skipped, not fatal
        headers.append((COMPACT_FORMS.get(name, name), value.strip()))
    return start, headers


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name == "content-length":
            if not value.isdigit():
                raise SipParseError("malformed Content-Length")
            return int(value)
    return None


def _response(start: re.Match[str], headers: list[tuple[str, str]], body: bytes) -> SipResponse:
    names = {name for name, _ in headers}
    missing = [h for h in ("via", "call-id", "cseq") if h not in names]
    if missing:
        raise SipParseError(f"reply without {', '.join(missing)}")
    if _CSEQ.fullmatch(next(v for n, v in headers if n == "cseq")) is None:
        raise SipParseError("malformed CSeq")
    reason = _UNPRINTABLE.sub("", start.group(2) or "").strip()[:80]
    return SipResponse(int(start.group(1)), reason, tuple(headers), body)


async def read_message(reader: asyncio.StreamReader) -> SipResponse | None:
    """Read one framed message from a stream: EOFError at the end, SipParseError if broken."""
    lines: list[bytes] = []
    size = 0
    while True:
        try:
            line = await reader.readline()
        except ValueError as exc:  # longer than the stream's buffer limit
            raise SipParseError("SIP header line too long") from exc
        if not line.endswith(b"\n"):
            raise EOFError("connection closed before a SIP reply")
        if line in (b"\r\n", b"\n"):
            if lines:
                break
            continue  # CRLF keep-alives between messages
        lines.append(line)
        size += len(line)
        if size > MAX_HEAD_BYTES:
            raise SipParseError("SIP header too large")
    head = b"".join(lines)
    start, headers = _parse_head(head)
    length = _content_length(headers) if start is not None else None
    if length is None and start is None:
        length = _request_length(head)
    if (length or 0) > MAX_BODY_BYTES:
        raise SipParseError("SIP body too large")
    body = await reader.readexactly(length or 0)
    return None if start is None else _response(start, headers, body)


def _request_length(head: bytes) -> int:
    # A request from the peer is skipped, but its body must still be consumed to stay framed.
    match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*([0-9]+)", head)
    return int(match.group(1)) if match else 0


def format_request(method: str, uri: str, headers: list[tuple[str, str]]) -> bytes:
    """A request without a body; ``Content-Length: 0`` is appended."""
    lines = [f"{method} {uri} SIP/2.0", *(f"{name}: {value}" for name, value in headers)]
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("utf-8")


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(10)}@{host}"


def uri_host(host: str) -> str:
    """``host`` as it goes into a SIP URI or Via: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True)
class Local:
    """Our side of a channel, as requests must advertise it in Via and Contact."""

    transport: Literal["UDP", "TCP"]
    ip: str
    port: int

    @property
    def host(self) -> str:
        return uri_host(self.ip)

    def via(self, branch: str) -> str:
        # rport (RFC 3581): answer to the address the request came from, NAT or not.
        return f"SIP/2.0/{self.transport} {self.host}:{self.port};rport;branch={branch}"

    def contact_uri(self, user: str) -> str:
        suffix = ";transport=tcp" if self.transport == "TCP" else ""
        return f"sip:{user}@{self.host}:{self.port}{suffix}"


@dataclass(frozen=True)
class Peer:
    host: str
    port: int
    transport: Literal["udp", "tcp"] = "udp"
    source_ip: str | None = None
    source_port: int | None = None


@dataclass(frozen=True)
class Exchange:
    """What one client transaction got: a final response, or why there is none.

    ``error`` is None for a plain timeout; ``rtt_s`` runs from the first send.
    """

    response: SipResponse | None
    rtt_s: float | None
    retransmits: int
    error: str | None = None


Render = Callable[[Local, str], bytes]  # (our side, Via branch) -> request bytes


class Channel(Protocol):
    local: Local

    async def transact(
        self, method: str, call_id: str, cseq: int, render: Render, deadline: float
    ) -> Exchange: ...


@asynccontextmanager
async def open_channel(peer: Peer, deadline: float) -> AsyncIterator[Channel]:
    """A channel to ``peer``; OSError (incl. TimeoutError with a reason) if it cannot open.

    ``deadline`` is in ``loop.time()`` terms and bounds name resolution and TCP connect.
    """
    family, addr = await _resolve(peer, deadline)
    if peer.transport == "tcp":
        async with _tcp_channel(peer, family, addr, deadline) as tcp:
            yield tcp
        return
    local_ip = peer.source_ip or _route_source(family, addr)
    async with _lease(family, peer.source_ip, peer.source_port) as endpoint:
        yield _UdpChannel(endpoint, addr, Local("UDP", local_ip, endpoint.port))


async def _resolve(peer: Peer, deadline: float) -> tuple[socket.AddressFamily, tuple]:
    family = socket.AF_UNSPEC
    if peer.source_ip is not None:
        version = ipaddress.ip_address(peer.source_ip).version
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
    try:
        literal = ipaddress.ip_address(peer.host.strip("[]"))
    except ValueError:
        pass
    else:
        found = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        if family not in (socket.AF_UNSPEC, found):
            raise OSError(errno.EAFNOSUPPORT, "source_ip and host are different IP versions")
        return found, _sockaddr(found, str(literal), peer.port)
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_STREAM if peer.transport == "tcp" else socket.SOCK_DGRAM
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(peer.host, peer.port, family=family, type=kind)
    except TimeoutError:
        raise TimeoutError("DNS lookup timed out") from None
    found, _, _, _, addr = infos[0]
    return found, addr


def _sockaddr(family: socket.AddressFamily, ip: str, port: int) -> tuple:
    return (ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port)


def _route_source(family: socket.AddressFamily, addr: tuple) -> str:
    # Connecting a UDP socket sends nothing; it only asks the routing table for our address.
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(addr)
        return str(probe.getsockname()[0])


# --- UDP: one shared socket per (loop, family, source address) -------------------------------


@dataclass
class _Transaction:
    branch: str
    call_id: str
    cseq: tuple[int, str]
    addr: tuple
    outcome: asyncio.Future[SipResponse | str]
    received_at: float = 0.0
    provisional: bool = False

    def deliver(self, response: SipResponse) -> None:
        if self.outcome.done():
            return
        if response.status < 200:
            self.provisional = True
        else:
            self.received_at = time.perf_counter()
            self.outcome.set_result(response)

    def fail(self, reason: str) -> None:
        if not self.outcome.done():
            self.received_at = time.perf_counter()
            self.outcome.set_result(reason)


_EndpointKey = tuple[asyncio.AbstractEventLoop, int, str, int]
_endpoints: dict[_EndpointKey, _UdpEndpoint] = {}
_opened_total = 0


def udp_sockets_opened() -> int:
    """How many shared UDP sockets this process has opened so far (for tests and metrics)."""
    return _opened_total


def open_udp_sockets() -> list[tuple[str, int]]:
    """Local (ip, port) of the shared UDP sockets open in the running event loop."""
    loop = asyncio.get_running_loop()
    return [ep.sockname for key, ep in _endpoints.items() if key[0] is loop and ep.port]


class _UdpEndpoint(asyncio.DatagramProtocol):
    def __init__(self, family: socket.AddressFamily, bind: tuple) -> None:
        self.family = family
        self.bind = bind
        self.transactions: dict[str, _Transaction] = {}
        self.users = 0
        self.port = 0
        self.sockname: tuple[str, int] = ("", 0)
        self.recverr = False
        self.sock: socket.socket | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.opening: asyncio.Task[None] | None = None

    async def open(self) -> None:
        global _opened_total
        sock = socket.socket(self.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if self.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            with suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF_BYTES)
            self.recverr = _enable_recverr(sock, self.family)
            sock.bind(self.bind)
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.transport = transport
        self.sock = sock
        self.sockname = tuple(sock.getsockname()[:2])  # type: ignore[assignment]
        self.port = self.sockname[1]
        _opened_total += 1

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        elif self.opening is not None:
            if self.opening.done():
                if not self.opening.cancelled():
                    self.opening.exception()  # already reported to the users; mark it seen
            else:
                self.opening.cancel()

    def send(self, data: bytes, addr: tuple) -> OSError | None:
        """Send one datagram; the error if it failed for this destination."""
        assert self.sock is not None
        for attempt in (1, 2):
            try:
                self.sock.sendto(data, addr)
                return None
            except (BlockingIOError, InterruptedError):
                return None  # a full buffer is a lost datagram: Timer E sends it again
            except OSError as exc:
                if attempt == 2 or not self.recverr:
                    return exc
                # Probably another destination's ICMP error, reported on this call: drain the
                # queue (failing that transaction) and try once more.
                self.drain_errors()
        return None  # pragma: no cover - the loop always returns

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            response = parse_message(data)
        except SipParseError:
            return  # garbage on a shared socket is dropped; Timer E keeps the probe going
        if response is None:
            return  # a request or keep-alive from someone: a probe does not serve
        txn = self.transactions.get(response.branch or "")
        if txn is not None and txn.call_id == response.call_id and txn.cseq == response.cseq:
            txn.deliver(response)

    def error_received(self, exc: Exception) -> None:
        if self.recverr:
            self.drain_errors()

    def drain_errors(self) -> None:
        assert self.sock is not None
        while True:
            try:
                payload, ancdata, _, addr = self.sock.recvmsg(
                    _ERRQUEUE_PAYLOAD, 512, socket.MSG_ERRQUEUE
                )
            except OSError:  # BlockingIOError: the queue is empty
                return
            reason = _icmp_reason(ancdata)
            if reason is not None:
                self._fail(payload, addr, reason)

    def _fail(self, payload: bytes, addr: tuple | None, reason: str) -> None:
        # The queued error quotes our datagram, so its branch names the transaction.
        match = _BRANCH_IN_REQUEST.search(payload)
        if match is not None:
            txn = self.transactions.get(match.group(1).decode("ascii", "replace"))
            if txn is not None:
                txn.fail(reason)
            return
        for txn in list(self.transactions.values()):
            if addr is not None and txn.addr[:2] == tuple(addr[:2]):
                txn.fail(reason)


def _enable_recverr(sock: socket.socket, family: socket.AddressFamily) -> bool:
    if not _RECVERR_SUPPORTED:
        return False
    level, option = (
        (socket.IPPROTO_IPV6, _IPV6_RECVERR)
        if family == socket.AF_INET6
        else (socket.IPPROTO_IP, _IP_RECVERR)
    )
    try:
        sock.setsockopt(level, option, 1)
    except OSError:
        return False
    return True


_ICMP4_UNREACHABLE = {
    0: "ICMP network unreachable",
    1: "ICMP host unreachable",
    3: "ICMP port unreachable",
    9: "ICMP administratively prohibited",
    10: "ICMP administratively prohibited",
    13: "ICMP administratively prohibited",
}
_ICMP6_UNREACHABLE = {
    0: "ICMP no route to destination",
    1: "ICMP administratively prohibited",
    3: "ICMP address unreachable",
    4: "ICMP port unreachable",
}


def _icmp_reason(ancdata: list[tuple[int, int, bytes]]) -> str | None:
    """What an error-queue entry means for a probe; None for what is not a failure (PMTU)."""
    for level, kind, data in ancdata:
        if (level, kind) not in (
            (socket.IPPROTO_IP, _IP_RECVERR),
            (socket.IPPROTO_IPV6, _IPV6_RECVERR),
        ) or len(data) < 8:
            continue
        _, origin, icmp_type, code = struct.unpack_from("=IBBB", data)
        if origin == _SO_EE_ORIGIN_ICMP:
            if icmp_type == 3 and code != 4:  # code 4: fragmentation needed, not a failure
                return _ICMP4_UNREACHABLE.get(code, f"ICMP destination unreachable (code {code})")
            if icmp_type == 11:
                return "ICMP time exceeded"
        elif origin == _SO_EE_ORIGIN_ICMP6:
            if icmp_type == 1:
                return _ICMP6_UNREACHABLE.get(code, f"ICMP destination unreachable (code {code})")
            if icmp_type == 3:
                return "ICMP time exceeded"
    return None


@asynccontextmanager
async def _lease(
    family: socket.AddressFamily, source_ip: str | None, source_port: int | None
) -> AsyncIterator[_UdpEndpoint]:
    loop = asyncio.get_running_loop()
    key = (loop, int(family), source_ip or "", source_port or 0)
    endpoint = _endpoints.get(key)
    if endpoint is None:
        wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
        bind = _sockaddr(family, source_ip or wildcard, source_port or 0)
        endpoint = _endpoints[key] = _UdpEndpoint(family, bind)
        endpoint.opening = loop.create_task(endpoint.open())
    endpoint.users += 1
    try:
        assert endpoint.opening is not None
        await asyncio.shield(endpoint.opening)  # one user's cancellation must not undo it
        yield endpoint
    finally:
        endpoint.users -= 1
        if endpoint.users == 0:
            if _endpoints.get(key) is endpoint:
                del _endpoints[key]
            endpoint.close()


class _UdpChannel:
    def __init__(self, endpoint: _UdpEndpoint, addr: tuple, local: Local) -> None:
        self.endpoint = endpoint
        self.addr = addr
        self.local = local

    async def transact(
        self, method: str, call_id: str, cseq: int, render: Render, deadline: float
    ) -> Exchange:
        loop = asyncio.get_running_loop()
        branch = new_branch()
        data = render(self.local, branch)
        txn = _Transaction(branch, call_id, (cseq, method.upper()), self.addr, loop.create_future())
        self.endpoint.transactions[branch] = txn
        try:
            return await self._run(txn, data, deadline)
        finally:
            del self.endpoint.transactions[branch]

    async def _run(self, txn: _Transaction, data: bytes, deadline: float) -> Exchange:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        error = self.endpoint.send(data, self.addr)
        if error is not None:
            return Exchange(None, None, 0, describe_error(error))
        retransmits = 0
        interval = T1
        fire_at = loop.time() + T1
        while not txn.outcome.done():
            now = loop.time()
            if now >= deadline:
                return Exchange(None, None, retransmits)
            await asyncio.wait([txn.outcome], timeout=min(fire_at, deadline) - now)
            if txn.outcome.done() or loop.time() < fire_at or fire_at >= deadline:
                continue
            error = self.endpoint.send(data, self.addr)
            if error is not None:
                return Exchange(None, None, retransmits, describe_error(error))
            retransmits += 1
            interval = T2 if txn.provisional else min(2 * interval, T2)
            fire_at += interval
        outcome = txn.outcome.result()
        if isinstance(outcome, str):
            return Exchange(None, None, retransmits, outcome)
        return Exchange(outcome, txn.received_at - started, retransmits)


# --- TCP: one connection per channel ---------------------------------------------------------


@asynccontextmanager
async def _tcp_channel(
    peer: Peer, family: socket.AddressFamily, addr: tuple, deadline: float
) -> AsyncIterator[_TcpChannel]:
    local_addr = (peer.source_ip, peer.source_port or 0) if peer.source_ip else None
    try:
        async with asyncio.timeout_at(deadline):
            reader, writer = await asyncio.open_connection(
                addr[0], addr[1], family=family, local_addr=local_addr, limit=MAX_HEAD_BYTES
            )
    except TimeoutError:
        raise TimeoutError("TCP connect timed out") from None
    try:
        ip, port = writer.get_extra_info("sockname")[:2]
        yield _TcpChannel(reader, writer, Local("TCP", ip, port))
    finally:
        writer.transport.abort()  # no graceful close to wait for: the probe is done


@dataclass
class _TcpChannel:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    local: Local

    async def transact(
        self, method: str, call_id: str, cseq: int, render: Render, deadline: float
    ) -> Exchange:
        branch = new_branch()
        started = time.perf_counter()
        try:
            async with asyncio.timeout_at(deadline):
                self.writer.write(render(self.local, branch))
                await self.writer.drain()
                response = await self._final_response(branch, call_id, (cseq, method.upper()))
        except TimeoutError:
            return Exchange(None, None, 0)
        except SipParseError:
            return Exchange(None, None, 0, MALFORMED)
        except (EOFError, ConnectionError):
            return Exchange(None, None, 0, "connection closed before a SIP reply")
        return Exchange(response, time.perf_counter() - started, 0)

    async def _final_response(
        self, branch: str, call_id: str, cseq: tuple[int, str]
    ) -> SipResponse:
        while True:
            response = await read_message(self.reader)
            if response is None or response.status < 200:
                continue
            if (response.branch, response.call_id, response.cseq) == (branch, call_id, cseq):
                return response
