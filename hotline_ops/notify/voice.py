"""A phone call that reads a short text (TTS) to the recipient, through a pluggable provider.

One provider ships: ``http``, a generic JSON call API (contract in docs/channels.md) such as
the voice-notification products of Chinese carriers and clouds expose behind a small adapter.
A voice call is the channel of last resort at night, so the text is short: who is calling,
what broke, what to do — no links (nobody can click a call).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline_ops.notify import render
from hotline_ops.notify._http import HttpChannel, check_http_url
from hotline_ops.notify.base import Message

TTS_MAX_CHARS = 200


class HttpCallParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["http"]
    url: str
    token_secret: str | None = None
    # How often the text is read in one call; people pick up late at night.
    repeat: int = Field(default=2, ge=1, le=3)
    # The number the callee sees, when the provider lets the caller choose.
    caller_id: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


# One provider today; a second one joins as a discriminated union on ``type`` (see sms.py).
Provider = HttpCallParams


class VoiceChannel(HttpChannel):
    kind = "voice"
    requires = "phone"
    rate_limit = None  # providers limit per called number

    class Params(HttpChannel.Params):
        provider: Provider
        max_chars: int = Field(default=TTS_MAX_CHARS, ge=20, le=TTS_MAX_CHARS)

    params: Params

    def __init__(self, name: str, params: dict[str, Any], secrets=None, **seams: Any):
        super().__init__(name, params, secrets, **seams)
        provider = self.params.provider
        self._token = self._named_secret("provider.token_secret", provider.token_secret)

    def tts(self, message: Message) -> str:
        ctx = render.context(message, lang=self.params.lang, tz=self.params.timezone)
        # The body (deadlines, ids) is for reading, not hearing: the call says what and who.
        ctx["body"] = ""
        name = render.template_name("voice", self.params.lang, "txt")
        return render.render_fitted(name, ctx, self.params.max_chars, render.chars)

    def send(self, message: Message) -> None:
        phone = self._address(message, "phone")
        provider = self.params.provider
        body: dict[str, Any] = {
            "phone": phone,
            "tts": self.tts(message),
            "repeat": provider.repeat,
            "id": message.dedup_key,
        }
        if provider.caller_id:
            body["caller_id"] = provider.caller_id
        self._gateway_call(provider.url, self._token, body, message.dedup_key)
