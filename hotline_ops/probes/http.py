"""HTTP(S) probe on a bare asyncio Protocol.

httpx measured at 0.5x of blackbox_exporter on the hot path, so this module speaks just
enough HTTP/1.1 for a health check: one request, ``Connection: close``, and a response body
read by Content-Length, chunked framing, or to EOF, capped in size. The response is
collected by a Protocol and parsed from its buffer (``parse_response``) each time data
arrives, usually once: no StreamReader, no coroutine per line.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import math
import re
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from hotline_ops.errors import ProbeError
from hotline_ops.probes.base import Probe, ProbeResult, TargetError, run_within

USER_AGENT = "hotline-ops/0.1"
MAX_HEADERS = 100
_SECONDS_PER_DAY = 86_400
_BODYLESS_STATUSES = frozenset({204, 304})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? ([0-9]{3})(?:[ \t][^\r\n]*)?\r?\n")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_DIGITS = re.compile(r"[0-9]+")
# Characters left as-is in the request target; anything else (spaces, non-ASCII) is %-encoded.
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%-._~"


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    tls: bool
    request_target: str
    host_header: str


def parse_target(url: str) -> _Target:
    """Split a URL into what the connection and the request line need; ValueError if unusable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"url scheme must be http or https, got '{parts.scheme}'")
    if not parts.hostname:
        raise ValueError("url has no host")
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    port = parts.port or default_port  # .port raises ValueError for a malformed port
    host = parts.hostname.encode("idna").decode("ascii")
    netloc = f"[{host}]" if ":" in host else host
    host_header = netloc if port == default_port else f"{netloc}:{port}"
    path = parts.path or "/"
    path = f"{path}?{parts.query}" if parts.query else path
    return _Target(host, port, tls, quote(path, safe=_TARGET_SAFE), host_header)


@functools.lru_cache(maxsize=32)
def tls_context(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    # Loading the system trust store costs milliseconds; share one context per configuration.
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)  # in addition to the system CAs
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class HttpProbe(Probe):
    """GETs (or ``method``s) ``url``; ok when the status is expected and the body matches."""

    kind: ClassVar[str] = "http"
    params: HttpProbe.Params

    class Params(Probe.Params):
        url: str
        method: str = "GET"
        expect_status: list[int] = Field(default_factory=lambda: [200], min_length=1)
        body_regex: str | None = None
        headers: dict[str, str] = Field(default_factory=dict)
        max_body_bytes: int = Field(default=1_048_576, gt=0)
        ca_file: str | None = None
        tls_verify: bool = True
        tls_warn_days: int | None = None

        @field_validator("url")
        @classmethod
        def _url_is_usable(cls, url: str) -> str:
            parse_target(url)
            return url

        @field_validator("method")
        @classmethod
        def _method_is_token(cls, method: str) -> str:
            if not _TOKEN.fullmatch(method):
                raise ValueError(f"invalid HTTP method '{method}'")
            return method.upper()

        @field_validator("expect_status", mode="before")
        @classmethod
        def _single_status_is_a_list(cls, value: Any) -> Any:
            return [value] if isinstance(value, int) else value

        @field_validator("body_regex")
        @classmethod
        def _regex_compiles(cls, pattern: str | None) -> str | None:
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"body_regex does not compile: {exc}") from exc
            return pattern

        @field_validator("headers")
        @classmethod
        def _headers_are_safe(cls, headers: dict[str, str]) -> dict[str, str]:
            return safe_headers(headers)

        @model_validator(mode="after")
        def _tls_options_need_https(self) -> HttpProbe.Params:
            # A TLS option on a plain-http URL can never take effect, so it is a config mistake.
            https = self.url.lower().startswith("https:")
            if not https and (self.ca_file is not None or self.tls_warn_days is not None):
                raise ValueError("ca_file and tls_warn_days need an https url")
            return self

    def __init__(
        self, params: dict[str, Any], *, wall_clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(params)
        self._wall_clock = wall_clock
        self._target = parse_target(self.params.url)
        self._request = self._build_request()
        self._regex = re.compile(self.params.body_regex) if self.params.body_regex else None
        self._ssl = self._build_tls_context() if self._target.tls else None

    def _build_request(self) -> bytes:
        return request_bytes(self.params.method, self._target, self.params.headers)

    def _build_tls_context(self) -> ssl.SSLContext:
        try:
            return tls_context(self.params.ca_file, self.params.tls_verify)
        except (OSError, ssl.SSLError) as exc:
            raise ProbeError(f"cannot load ca_file '{self.params.ca_file}': {exc}") from exc

    async def check(self, timeout: float) -> ProbeResult:
        return await run_within(timeout, self._attempt())

    def attempt(self) -> Coroutine[Any, Any, ProbeResult]:
        return self._attempt()

    async def _attempt(self) -> ProbeResult:
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        head_only = self.params.method == "HEAD"
        transport, _ = await loop.create_connection(
            lambda: _Exchange(self._request, done, head_only, self.params.max_body_bytes),
            self._target.host,
            self._target.port,
            ssl=self._ssl,
        )
        try:
            status, body = await done
            latency = time.perf_counter() - start
            peercert = transport.get_extra_info("peercert")
        except BaseException:
            transport.abort()  # a misbehaving peer gets no chance to stall the close
            raise
        transport.close()  # not awaited: the response is complete and the deadline is not ours
        return self._judge(status, body, latency, peercert)

    def _judge(
        self, status: int, body: bytes, latency: float, peercert: dict[str, Any] | None
    ) -> ProbeResult:
        metrics = {"http_status": float(status)}
        days_left = self._tls_days_left(peercert)
        if days_left is not None:
            metrics["tls_days_left"] = days_left
        problem = self._problem(status, body, days_left)
        detail = problem or f"HTTP {status}"
        return ProbeResult(ok=problem is None, latency_s=latency, detail=detail, metrics=metrics)

    def _problem(self, status: int, body: bytes, days_left: float | None) -> str | None:
        if status not in self.params.expect_status:
            return f"HTTP {status}"
        if self._regex and not self._regex.search(body.decode("utf-8", errors="replace")):
            return f"body did not match '{self._regex.pattern}'"
        warn_days = self.params.tls_warn_days
        if warn_days is not None and days_left is not None and days_left < warn_days:
            return _expiry_detail(days_left)
        return None

    def _tls_days_left(self, peercert: dict[str, Any] | None) -> float | None:
        # Without verification the peer certificate is not decoded (empty dict): no metric.
        if not peercert or "notAfter" not in peercert:
            return None
        not_after = ssl.cert_time_to_seconds(peercert["notAfter"])
        return (not_after - self._wall_clock()) / _SECONDS_PER_DAY


def safe_headers(headers: dict[str, str]) -> dict[str, str]:
    """A params validator: every header name and value can go on the wire as given."""
    for name, value in headers.items():
        _check_header(name, value)
    return headers


def _check_header(name: str, value: str) -> None:
    # CR/LF in a header would let a config value inject extra headers or a second request.
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name '{name}'")
    if any(char in value for char in "\r\n\0"):
        raise ValueError(f"header '{name}' contains a line break or NUL")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(f"header '{name}' is not latin-1 text") from exc


def _expiry_detail(days_left: float) -> str:
    if days_left <= 0:
        return "TLS certificate has expired"
    days = math.floor(days_left)
    return f"TLS certificate expires in {days} day{'' if days == 1 else 's'}"


def request_bytes(
    method: str,
    target: _Target,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    keep_alive: bool = False,
) -> bytes:
    """The request: Host, User-Agent and Accept unless ``headers`` give them, and
    ``Connection: close`` unless ``keep_alive`` (a probe makes one request per connection:
    it measures the connect too); with a body, its Content-Length."""
    defaults = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "*/*"}
    given = {name.lower() for name in headers}
    merged = {k: v for k, v in defaults.items() if k.lower() not in given}
    ours = {"connection"} if body is None else {"connection", "content-length"}
    merged.update((k, v) for k, v in headers.items() if k.lower() not in ours)
    if not keep_alive:  # HTTP/1.1 keeps the connection open unless told otherwise
        merged["Connection"] = "close"
    if body is not None:
        merged["Content-Length"] = str(len(body))
    lines = [f"{method} {target.request_target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class Buffering(asyncio.Protocol, metaclass=abc.ABCMeta):
    """Buffers what arrives and hands it to ``_settle`` each time (also at EOF)."""

    buffer: bytearray

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._settle(eof=False)

    def eof_received(self) -> bool:
        self._settle(eof=True)
        return False  # close our side as well

    @abc.abstractmethod
    def _settle(self, *, eof: bool) -> None:
        """Look at the buffer: resolve the request once its answer is complete."""


class _Exchange(Buffering):
    """Sends the request on connect, buffers the response, resolves ``done`` with
    (status, body) as soon as ``parse_response`` finds it complete (or with its error)."""

    def __init__(self, request: bytes, done: asyncio.Future, head_only: bool, cap: int) -> None:
        self.request, self.done, self.head_only, self.cap = request, done, head_only, cap
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and not self.done.done():
            self.done.set_exception(exc)
        self._settle(eof=True)

    def _settle(self, *, eof: bool) -> None:
        if self.done.done():
            return
        try:
            response = parse_response(bytes(self.buffer), self.head_only, self.cap, eof=eof)
        except (TargetError, EOFError) as exc:
            self.done.set_exception(exc)
            return
        if response is not None:
            self.done.set_result(response)


class _Incomplete(Exception):
    """More bytes are needed (raised inside the parser, never outside it)."""


def parse_response(
    data: bytes, head_only: bool, cap: int, *, eof: bool
) -> tuple[int, bytes] | None:
    """(status, body) of the HTTP/1.x response in ``data``; None while it is incomplete.

    ``eof``: no more bytes will come, so an incomplete response is an error. Raises
    TargetError for what is not HTTP and EOFError for a response cut short.
    """
    parsed = parse_kept(data, head_only, cap, eof=eof)
    return None if parsed is None else parsed[:2]


def parse_kept(
    data: bytes, head_only: bool, cap: int, *, eof: bool
) -> tuple[int, bytes, bool] | None:
    """``parse_response`` and whether the connection can carry another request: an
    HTTP/1.1 answer not saying ``Connection: close``, framed by its length (not by EOF, not
    chunked: its trailers are not read), read whole and with nothing after it."""
    reader = _Buffer(data, eof)
    try:
        status, headers = _read_head(reader)
        if head_only or status in _BODYLESS_STATUSES:
            body, framed = b"", True
        else:
            body = _read_body(reader, headers, cap)
            framed = _length_framed(headers, cap)
    except _Incomplete:
        return None
    reusable = (
        framed
        and data.startswith(b"HTTP/1.1 ")
        and "close" not in headers.get("connection", "").lower()
        and reader.pos == len(data)
    )
    return status, body, reusable


def _length_framed(headers: dict[str, str], cap: int) -> bool:
    """The body ended where its Content-Length said, within ``cap`` (read whole)."""
    if "transfer-encoding" in headers or "content-length" not in headers:
        return False
    return _parse_length(headers["content-length"]) <= cap


class _Buffer:
    """Line and byte reads over a complete-so-far buffer; raises _Incomplete for more,
    or, after EOF, does what StreamReader does (short line; IncompleteReadError)."""

    def __init__(self, data: bytes, eof: bool) -> None:
        self.data, self.eof, self.pos = data, eof, 0

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.pos, self.pos + _LINE_LIMIT + 1)
        if end < 0:
            if len(self.data) - self.pos > _LINE_LIMIT:
                raise TargetError("response line too long")
            if not self.eof:
                raise _Incomplete
            end = len(self.data) - 1  # the rest, however short: a line cut by EOF
        line, self.pos = self.data[self.pos : end + 1], end + 1
        return line

    def readexactly(self, size: int) -> bytes:
        if len(self.data) - self.pos < size:
            if not self.eof:
                raise _Incomplete
            raise asyncio.IncompleteReadError(self.data[self.pos :], size)
        chunk, self.pos = self.data[self.pos : self.pos + size], self.pos + size
        return chunk

    def read_to_eof(self, cap: int) -> bytes:
        if len(self.data) - self.pos < cap and not self.eof:
            raise _Incomplete
        return self.data[self.pos : self.pos + cap]


_LINE_LIMIT = 65_536  # as StreamReader's default limit


def _read_head(reader: _Buffer) -> tuple[int, dict[str, str]]:
    while True:
        status = _parse_status_line(reader.readline())
        headers = _read_headers(reader)
        # 1xx responses (e.g. 103 Early Hints) precede the real one.
        if not 100 <= status < 200:
            return status, headers


def _parse_status_line(line: bytes) -> int:
    if not line:
        raise TargetError("connection closed before a response")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise TargetError(f"malformed status line {line[:60]!r}")
    return int(match.group(1))


def _read_headers(reader: _Buffer) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS):
        line = reader.readline()
        if line in (b"\r\n", b"\n"):
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise TargetError("malformed response header")
        key, value = name.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise TargetError(f"more than {MAX_HEADERS} response headers")


def _read_body(reader: _Buffer, headers: dict[str, str], cap: int) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(reader, cap)
    length = headers.get("content-length")
    if length is not None:
        return reader.readexactly(min(_parse_length(length), cap))
    return reader.read_to_eof(cap)


def _parse_length(value: str) -> int:
    if not _DIGITS.fullmatch(value):
        raise TargetError(f"malformed Content-Length '{value[:30]}'")
    return int(value)


def _read_chunked(reader: _Buffer, cap: int) -> bytes:
    body = bytearray()
    while len(body) < cap:
        size = _parse_chunk_size(reader.readline())
        if size == 0:
            break  # trailers are not needed: the connection is closed next anyway
        wanted = min(size, cap - len(body))
        body += reader.readexactly(wanted)
        if wanted < size:
            break  # capped: the rest of the body is never read
        reader.readexactly(2)  # CRLF after each chunk
    return bytes(body)


def _parse_chunk_size(line: bytes) -> int:
    if not line:
        raise TargetError("connection closed mid-response")
    size = line.split(b";", 1)[0].strip()
    if not _HEX.fullmatch(size):
        raise TargetError(f"malformed chunk size {size[:20]!r}")
    return int(size, 16)
