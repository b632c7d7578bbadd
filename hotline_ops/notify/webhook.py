"""POST a notification as JSON to an HTTP(S) endpoint."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import Field, field_validator

from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify._http import HttpChannel, check_http_url, header_safe
from hotline_ops.notify.base import Channel, Message


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
            return check_http_url(value)

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
        url, headers, body = self.request_parts(message)
        response = self._request("POST", url, content=body, headers=headers)
        if not response.is_success:
            raise self._status_error(response)

    def request_parts(self, message: Message) -> tuple[str, dict[str, str], bytes]:
        """(url, headers, body) of the POST that sends ``message``: ``send`` makes it with
        httpx; an alert's first notice makes it on the event loop (services.first_notice)."""
        return self.params.url, self._headers(message), self._encode(message)

    def _encode(self, message: Message) -> bytes:
        try:
            return json.dumps(message.as_dict(), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            # Retrying the same unserialisable payload can never succeed.
            raise ChannelError(self.mask(f"message is not JSON: {exc}"), permanent=True) from None

    def _headers(self, message: Message) -> dict[str, str]:
        headers = {**self.params.headers, "Content-Type": "application/json"}
        # Lets the receiver drop a redelivery after a crash: at-least-once + dedup.
        headers["Idempotency-Key"] = header_safe(message.dedup_key)
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers
