"""An in-memory channel for tests and dry runs, with scripted failures."""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import Field

from hotline_ops.errors import ChannelError
from hotline_ops.notify.base import Channel, Message

Outcome = Literal["ok", "transient", "permanent"]

# Delivered messages by channel name. Module-level so a test can see what a channel
# built deep inside the service sent.
SENT: dict[str, list[Message]] = {}

# Script position by channel name, kept outside the instance so that a caller rebuilding
# the channel from config on every attempt still walks through the script.
_CURSOR: dict[str, int] = {}
_LOCK = threading.Lock()

# Channels that are down until restore(): every send fails this way (a scripted period, for
# tests that move a FixedClock through an outage). Value: (permanent, retry_after).
_DOWN: dict[str, tuple[bool, float | None]] = {}
# Every send attempt by channel name, delivered or not, to count retries.
ATTEMPTS: dict[str, int] = {}


def reset() -> None:
    """Forget all delivered messages and restart every script."""
    with _LOCK:
        SENT.clear()
        _CURSOR.clear()
        _DOWN.clear()
        ATTEMPTS.clear()


def outage(name: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
    """Make channel ``name`` fail every send until restore(name)."""
    with _LOCK:
        _DOWN[name] = (permanent, retry_after)


def restore(name: str) -> None:
    with _LOCK:
        _DOWN.pop(name, None)


class FakeChannel(Channel):
    kind = "fake"

    class Params(Channel.Params):
        fail: list[Outcome] = Field(default_factory=list)
        # [sends, per seconds], like a provider's limit (WeCom robots: 20 per 60 s).
        rate_limit: tuple[int, float] | None = None
        timeout_s: float = Field(5.0, gt=0)

    params: Params

    def __init__(self, name: str, params: dict, secrets: dict[str, str] | None = None):
        super().__init__(name, params, secrets)
        self.rate_limit = self.params.rate_limit

    def send(self, message: Message) -> None:
        with _LOCK:
            ATTEMPTS[self.name] = ATTEMPTS.get(self.name, 0) + 1
            down = _DOWN.get(self.name)
            if down is not None:
                permanent, retry_after = down
                raise ChannelError(
                    f"fake channel '{self.name}': down",
                    permanent=permanent,
                    retry_after=retry_after,
                )
            outcome = self._next_outcome()
            if outcome == "ok":
                SENT.setdefault(self.name, []).append(message)
                return
        raise ChannelError(
            f"fake channel '{self.name}': scripted {outcome} failure",
            permanent=outcome == "permanent",
        )

    def _next_outcome(self) -> Outcome:
        position = _CURSOR.get(self.name, 0)
        _CURSOR[self.name] = position + 1
        script = self.params.fail
        return script[position] if position < len(script) else "ok"
