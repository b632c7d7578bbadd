"""Synthetic ticket transaction probe (P9.1: creation ≤ 20 s, query ≤ 2 s).

Creates a ticket marked ``synthetic`` through the platform's ticket HTTP API, queries it and
closes it again, timing each step. A created ticket is always closed, even after a failed
query, so the probe leaves no open tickets behind: the last quarter of the timeout is kept
for the close. Dispatch within 30 min (also P9.1) involves people and is measured from the
ticket records, not here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import Field, field_validator

from hotline_ops.probes.api_client import (
    ApiParams,
    MissingToken,
    describe_http_error,
    dotted_path,
    request_headers,
    tls_context,
    value_at,
)
from hotline_ops.probes.base import Probe, ProbeResult
from hotline_ops.probes.http import parse_target

TITLE = "hotline-ops synthetic probe"
CONTENT = (
    "Synthetic transaction by hotline-ops to measure the ticket service response times"
    " (P9.1). It closes itself; please ignore."
)
# Share of the timeout kept for closing a created ticket after create and query.
CLOSE_SHARE = 0.25


class _StepFailed(Exception):
    """A step got no usable reply; the message (without the step name) says why."""


@dataclass
class _Run:
    """What one transaction saw, step by step."""

    durations: dict[str, float] = field(default_factory=dict)  # steps that succeeded
    problems: list[str] = field(default_factory=list)
    failed: bool = False  # a step failed, as opposed to only being slow

    def fail(self, step: str, reason: str) -> None:
        self.problems.append(f"{step}: {reason}")
        self.failed = True

    def record(self, step: str, took: float, max_s: float | None) -> None:
        self.durations[step] = took
        if max_s is not None and took > max_s:
            self.problems.append(f"{step} took {took:.2f}s > {max_s:.2f}s (P9.1)")


class TicketServiceProbe(Probe):
    """Create → query → close one synthetic ticket; ok when every step succeeds in time."""

    kind: ClassVar[str] = "ticket_service"
    params: TicketServiceProbe.Params

    class Params(ApiParams):
        base_url: str
        create_path: str = "/api/tickets"
        query_path: str = "/api/tickets/{id}"
        close_path: str = "/api/tickets/{id}/close"
        id_field: str = "id"  # dotted path into the create reply, e.g. "data.ticketNo"
        channel: str = "web"
        create_max_s: float = Field(default=20.0, gt=0)
        query_max_s: float = Field(default=2.0, gt=0)

        @field_validator("base_url")
        @classmethod
        def _base_url_is_http(cls, url: str) -> str:
            parse_target(url)
            return url

        @field_validator("create_path", "query_path", "close_path")
        @classmethod
        def _path_is_absolute(cls, path: str) -> str:
            if not path.startswith("/"):
                raise ValueError(f"path '{path}' must start with '/'")
            return path

        @field_validator("query_path", "close_path")
        @classmethod
        def _path_names_the_ticket(cls, path: str) -> str:
            if "{id}" not in path:
                raise ValueError(f"path '{path}' must contain '{{id}}'")
            return path

        @field_validator("id_field")
        @classmethod
        def _id_field_has_no_empty_part(cls, path: str) -> str:
            return dotted_path("id_field", path)

    def __init__(
        self, params: dict[str, Any], *, monotonic: Callable[[], float] = time.perf_counter
    ) -> None:
        super().__init__(params)
        self._monotonic = monotonic  # times the steps; tests pin it for exact durations
        self._base = self.params.base_url.rstrip("/")

    async def check(self, timeout: float) -> ProbeResult:
        try:
            headers = request_headers(self.params)
        except MissingToken as exc:
            return ProbeResult(False, None, str(exc), classification="config")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        steps_deadline = deadline - timeout * CLOSE_SHARE
        run = _Run()
        # trust_env=False: a proxy from the environment must not sit between probe and API.
        async with httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout),
            verify=tls_context(),
            trust_env=False,
        ) as client:
            ticket = await self._create(client, run, steps_deadline)
            if ticket is not None:
                await self._query(client, run, ticket, steps_deadline)
                await self._close(client, run, ticket, deadline)
        return self._judge(run, ticket)

    async def _create(self, client: httpx.AsyncClient, run: _Run, deadline: float) -> str | None:
        body: dict[str, Any] = {
            "channel": self.params.channel,
            "title": TITLE,
            "content": CONTENT,
            "synthetic": True,
        }
        path = self.params.create_path
        try:
            reply, took = await self._request(client, "POST", path, deadline, body)
            ticket = _ticket_id(reply, self.params.id_field)
        except _StepFailed as exc:
            run.fail("create", str(exc))
            return None
        run.record("create", took, self.params.create_max_s)
        return ticket

    async def _query(
        self, client: httpx.AsyncClient, run: _Run, ticket: str, deadline: float
    ) -> None:
        path = _with_id(self.params.query_path, ticket)
        try:
            reply, took = await self._request(client, "GET", path, deadline)
            _json(reply)
        except _StepFailed as exc:
            run.fail("query", str(exc))
            return
        run.record("query", took, self.params.query_max_s)

    async def _close(
        self, client: httpx.AsyncClient, run: _Run, ticket: str, deadline: float
    ) -> None:
        path = _with_id(self.params.close_path, ticket)
        try:
            _, took = await self._request(client, "POST", path, deadline, {"synthetic": True})
        except _StepFailed as exc:
            run.fail("close", str(exc))
            return
        run.record("close", took, None)

    async def _request(
        self,
        client: httpx.AsyncClient,
        method: str,
        path: str,
        deadline: float,
        body: dict[str, Any] | None = None,
    ) -> tuple[httpx.Response, float]:
        """One request answered with a 2xx and its duration; _StepFailed otherwise."""
        start = self._monotonic()
        try:
            async with asyncio.timeout_at(deadline):
                reply = await client.request(method, self._base + path, json=body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise _StepFailed("timed out") from exc
        except httpx.HTTPError as exc:
            raise _StepFailed(describe_http_error(exc)) from exc
        finally:
            took = self._monotonic() - start  # read on every path: two readings per request
        if not reply.is_success:
            raise _StepFailed(f"HTTP {reply.status_code}")
        return reply, took

    def _judge(self, run: _Run, ticket: str | None) -> ProbeResult:
        metrics = {f"{step}_s": seconds for step, seconds in run.durations.items()}
        complete = len(run.durations) == 3
        latency = sum(run.durations.values()) if complete else None
        if not run.problems:
            timings = ", ".join(f"{step} {s:.2f}s" for step, s in run.durations.items())
            return ProbeResult(True, latency, f"{timings} (ticket {ticket})", metrics, "ok")
        detail = "; ".join(run.problems)
        if ticket is not None and "close" not in run.durations:
            detail += f" (ticket {ticket} left open)"
        classification = "failed" if run.failed else "slow"
        return ProbeResult(False, latency, detail, metrics, classification)


def _json(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        raise _StepFailed("reply is not JSON") from None


def _ticket_id(reply: httpx.Response, path: str) -> str:
    try:
        node = value_at(_json(reply), path)
    except KeyError:
        raise _StepFailed(f"reply has no '{path}'") from None
    if isinstance(node, bool) or not isinstance(node, int | str) or node == "":
        raise _StepFailed(f"reply '{path}' is not a ticket id")
    return str(node)


def _with_id(path: str, ticket: str) -> str:
    # The id comes from the target: quoted so it can never add path segments or a query.
    return path.replace("{id}", quote(ticket, safe=""))
