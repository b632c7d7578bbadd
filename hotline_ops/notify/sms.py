"""SMS to the recipient's phone through a pluggable provider (also P8.2's timeout warnings).

Providers: ``http`` (a generic JSON gateway, contract in docs/channels.md) and ``aliyun``
(Alibaba Cloud ``SendSms``, RPC style, signature v1). The text is cut to at most
``max_segments`` SMS (70 characters for one, 67 per segment beyond), counting the 【signature】
the carrier prepends. Alibaba sends only approved templates: the channel fills the
template's variables instead, each cut to Alibaba's variable length.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hotline_ops.errors import ChannelError
from hotline_ops.notify import render
from hotline_ops.notify._http import (
    HttpChannel,
    check_http_url,
    without_union_tags,
)
from hotline_ops.notify.base import Message

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
ALIYUN_VERSION = "2017-05-25"
# Fields of render.context() a template variable may take, plus the fitted SMS text.
TEMPLATE_FIELDS = frozenset(
    {"subject", "title", "level_label", "incident_id", "target", "opened_at", "ack_url", "event",
     "text"}
)
# Alibaba's answers that pass with time; the per-number flow control says one minute.
ALIYUN_RATE_LIMITED = "isv.BUSINESS_LIMIT_CONTROL"
ALIYUN_TRANSIENT = frozenset(
    {ALIYUN_RATE_LIMITED, "Throttling", "Throttling.User", "Throttling.Api", "isp.SYSTEM_ERROR",
     "ServiceUnavailable", "InternalError", "SignatureNonceUsed"}
)
ALIYUN_RETRY_S = 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HttpGatewayParams(_Strict):
    type: Literal["http"]
    url: str
    token_secret: str | None = None
    # The 【signature】 the gateway or carrier prepends; it counts against the length.
    sign_name: str = ""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)


class AliyunParams(_Strict):
    type: Literal["aliyun"]
    access_key_id_secret: str
    access_key_secret_secret: str
    sign_name: str = Field(min_length=1)
    template_code: str = Field(min_length=1)
    # Template variable -> context field, e.g. {"title": "title", "level": "level_label"}.
    template_params: dict[str, str] = Field(
        default_factory=lambda: {"level": "level_label", "title": "title", "id": "incident_id"}
    )
    param_max_chars: int = Field(default=35, ge=1)
    endpoint: str = ALIYUN_ENDPOINT
    region_id: str = "cn-hangzhou"

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("template_params")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for var, source in value.items():
            if source not in TEMPLATE_FIELDS:
                known = ", ".join(sorted(TEMPLATE_FIELDS))
                raise ValueError(f"variable '{var}': unknown field '{source}' (known: {known})")
        return value


Provider = Annotated[HttpGatewayParams | AliyunParams, Field(discriminator="type")]


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba's RPC signature wants it (space %20, * %2A, ~ kept)."""
    return quote(value, safe="~")


def aliyun_signature(secret: str, method: str, params: dict[str, str]) -> str:
    """Signature v1: base64(HMAC-SHA1(secret + "&", METHOD&%2F&encoded sorted query))."""
    canonical = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class SmsChannel(HttpChannel):
    kind = "sms"
    requires = "phone"
    rate_limit = None  # providers limit per phone number, not per channel

    class Params(HttpChannel.Params):
        provider: Provider
        max_segments: int = Field(default=3, ge=1, le=3)

    params: Params

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> BaseModel:
        try:
            return super().validate_params(params)
        except ValidationError as exc:
            raise without_union_tags(exc, "provider") from None

    def __init__(self, name: str, params: dict[str, Any], secrets=None, **seams: Any):
        super().__init__(name, params, secrets, **seams)
        provider = self.params.provider
        if isinstance(provider, HttpGatewayParams):
            self._token = self._named_secret("provider.token_secret", provider.token_secret)
        else:
            self._ak_id = self._named_secret(
                "provider.access_key_id_secret", provider.access_key_id_secret
            )
            self._ak_secret = self._named_secret(
                "provider.access_key_secret_secret", provider.access_key_secret_secret
            )

    def text(self, message: Message) -> str:
        """The SMS as the phone shows it (without the signature), within the segment limit."""
        sign = self.params.provider.sign_name
        budget = render.sms_max_chars(self.params.max_segments)
        budget -= len(f"【{sign}】") if sign else 0
        ctx = render.context(message, lang=self.params.lang, tz=self.params.timezone)
        name = render.template_name("sms", self.params.lang, "txt")
        return render.render_fitted(name, ctx, budget, render.chars)

    def send(self, message: Message) -> None:
        phone = self._address(message, "phone")
        provider = self.params.provider
        if isinstance(provider, HttpGatewayParams):
            body = {"phone": phone, "content": self.text(message), "sign": provider.sign_name,
                    "id": message.dedup_key}
            self._gateway_call(provider.url, self._token, body, message.dedup_key)
        else:
            self._send_aliyun(provider, phone, message)

    # --- Alibaba Cloud SendSms -----------------------------------------------------------

    def _aliyun(self) -> AliyunParams:
        provider = self.params.provider
        if not isinstance(provider, AliyunParams):
            raise TypeError(f"channel '{self.name}' does not use the aliyun provider")
        return provider

    def template_param(self, message: Message) -> dict[str, str]:
        provider = self._aliyun()
        ctx = render.context(message, lang=self.params.lang, tz=self.params.timezone)
        ctx["text"] = self.text(message)
        values = {var: ctx[source] for var, source in provider.template_params.items()}
        return {
            var: render.clip("" if v is None else str(v), provider.param_max_chars)
            for var, v in values.items()
        }

    def aliyun_params(self, message: Message, phone: str) -> dict[str, str]:
        """The signed form of one SendSms call (public so the emulator test can check it)."""
        provider = self._aliyun()
        params = {
            "AccessKeyId": self._ak_id or "",
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": message.dedup_key[:64],
            "PhoneNumbers": phone,
            "RegionId": provider.region_id,
            "SignName": provider.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            # Alibaba rejects a reused nonce within 15 minutes: fresh for every attempt.
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": provider.template_code,
            "TemplateParam": json.dumps(
                self.template_param(message), ensure_ascii=False, separators=(",", ":")
            ),
            "Timestamp": self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": ALIYUN_VERSION,
        }
        params["Signature"] = aliyun_signature(self._ak_secret or "", "POST", params)
        return params

    def _send_aliyun(self, provider: AliyunParams, phone: str, message: Message) -> None:
        response = self._request(
            "POST", provider.endpoint, data=self.aliyun_params(message, phone)
        )
        try:
            answer = response.json()
        except ValueError:
            raise self._status_error(response) from None
        if not isinstance(answer, dict) or "Code" not in answer:
            raise self._status_error(response)
        self._check_aliyun(answer)

    def _check_aliyun(self, answer: dict[str, Any]) -> None:
        code = str(answer["Code"])
        if code == "OK":
            return
        text = f"Aliyun SendSms {code}: {answer.get('Message', '')}"
        if code == ALIYUN_RATE_LIMITED:
            raise ChannelError(self.mask(text), permanent=False, retry_after=ALIYUN_RETRY_S)
        # isv.MOBILE_NUMBER_ILLEGAL, isv.DAY_LIMIT_CONTROL, isv.AMOUNT_NOT_ENOUGH, signature,
        # template or key errors: no retry helps; the outbox fails over to the next channel.
        raise ChannelError(self.mask(text), permanent=code not in ALIYUN_TRANSIENT)
