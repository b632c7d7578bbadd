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


def reset() -> None:
    """Forget all delivered messages and restart every script."""
    with _LOCK:
        SENT.clear()
        _CURSOR.clear()


class FakeChannel(Channel):
    kind = "fake"

    class Params(Channel.Params):
        fail: list[Outcome] = Field(default_factory=list)

    params: Params

    def send(self, message: Message) -> None:
        with _LOCK:
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
