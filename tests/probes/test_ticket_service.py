"""TicketServiceProbe against a stand-in ticket API on 127.0.0.1.

Step durations come from a pinned clock that answers each request's (start, end) readings,
so the details can be asserted exactly; real delays are used only to test deadlines.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.registry import probe_class
from hotline_ops.probes.ticket_service import CONTENT, TicketServiceProbe

CREATED = {
    "channel": "web",
    "title": "hotline-ops synthetic probe",
    "content": CONTENT,
    "synthetic": True,
}


class TicketApi(ThreadingHTTPServer):
    """Creates tickets numbered 1, 2, …; a step can be delayed or give a fixed reply."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TicketHandler)
        self.tickets: dict[str, str] = {}  # id -> "open" | "closed"
        self.requests: list[tuple[str, str, Any]] = []  # method, path, JSON body
        self.authorizations: list[str | None] = []
        self.replies: dict[str, tuple[int, bytes]] = {}  # step -> fixed (status, body)
        self.delays: dict[str, float] = {}  # step -> seconds

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a probe that timed out closes the connection before the late reply

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _TicketHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TicketApi

    def do_GET(self) -> None:
        self._handle("query", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length)) if length else None
        self._handle("close" if self.path.endswith("/close") else "create", body)

    def _handle(self, step: str, body: Any) -> None:
        self.server.requests.append((self.command, self.path, body))
        self.server.authorizations.append(self.headers["Authorization"])
        time.sleep(self.server.delays.get(step, 0.0))
        status, reply = self.server.replies.get(step) or getattr(self, f"_{step}")()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _create(self) -> tuple[int, bytes]:
        ticket = len(self.server.tickets) + 1
        self.server.tickets[str(ticket)] = "open"
        return 201, json.dumps({"id": ticket, "status": "open"}).encode()

    def _query(self) -> tuple[int, bytes]:
        ticket = unquote(self.path.rsplit("/", 1)[1])
        if ticket not in self.server.tickets:
            return 404, b'{"error": "no such ticket"}'
        return 200, json.dumps({"id": ticket, "status": self.server.tickets[ticket]}).encode()

    def _close(self) -> tuple[int, bytes]:
        ticket = unquote(self.path.rsplit("/", 2)[1])
        self.server.tickets[ticket] = "closed"
        return 200, b'{"status": "closed"}'

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[TicketApi]:
    server = TicketApi()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pinned(*durations: float) -> Callable[[], float]:
    """A clock whose readings make the n-th request take ``durations[n]`` seconds."""
    readings = iter([reading for took in durations for reading in (0.0, took)])
    return lambda: next(readings)


def _check(
    params: dict[str, Any],
    timeout: float = 5.0,
    monotonic: Callable[[], float] = time.perf_counter,
) -> ProbeResult:
    return asyncio.run(TicketServiceProbe(params, monotonic=monotonic).check(timeout))


def test_it_creates_queries_and_closes_a_synthetic_ticket(api: TicketApi) -> None:
    result = _check({"base_url": api.url}, monotonic=pinned(0.5, 0.25, 0.25))
    assert (result.ok, result.classification) == (True, "ok")
    assert result.detail == "create 0.50s, query 0.25s, close 0.25s (ticket 1)"
    assert result.metrics == {"create_s": 0.5, "query_s": 0.25, "close_s": 0.25}
    assert result.latency_s == 1.0  # the whole transaction
    assert api.requests == [
        ("POST", "/api/tickets", CREATED),
        ("GET", "/api/tickets/1", None),
        ("POST", "/api/tickets/1/close", {"synthetic": True}),
    ]
    assert api.tickets == {"1": "closed"}


def test_it_measures_real_step_durations(api: TicketApi) -> None:
    api.delays["query"] = 0.05
    result = _check({"base_url": api.url})
    assert result.ok is True
    assert 0.05 <= result.metrics["query_s"] < 1.0
    assert 0 < result.metrics["create_s"] < 1.0 and 0 < result.metrics["close_s"] < 1.0


def test_it_fails_a_query_slower_than_2_seconds(api: TicketApi) -> None:
    result = _check({"base_url": api.url}, monotonic=pinned(0.5, 2.4, 0.25))
    assert (result.ok, result.classification) == (False, "slow")
    assert result.detail == "query took 2.40s > 2.00s (P9.1)"
    assert result.metrics == {"create_s": 0.5, "query_s": 2.4, "close_s": 0.25}
    assert api.tickets == {"1": "closed"}


def test_it_accepts_a_query_of_exactly_2_seconds(api: TicketApi) -> None:
    result = _check({"base_url": api.url}, monotonic=pinned(20.0, 2.0, 0.25))
    assert (result.ok, result.detail) == (
        True,
        "create 20.00s, query 2.00s, close 0.25s (ticket 1)",
    )


def test_it_fails_a_creation_slower_than_20_seconds(api: TicketApi) -> None:
    result = _check({"base_url": api.url}, monotonic=pinned(21.0, 0.5, 0.25))
    assert (result.ok, result.detail) == (False, "create took 21.00s > 20.00s (P9.1)")


def test_it_applies_configured_limits(api: TicketApi) -> None:
    params = {"base_url": api.url, "create_max_s": 5, "query_max_s": 0.5}
    result = _check(params, monotonic=pinned(6.0, 0.75, 0.25))
    assert result.detail == "create took 6.00s > 5.00s (P9.1); query took 0.75s > 0.50s (P9.1)"


def test_it_reports_a_failed_creation_and_goes_no_further(api: TicketApi) -> None:
    api.replies["create"] = (500, b'{"error": "database down"}')
    result = _check({"base_url": api.url}, monotonic=pinned(0.5))
    assert (result.ok, result.latency_s, result.detail, result.classification) == (
        False,
        None,
        "create: HTTP 500",
        "failed",
    )
    assert (result.metrics, [request[0:2] for request in api.requests]) == (
        {},
        [("POST", "/api/tickets")],
    )


def test_it_closes_the_ticket_after_a_failed_query(api: TicketApi) -> None:
    api.replies["query"] = (500, b'{"error": "search index down"}')
    result = _check({"base_url": api.url}, monotonic=pinned(0.5, 0.25, 0.25))
    assert (result.ok, result.latency_s, result.detail, result.classification) == (
        False,
        None,
        "query: HTTP 500",
        "failed",
    )
    assert result.metrics == {"create_s": 0.5, "close_s": 0.25}
    assert [request[0:2] for request in api.requests] == [
        ("POST", "/api/tickets"),
        ("GET", "/api/tickets/1"),
        ("POST", "/api/tickets/1/close"),
    ]
    assert api.tickets == {"1": "closed"}


def test_it_keeps_time_to_close_the_ticket_after_a_query_that_hangs(api: TicketApi) -> None:
    api.delays["query"] = 1.5
    started = time.monotonic()
    result = _check({"base_url": api.url}, timeout=1.0)
    elapsed = time.monotonic() - started
    assert (result.ok, result.detail) == (False, "query: timed out")
    assert api.tickets == {"1": "closed"}
    assert 0.75 <= elapsed < 1.0  # the query gets 3/4 of the timeout, the close the rest


def test_it_reports_a_creation_that_times_out(api: TicketApi) -> None:
    api.delays["create"] = 1.0
    result = _check({"base_url": api.url}, timeout=0.4)
    assert (result.ok, result.detail, len(api.requests)) == (False, "create: timed out", 1)


def test_it_says_when_a_ticket_is_left_open(api: TicketApi) -> None:
    api.replies["close"] = (409, b'{"error": "needs review"}')
    result = _check({"base_url": api.url}, monotonic=pinned(0.5, 0.25, 0.25))
    assert (result.ok, result.detail) == (False, "close: HTTP 409 (ticket 1 left open)")
    assert result.metrics == {"create_s": 0.5, "query_s": 0.25}


def test_it_names_every_problem_of_one_transaction(api: TicketApi) -> None:
    api.replies["query"] = (503, b"")
    api.replies["close"] = (500, b"")
    result = _check({"base_url": api.url}, monotonic=pinned(21.0, 0.5, 0.25))
    assert result.detail == (
        "create took 21.00s > 20.00s (P9.1); query: HTTP 503; close: HTTP 500 (ticket 1 left open)"
    )


def test_it_fails_a_creation_reply_without_an_id(api: TicketApi) -> None:
    api.replies["create"] = (201, b'{"status": "open"}')
    result = _check({"base_url": api.url}, monotonic=pinned(0.5))
    assert (result.ok, result.detail, len(api.requests)) == (
        False,
        "create: reply has no 'id'",
        1,
    )


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (b"<html>login</html>", "create: reply is not JSON"),
        (b'{"id": null}', "create: reply 'id' is not a ticket id"),
        (b'{"id": true}', "create: reply 'id' is not a ticket id"),
        (b'{"id": ""}', "create: reply 'id' is not a ticket id"),
    ],
)
def test_it_fails_a_creation_reply_with_an_unusable_id(
    api: TicketApi, reply: bytes, detail: str
) -> None:
    api.replies["create"] = (200, reply)
    assert _check({"base_url": api.url}, monotonic=pinned(0.5)).detail == detail


def test_it_fails_a_query_reply_that_is_not_json(api: TicketApi) -> None:
    api.replies["query"] = (200, b"<html>login</html>")
    result = _check({"base_url": api.url}, monotonic=pinned(0.5, 0.25, 0.25))
    assert (result.ok, result.detail, api.tickets) == (
        False,
        "query: reply is not JSON",
        {"1": "closed"},
    )


def test_it_uses_configured_paths_a_dotted_id_field_and_quotes_the_id(api: TicketApi) -> None:
    api.replies["create"] = (200, b'{"code": 0, "data": {"orderNo": "WZ-2026/001"}}')
    api.tickets["WZ-2026/001"] = "open"
    params = {
        "base_url": f"{api.url}/gw/",
        "create_path": "/v2/orders",
        "query_path": "/v2/orders/{id}",
        "close_path": "/v2/orders/{id}/close",
        "id_field": "data.orderNo",
        "channel": "app",
    }
    result = _check(params, monotonic=pinned(0.5, 0.25, 0.25))
    assert (result.ok, result.detail) == (
        True,
        "create 0.50s, query 0.25s, close 0.25s (ticket WZ-2026/001)",
    )
    assert api.requests == [
        ("POST", "/gw/v2/orders", {**CREATED, "channel": "app"}),
        ("GET", "/gw/v2/orders/WZ-2026%2F001", None),
        ("POST", "/gw/v2/orders/WZ-2026%2F001/close", {"synthetic": True}),
    ]
    assert api.tickets == {"WZ-2026/001": "closed"}


def test_it_reports_a_refused_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    result = _check({"base_url": f"http://127.0.0.1:{port}"}, monotonic=pinned(0.1))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "create: connect refused",
        "failed",
    )


def test_it_sends_the_bearer_token_from_token_env_and_never_shows_it(
    api: TicketApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKET_TOKEN", "s3cret-token")
    probe = TicketServiceProbe({"base_url": api.url, "token_env": "TICKET_TOKEN"})
    result = asyncio.run(probe.check(5.0))
    assert api.authorizations == ["Bearer s3cret-token"] * 3
    assert "s3cret" not in f"{probe.params!r} {result.detail}"


def test_it_fails_without_requests_when_the_token_variable_is_unset(
    api: TicketApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKET_TOKEN", raising=False)
    result = _check({"base_url": api.url, "token_env": "TICKET_TOKEN"})
    assert (result.ok, result.detail, result.classification) == (
        False,
        "environment variable TICKET_TOKEN (token_env) is not set",
        "config",
    )
    assert api.requests == []


def test_it_sends_configured_headers(api: TicketApi) -> None:
    _check({"base_url": api.url, "headers": {"Authorization": "Basic cHJvYmU6cHJvYmU="}})
    assert api.authorizations == ["Basic cHJvYmU6cHJvYmU="] * 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base_url": "ftp://tickets/"}, "url scheme must be http or https"),
        ({"base_url": "http://t/", "query_path": "/api/tickets"}, re.escape("contain '{id}'")),
        ({"base_url": "http://t/", "close_path": "close/{id}"}, "must start with '/'"),
        ({"base_url": "http://t/", "create_path": "api"}, "must start with '/'"),
        ({"base_url": "http://t/", "query_max_s": 0}, "greater than 0"),
        ({"base_url": "http://t/", "token_env": "MY-TOKEN"}, "token_env must name an env"),
        ({"base_url": "http://t/", "id_field": "data."}, "has an empty part"),
        ({"base_url": "http://t/", "headers": {"X": "a\rb"}}, "line break"),
        ({"base_url": "http://t/", "create_max": 20}, "create_max\n  Extra inputs"),
        ({}, "base_url\n  Field required"),
    ],
)
def test_it_rejects_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        TicketServiceProbe(params)


def test_it_is_registered_as_ticket_service() -> None:
    assert probe_class("ticket_service") is TicketServiceProbe
