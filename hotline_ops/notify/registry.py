"""Map a config ``kind`` to its channel class."""

from __future__ import annotations

import importlib
from typing import Any

from hotline_ops.errors import ConfigError
from hotline_ops.notify.base import Channel

# Dotted paths, imported on first use, so loading the registry does not pull in httpx.
CHANNEL_KINDS: dict[str, str] = {
    "webhook": "hotline_ops.notify.webhook.WebhookChannel",
    "wecom": "hotline_ops.notify.wecom.WeComChannel",
    "dingtalk": "hotline_ops.notify.dingtalk.DingTalkChannel",
    "sms": "hotline_ops.notify.sms.SmsChannel",
    "voice": "hotline_ops.notify.voice.VoiceChannel",
    "email": "hotline_ops.notify.email.EmailChannel",
    "fake": "hotline_ops.notify.fake.FakeChannel",
}


def channel_class(kind: str) -> type[Channel]:
    """The class for ``kind``; ConfigError if no such kind exists."""
    path = CHANNEL_KINDS.get(kind)
    if path is None:
        known = ", ".join(sorted(CHANNEL_KINDS))
        raise ConfigError(f"unknown channel kind '{kind}' (known: {known})")
    module_name, _, attr = path.rpartition(".")
    cls: type[Channel] = getattr(importlib.import_module(module_name), attr)
    return cls


def channel_requires(kind: str) -> str | None:
    """The recipient field a person needs for ``kind`` (the roster loader checks it)."""
    return channel_class(kind).requires


def build_channel(
    name: str, kind: str, params: dict[str, Any], secrets: dict[str, str] | None = None
) -> Channel:
    """Construct a channel; pydantic.ValidationError propagates for the caller to locate."""
    return channel_class(kind)(name, params, secrets)
