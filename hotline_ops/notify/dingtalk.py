"""DingTalk (钉钉) custom group robot: ``POST /robot/send?access_token=T&timestamp=MS&sign=S``.

With the robot's "加签" security setting, S = urlencode(base64(HMAC-SHA256(secret,
f"{MS}\\n{secret}"))); DingTalk refuses a timestamp more than an hour away from its clock.
A mention needs both ``at.atMobiles`` and the ``@phone`` in the text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote_plus

from pydantic import field_validator

from hotline_ops.notify import render
from hotline_ops.notify._http import HttpChannel, check_http_url
from hotline_ops.notify.base import Message

MARKDOWN_MAX_BYTES = 20000
TITLE_MAX_CHARS = 64
DEFAULT_URL = "https://oapi.dingtalk.com/robot/send"
SEND_TOO_FAST = 130101
# DingTalk throttles a robot for 10 minutes once it went over 20 messages in a minute.
THROTTLE_S = 600.0
TRANSIENT = frozenset({-1, SEND_TOO_FAST})


def sign(secret: str, timestamp_ms: int) -> str:
    """The base64 signature (not yet URL-encoded) DingTalk expects for ``timestamp_ms``."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkChannel(HttpChannel):
    kind = "dingtalk"
    requires = None  # the robot posts to its group; a phone only adds the mention
    rate_limit = (20, 60.0)  # per robot

    class Params(HttpChannel.Params):
        token_secret: str
        sign_secret: str | None = None
        url: str = DEFAULT_URL

        @field_validator("url")
        @classmethod
        def _http_url(cls, value: str) -> str:
            return check_http_url(value)

    params: Params

    def __init__(self, name: str, params: dict[str, Any], secrets=None, **seams: Any):
        super().__init__(name, params, secrets, **seams)
        self._token = self._named_secret("token_secret", self.params.token_secret)
        self._sign_key = self._named_secret("sign_secret", self.params.sign_secret)

    def payload(self, message: Message) -> dict[str, Any]:
        recipient = message.recipient
        mobiles = [recipient.phone] if recipient and recipient.phone else []
        user_ids = [recipient.dingtalk_id] if recipient and recipient.dingtalk_id else []
        mentions = tuple(f"@{m}" for m in mobiles + user_ids)
        ctx = render.context(
            message, lang=self.params.lang, tz=self.params.timezone, mentions=mentions
        )
        name = render.template_name("dingtalk", self.params.lang, "md")
        text = render.render_fitted(name, ctx, MARKDOWN_MAX_BYTES, render.utf8_bytes)
        at: dict[str, Any] = {"isAtAll": False}
        if mobiles:
            at["atMobiles"] = mobiles
        if user_ids:
            at["atUserIds"] = user_ids
        title = render.clip(ctx["subject"], TITLE_MAX_CHARS)
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}, "at": at}

    def signed_url(self) -> str:
        """The URL with token and, when signing is configured, timestamp and signature."""
        url = f"{self.params.url}?access_token={quote_plus(self._token or '')}"
        if self._sign_key is None:
            return url
        timestamp = int(self._clock.now().timestamp() * 1000)
        return f"{url}&timestamp={timestamp}&sign={quote_plus(sign(self._sign_key, timestamp))}"

    def send(self, message: Message) -> None:
        response = self._request("POST", self.signed_url(), json=self.payload(message))
        self._check(self._json_answer(response))

    def _check(self, answer: dict[str, Any]) -> None:
        # 310000 (signature, timestamp, keyword or IP check), 300001 (token) need a fix.
        self._robot_errcode(answer, "DingTalk", SEND_TOO_FAST, THROTTLE_S, TRANSIENT)
