"""WeCom (企业微信) group robot: ``POST /cgi-bin/webhook/send?key=KEY``.

Markdown by default. WeCom markdown can mention a member only by user id (``<@userid>``);
a mention by mobile number (``mentioned_mobile_list``) exists only for text messages, so a
message for a person known by phone alone goes out as text, which makes the phone ring.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from hotline_ops.notify import render
from hotline_ops.notify._http import HttpChannel, check_http_url
from hotline_ops.notify.base import Message

MARKDOWN_MAX_BYTES = 4096
TEXT_MAX_BYTES = 2048
DEFAULT_URL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
# errcodes that mean "later": 45009 is the 20/min robot limit, -1 "system busy".
RATE_LIMITED = 45009
TRANSIENT = frozenset({-1, RATE_LIMITED})
RATE_WINDOW_S = 60.0


class WeComChannel(HttpChannel):
    kind = "wecom"
    requires = None  # a group robot reaches the group; a phone only adds the mention
    rate_limit = (20, RATE_WINDOW_S)  # per robot (WeCom documents 20 messages per minute)

    class Params(HttpChannel.Params):
        key_secret: str
        url: str = DEFAULT_URL
        msgtype: Literal["markdown", "text"] = "markdown"

        @field_validator("url")
        @classmethod
        def _http_url(cls, value: str) -> str:
            return check_http_url(value)

    params: Params

    def __init__(self, name: str, params: dict[str, Any], secrets=None, **seams: Any):
        super().__init__(name, params, secrets, **seams)
        self._key = self._named_secret("key_secret", self.params.key_secret)

    def payload(self, message: Message) -> dict[str, Any]:
        """The JSON body for ``message`` (public: tests and ``notify test`` show it)."""
        recipient = message.recipient
        user_id = recipient.wecom_id if recipient else None
        phone = recipient.phone if recipient else None
        if self.params.msgtype == "markdown" and user_id:
            return self._markdown(message, (f"<@{user_id}>",))
        if self.params.msgtype == "markdown" and not phone:
            return self._markdown(message, ())
        return self._text(message, [user_id] if user_id else [], [phone] if phone else [])

    def _markdown(self, message: Message, mentions: tuple[str, ...]) -> dict[str, Any]:
        ctx = self._context(message, mentions)
        name = render.template_name("wecom", self.params.lang, "md")
        content = render.render_fitted(name, ctx, MARKDOWN_MAX_BYTES, render.utf8_bytes)
        return {"msgtype": "markdown", "markdown": {"content": content}}

    def _text(self, message: Message, user_ids: list[str], mobiles: list[str]) -> dict[str, Any]:
        ctx = self._context(message, ())
        name = render.template_name("wecom", self.params.lang, "txt")
        content = render.render_fitted(name, ctx, TEXT_MAX_BYTES, render.utf8_bytes)
        text: dict[str, Any] = {"content": content}
        if user_ids:
            text["mentioned_list"] = user_ids
        if mobiles:
            text["mentioned_mobile_list"] = mobiles
        return {"msgtype": "text", "text": text}

    def _context(self, message: Message, mentions: tuple[str, ...]) -> dict[str, Any]:
        return render.context(
            message, lang=self.params.lang, tz=self.params.timezone, mentions=mentions
        )

    def send(self, message: Message) -> None:
        response = self._request(
            "POST", self.params.url, params={"key": self._key}, json=self.payload(message)
        )
        self._check(self._json_answer(response))

    def _check(self, answer: dict[str, Any]) -> None:
        # 45009: WeCom does not say when; the next minute window is the earliest that can
        # pass. 93000 (invalid key), 40058 (content too long) … need a config or code change.
        self._robot_errcode(answer, "WeCom", RATE_LIMITED, RATE_WINDOW_S, TRANSIENT)
