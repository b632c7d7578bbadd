"""Error classes. Each carries the exit code the CLI returns for it.

Exit codes are part of the CLI contract (scripts and cron jobs branch on them), so they are
fixed here in one place and never reused for another meaning.
"""

from __future__ import annotations


class Overrun(Exception):
    """Work run on the event loop was cut off at its budget (``Store.read_within``,
    ``Store.session_within``) and nothing was written: the caller runs it again on a worker
    thread. Never shown to a user, hence no HotlineOpsError."""


class HotlineOpsError(Exception):
    """Base class: a failure the user can act on, printed as one line."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(HotlineOpsError):
    """A config or content file is invalid; the message names file:line and field."""

    exit_code = 2


class NotFound(HotlineOpsError):
    """The named object (incident, target, channel …) does not exist."""

    exit_code = 3


class IllegalTransition(HotlineOpsError):
    """The requested state change is not allowed from the object's current state."""

    exit_code = 4


class StoreError(HotlineOpsError):
    """The store cannot be opened or is not migrated."""

    exit_code = 5


class ProbeError(HotlineOpsError):
    """A probe could not run at all (bad parameters, unknown kind)."""

    exit_code = 6


class ChannelError(HotlineOpsError):
    """A notification could not be delivered.

    ``permanent`` tells the outbox whether retrying can help: a 4xx from a webhook or a
    rejected robot key is permanent; a timeout or 5xx is transient.
    """

    exit_code = 7

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        # A provider's rate-limit answer says when to come back; the outbox waits that long.
        self.retry_after = retry_after


class BadRequest(HotlineOpsError):
    """An API or CLI argument is invalid; the message names the field."""

    exit_code = 8


class TooLarge(BadRequest):
    """A request body over the route's size limit (HTTP 413)."""
