"""The channel contract shared by every notification kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from hotline_ops.errors import ChannelError, ConfigError

MASK = "***"


@dataclass(frozen=True)
class Recipient:
    """The person a message is for; channels pick the address they need (a WeCom robot
    mentions ``phone``, SMS and voice dial it, email writes to ``email``)."""

    name: str
    phone: str | None = None
    email: str | None = None
    wecom_id: str | None = None
    dingtalk_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "wecom_id": self.wecom_id,
            "dingtalk_id": self.dingtalk_id,
        }


@dataclass(frozen=True)
class Message:
    """One notification; ``dedup_key`` is stable across redeliveries of the same event.

    ``recipient`` is None for a channel-wide announcement (a group robot, a webhook)."""

    dedup_key: str
    subject: str
    text: str
    data: dict[str, Any]
    recipient: Recipient | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "dedup_key": self.dedup_key,
            "subject": self.subject,
            "text": self.text,
            "data": self.data,
        }
        if self.recipient is not None:
            body["recipient"] = self.recipient.as_dict()
        return body


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with ``***``."""
    # Longest first: if one secret contains another, the whole of it must go, not a prefix.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


class Channel:
    """A configured destination. Subclasses set ``kind``, extend ``Params`` and implement send."""

    kind: ClassVar[str] = ""
    # The Recipient field a person-addressed message needs ("phone", "email") or None when
    # the channel also works without one (a group robot). The roster loader checks it so a
    # person without a usable address is an error at load time, not at 3 a.m.
    requires: ClassVar[str | None] = None
    # (messages, seconds) the provider accepts per configured channel; the outbox paces by it.
    rate_limit: ClassVar[tuple[int, float] | None] = None

    class Params(BaseModel):
        # A typo in a config key must fail loudly, not silently fall back to a default.
        model_config = ConfigDict(extra="forbid")

    def __init__(self, name: str, params: dict[str, Any], secrets: dict[str, str] | None = None):
        self.name = name
        self.params = self.validate_params(params)
        self._secrets = dict(secrets or {})

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> BaseModel:
        """``Params`` from config; pydantic.ValidationError propagates for the caller to locate."""
        return cls.Params.model_validate(params)

    @classmethod
    def address_problem(cls, recipient: Recipient | None) -> str | None:
        """Why ``recipient`` cannot be reached on this kind of channel, or None when it can."""
        if cls.requires is None:
            return None
        if recipient is None or not getattr(recipient, cls.requires):
            return f"{cls.kind} needs the recipient's {cls.requires}"
        return None

    def _named_secret(self, field: str, secret_name: str | None) -> str | None:
        """The value of the secret a config field names; ConfigError when it is not defined."""
        if secret_name is None:
            return None
        value = self._secrets.get(secret_name)
        if not value:
            raise ConfigError(
                f"channel '{self.name}': {field} '{secret_name}' is not a defined secret"
            )
        if not value.isascii():
            raise ConfigError(f"channel '{self.name}': secret '{secret_name}' must be ASCII")
        return value

    def _address(self, message: Message, field: str) -> str:
        """The recipient's ``field`` (phone, email); a message without it can never go out."""
        recipient = message.recipient
        if recipient is None:
            raise ChannelError(
                f"channel '{self.name}' ({self.kind}): message has no recipient "
                f"(needs recipient.{field})",
                permanent=True,
            )
        value = getattr(recipient, field)
        if not value:
            raise ChannelError(
                f"channel '{self.name}' ({self.kind}): recipient '{recipient.name}' "
                f"has no {field} (needs recipient.{field})",
                permanent=True,
            )
        return str(value)

    def send(self, message: Message) -> None:
        """Deliver once; raise ChannelError(permanent=...) on failure."""
        raise NotImplementedError

    def close(self) -> None:
        """Release held resources; the channel stays usable afterwards."""

    def mask(self, text: str) -> str:
        return mask(text, self._secrets.values())

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Params may embed a secret (a key in a URL), so they go through the mask too.
        params = self.mask(repr(self.params.model_dump()))
        return f"{type(self).__name__}(name={self.name!r}, params={params})"
