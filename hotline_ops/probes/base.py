"""The probe contract shared by every kind.

A probe reports what it saw; it never raises for a target failure, because the caller runs
many probes side by side and one dead target must not take the others down with it.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_name(field_name: str, name: str | None) -> str | None:
    """A params validator: ``name`` must be usable as an environment variable name (secrets
    come from the environment, never from the target file)."""
    if name is not None and not ENV_NAME.fullmatch(name):
        raise ValueError(f"{field_name} must name an environment variable, got '{name}'")
    return name


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one check; ``detail`` is a short English one-line reason."""

    ok: bool
    latency_s: float | None
    detail: str
    metrics: dict[str, float] = field(default_factory=dict)
    # Kind-specific verdict beyond ok/not ok, e.g. SIP "healthy" | "refused" | "degraded" |
    # "down", or E1 alarm names; reports and inspections group by it.
    classification: str = ""


class TargetError(Exception):
    """The target answered, but not in a way the probe can understand (e.g. a bad status line)."""


class Probe(ABC):
    """Base class: validate params once at construction, then ``check`` as often as needed."""

    kind: ClassVar[str]

    class Params(BaseModel):
        # A misspelt key would otherwise silently fall back to a default and probe the wrong thing.
        model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, params: dict[str, Any]) -> None:
        # ValidationError propagates on purpose: the config loader maps it to file:line.
        self.params = self.Params.model_validate(params)

    @abstractmethod
    async def check(self, timeout: float) -> ProbeResult:
        """Run one check, bounded by ``timeout`` seconds overall; never raises for the target."""

    def attempt(self) -> Coroutine[Any, Any, ProbeResult] | None:
        """The check *without* its deadline, for a caller that bounds thousands of checks
        with one deadline sweep instead of a timer each (the engine); it may raise OSError,
        EOFError or TargetError for a target failure. None (the default) when the probe
        keeps its own deadline (SIP retransmissions, SNMP retries): only check() is used."""
        return None

    async def close(self) -> None:
        """Release what the probe holds between checks (sockets, sessions); default none."""
        return None


async def run_within(timeout: float, attempt: Coroutine[Any, Any, ProbeResult]) -> ProbeResult:
    """Await ``attempt`` under one overall deadline, turning target failures into results."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await attempt
    except TimeoutError as exc:
        # Only our own deadline is "timeout after"; a kernel ETIMEDOUT is reported as such.
        detail = timed_out(timeout) if deadline.expired() else describe_error(exc)
        return ProbeResult(ok=False, latency_s=None, detail=detail)
    except (OSError, EOFError, TargetError) as exc:
        return ProbeResult(ok=False, latency_s=None, detail=describe_error(exc))


def timed_out(timeout: float) -> str:
    return f"timeout after {float(timeout)}s"


_SHORT_DETAILS: dict[type[BaseException], str] = {
    ConnectionRefusedError: "connect refused",
    ConnectionResetError: "connection reset by peer",
    BrokenPipeError: "connection closed by peer",
}


def describe_error(exc: BaseException) -> str:
    """One-line reason for a failed check; operators read it on a dashboard, not a traceback."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed: {exc.strerror}"
    if isinstance(exc, EOFError):
        return "connection closed mid-response"
    if type(exc) in _SHORT_DETAILS:
        return _SHORT_DETAILS[type(exc)]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
