"""What the probes that call a platform's JSON API share (``asr_accuracy``,
``ticket_service``): headers and a bearer token from the environment, one TLS context, a
dotted path into the reply, and one-line reasons for httpx failures."""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

import httpx
from pydantic import Field, field_validator

from hotline_ops.probes.base import Probe, describe_error, env_name
from hotline_ops.probes.http import USER_AGENT, safe_headers

_MISSING = object()


class MissingToken(Exception):
    """``token_env`` names a variable that is not set: a configuration error of the target."""


class ApiParams(Probe.Params):
    headers: dict[str, str] = Field(default_factory=dict)
    token_env: str | None = None  # name of the env var holding a bearer token

    @field_validator("headers")
    @classmethod
    def _headers_are_safe(cls, headers: dict[str, str]) -> dict[str, str]:
        return safe_headers(headers)

    @field_validator("token_env")
    @classmethod
    def _token_env_is_a_name(cls, name: str | None) -> str | None:
        return env_name("token_env", name)


def dotted_path(field_name: str, path: str) -> str:
    """A params validator for a dotted path into a JSON reply, e.g. ``result.text``."""
    if not all(path.split(".")):
        raise ValueError(f"{field_name} '{path}' has an empty part")
    return path


def request_headers(params: ApiParams) -> dict[str, str]:
    """JSON headers, the target's own, and the bearer token read now (so a rotated token is
    picked up by the next check); MissingToken when its variable is not set."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    headers.update(params.headers)
    env = params.token_env
    if env is not None:
        token = os.environ.get(env)
        if not token:
            raise MissingToken(f"environment variable {env} (token_env) is not set")
        headers["Authorization"] = f"Bearer {token}"
    return headers


def value_at(node: Any, path: str) -> Any:
    """The value at a dotted path (list items by index); KeyError when it is not there."""
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(path)
    return node


def describe_http_error(exc: httpx.HTTPError) -> str:
    """One-line reason for an httpx failure, from the OS error underneath when there is one."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return describe_error(seen)
        seen = seen.__cause__ or seen.__context__
    return describe_error(exc)


@functools.cache
def tls_context() -> ssl.SSLContext:
    # httpx would load the system trust store again for every client: milliseconds each time.
    return ssl.create_default_context()
