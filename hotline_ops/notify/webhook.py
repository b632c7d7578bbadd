"""POST a notification as JSON to an HTTP(S) endpoint."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, field_validator

from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify._http import HttpChannel
from hotline_ops.notify.base import Channel, Message

# Statuses that say "try again later" even though they are 4xx.
_RETRYABLE_4XX = frozenset({408, 425, 429})
_BODY_EXCERPT = 200


class WebhookChannel(HttpChannel):
    kind = "webhook"

    class Params(Channel.Params):
        url: str
        timeout_s: float = Field(default=5.0, gt=0)
        headers: dict[str, str] = Field(default_factory=dict)
        token_secret: str | None = None

        @field_validator("url")
        @classmethod
        def _http_url(cls, value: str) -> str:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL with a host")
            _ = parts.port  # raises ValueError for a malformed or out-of-range port
            return value

        @field_validator("headers")
        @classmethod
        def _ascii_headers(cls, value: dict[str, str]) -> dict[str, str]:
            # Caught here so a bad header is a config error, not a failure on every send.
            for key, item in value.items():
                if not (key + item).isascii() or any(c in key + item for c in "\r\n"):
                    raise ValueError(f"header '{key}' must be single-line ASCII")
            return value

    params: Params

    def __init__(
        self,
        name: str,
        params: dict[str, Any],
        secrets: dict[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(name, params, secrets, transport=transport)
        self._token = self._resolve_token()

    def _resolve_token(self) -> str | None:
        secret_name = self.params.token_secret
        if secret_name is None:
            return None
        token = self._secrets.get(secret_name)
        if not token:
            raise ConfigError(
                f"channel '{self.name}': token_secret '{secret_name}' is not a defined secret"
            )
        if not token.isascii():
            raise ConfigError(f"channel '{self.name}': secret '{secret_name}' must be ASCII")
        return token

    def send(self, message: Message) -> None:
        body = self._encode(message)
        try:
            response = self._http().post(
                self.params.url, content=body, headers=self._headers(message)
            )
        except httpx.HTTPError as exc:
            # "from None": the httpx exception text carries the unmasked URL.
            raise self._transport_error(exc) from None
        self._check(response)

    def _encode(self, message: Message) -> bytes:
        try:
            return json.dumps(message.as_dict(), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            # Retrying the same unserialisable payload can never succeed.
            raise ChannelError(self.mask(f"message is not JSON: {exc}"), permanent=True) from None

    def _headers(self, message: Message) -> dict[str, str]:
        headers = {**self.params.headers, "Content-Type": "application/json"}
        # Lets the receiver drop a redelivery after a crash: at-least-once + dedup.
        headers["Idempotency-Key"] = _header_safe(message.dedup_key)
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _transport_error(self, exc: httpx.HTTPError) -> ChannelError:
        url = self.params.url
        if isinstance(exc, httpx.TimeoutException):
            text = f"timeout after {self.params.timeout_s}s posting to {url}"
        elif isinstance(exc, httpx.ConnectError):
            text = f"cannot connect to {url}: {exc}"
        else:
            text = f"{type(exc).__name__} posting to {url}: {exc}"
        # The network may recover; the outbox decides how long to keep trying.
        return ChannelError(self.mask(text), permanent=False)

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        # 5xx and the retryable 4xx may pass later; a 3xx or other 4xx needs a config change.
        permanent = status < 500 and status not in _RETRYABLE_4XX
        # Collapsed to one line: errors are printed and stored as single lines.
        # Masked before cutting, so a secret straddling the cut cannot leak a prefix.
        excerpt = " ".join(self.mask(response.text).split())[:_BODY_EXCERPT]
        text = f"HTTP {status} from {self.params.url}: {excerpt}"
        raise ChannelError(self.mask(text), permanent=permanent)


def _header_safe(value: str) -> str:
    # Header values must be ASCII; quoting is deterministic, so redeliveries still match.
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="")
