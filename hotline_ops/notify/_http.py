"""What the HTTP-API channels share: one lazy client, masked transport errors, JSON answers."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pydantic
from pydantic import Field, field_validator

from hotline_ops.clock import Clock, SystemClock
from hotline_ops.errors import ChannelError
from hotline_ops.notify import render
from hotline_ops.notify.base import Channel

# The generic gateway contract's answer codes (docs/channels.md).
GATEWAY_OK = 0
GATEWAY_RATE_LIMITED = 1002
# Statuses that say "try again later" even though they are 4xx.
RETRYABLE_4XX = frozenset({408, 425, 429})
BODY_EXCERPT = 200


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    _ = parts.port  # raises ValueError for a malformed or out-of-range port
    return value


class HttpChannel(Channel):
    """Base for channels that call one HTTP API per send."""

    class Params(Channel.Params):
        timeout_s: float = Field(default=5.0, gt=0)
        lang: str = Field(default="zh-CN", pattern=r"^(zh-CN|en)$")
        # Times in the texts are shown in this zone (stored times are UTC).
        timezone: str = "Asia/Shanghai"

        @field_validator("timezone")
        @classmethod
        def _zone(cls, value: str) -> str:
            return render.check_timezone(value)

    params: Params

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        secrets: dict[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ):
        super().__init__(name, params, secrets)
        self._transport = transport
        self._clock: Clock = clock or SystemClock()
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def warm(self) -> None:
        """Build the client now. The first one imports httpx and loads the trust store, a
        third of a second of one interpreter: under ``serve`` that is paid at start, not by
        the first notification, on a worker thread beside the requests."""
        self._http()

    def _http(self) -> httpx.Client:
        # Lazy, so building channels to validate config opens no connection pools.
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(
                    timeout=self.params.timeout_s, transport=self._transport
                )
            return self._client

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http().request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            # "from None": the httpx exception text carries the unmasked URL (a robot key).
            raise self._transport_error(exc, url) from None

    def _transport_error(self, exc: httpx.HTTPError, url: str) -> ChannelError:
        shown = _without_query(url)
        if isinstance(exc, httpx.TimeoutException):
            text = f"timeout after {self.params.timeout_s}s calling {shown}"
        elif isinstance(exc, httpx.ConnectError):
            text = f"cannot connect to {shown}: {exc}"
        else:
            text = f"{type(exc).__name__} calling {shown}: {exc}"
        # The network may recover; the outbox decides how long to keep trying.
        return ChannelError(self.mask(text), permanent=False)

    def _status_error(self, response: httpx.Response) -> ChannelError:
        status = response.status_code
        # 5xx and the retryable 4xx may pass later; a 3xx or other 4xx needs a config change.
        permanent = status < 500 and status not in RETRYABLE_4XX
        text = f"HTTP {status} from {_without_query(str(response.request.url))}: "
        text += self._excerpt(response.text)
        wait = _retry_after(response)
        return ChannelError(self.mask(text), permanent=permanent, retry_after=wait)

    def _excerpt(self, text: str) -> str:
        # Masked before cutting, so a secret straddling the cut cannot leak a prefix.
        return " ".join(self.mask(text).split())[:BODY_EXCERPT]

    def _json_answer(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of a 2xx answer; anything else is a ChannelError."""
        if not 200 <= response.status_code < 300:
            raise self._status_error(response)
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            text = f"{self.kind} answered non-JSON: {self._excerpt(response.text)}"
            # A proxy's HTML error page, usually: it may pass once the proxy recovers.
            raise ChannelError(self.mask(text), permanent=False)
        return body

    def _gateway_call(
        self, url: str, token: str | None, body: dict[str, Any], dedup_key: str
    ) -> dict[str, Any]:
        """One call under the generic gateway contract that SMS and voice providers share
        (docs/channels.md): JSON in, ``{"code": 0, "message": "ok"}`` out."""
        # Lets the gateway drop a redelivery after a crash: at-least-once + dedup.
        headers = {"Idempotency-Key": header_safe(dedup_key)}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self._request("POST", url, json=body, headers=headers)
        answer = _json_or_none(response)
        if answer is None:
            if response.is_error:
                raise self._status_error(response)
            text = f"{self.kind} gateway answered non-JSON: {self._excerpt(response.text)}"
            raise ChannelError(self.mask(text), permanent=False)
        code = answer.get("code")
        if response.is_success and code == GATEWAY_OK:
            return answer
        text = f"{self.kind} gateway HTTP {response.status_code} code {code}: "
        text += str(answer.get("message", ""))
        if code == GATEWAY_RATE_LIMITED or response.status_code == 429:
            retry = answer.get("retry_after")
            wait = float(retry) if isinstance(retry, int | float) else _retry_after(response)
            raise ChannelError(self.mask(text), permanent=False, retry_after=wait)
        # Only the gateway's own trouble (5xx) may pass by itself; a refused number or text won't.
        raise ChannelError(self.mask(text), permanent=response.status_code < 500)

    def _robot_errcode(
        self,
        answer: dict[str, Any],
        service: str,
        throttled: int,
        wait_s: float,
        transient: frozenset[int],
    ) -> None:
        """A chat robot's ``{"errcode": 0}`` answer (WeCom, DingTalk); anything else raises:
        ``throttled`` waits ``wait_s`` (the robot does not say how long), codes in
        ``transient`` may pass by themselves, the rest need a config or code change."""
        code = answer.get("errcode")
        if code == 0:
            return
        text = self.mask(f"{service} robot errcode {code}: {answer.get('errmsg', '')}")
        if code == throttled:
            raise ChannelError(text, permanent=False, retry_after=wait_s)
        raise ChannelError(text, permanent=code not in transient)


def without_union_tags(exc: pydantic.ValidationError, field: str) -> pydantic.ValidationError:
    """The error with the discriminator tag dropped from ``field``'s locations.

    Pydantic reports ``provider.aliyun.sign_name``; the YAML says ``provider: {type: aliyun,
    sign_name: …}``, so ``provider.sign_name`` is what finds the right line and reads right."""
    errors = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if len(loc) > 2 and loc[0] == field:
            loc = (field, *loc[2:])
        errors.append({**error, "loc": loc})
    return pydantic.ValidationError.from_exception_data(exc.title, errors)  # type: ignore[arg-type]


def _without_query(url: str) -> str:
    # Robot keys and access tokens travel in the query: never show it, masked or not.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def header_safe(value: str) -> str:
    # Header values must be ASCII; quoting is deterministic, so redeliveries still match.
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="")
