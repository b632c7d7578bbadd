from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pydantic
import pytest

from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Message
from hotline_ops.notify.webhook import WebhookChannel

MESSAGE = Message(
    dedup_key="INC-7:opened:1",
    subject="P1 incident opened",
    text="12345 inbound line down",
    data={"incident": "INC-7", "level": "P1", "opened_at": "2024-05-01T08:00:00+08:00"},
)
SECRET = "s3cr3t-T0KEN-value"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the fake endpoint answers, and every request it got."""

    url: str = ""
    status: int = 200
    reply: str = "ok"
    requests: list[Request] = field(default_factory=list)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.requests.append(Request("POST", self.path, headers, body))
            payload = receiver.reply.encode()
            self.send_response(receiver.status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _send_expecting_error(channel: WebhookChannel) -> ChannelError:
    with channel, pytest.raises(ChannelError) as info:
        channel.send(MESSAGE)
    return info.value


def test_it_returns_none_on_200(receiver: Receiver) -> None:
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}) as channel:
        assert channel.send(MESSAGE) is None


def test_it_posts_exactly_once_to_the_url_path(receiver: Receiver) -> None:
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook?x=1"}) as channel:
        channel.send(MESSAGE)
    assert [(r.method, r.path) for r in receiver.requests] == [("POST", "/hook?x=1")]


def test_it_posts_the_message_as_json(receiver: Receiver) -> None:
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}) as channel:
        channel.send(MESSAGE)
    request = receiver.requests[0]
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {
        "dedup_key": "INC-7:opened:1",
        "subject": "P1 incident opened",
        "text": "12345 inbound line down",
        "data": {"incident": "INC-7", "level": "P1", "opened_at": "2024-05-01T08:00:00+08:00"},
    }


def test_it_encodes_non_ascii_text_as_utf8(receiver: Receiver) -> None:
    message = Message("k", "热线中断", "12345 热线无法接通", {})
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}) as channel:
        channel.send(message)
    assert json.loads(receiver.requests[0].body.decode("utf-8"))["text"] == "12345 热线无法接通"


def test_it_sends_the_dedup_key_as_idempotency_key(receiver: Receiver) -> None:
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}) as channel:
        channel.send(MESSAGE)
    assert receiver.requests[0].headers["idempotency-key"] == "INC-7:opened:1"


def test_it_percent_encodes_a_non_ascii_idempotency_key(receiver: Receiver) -> None:
    message = Message("事件-7", "s", "t", {})
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}) as channel:
        channel.send(message)
    assert receiver.requests[0].headers["idempotency-key"] == "%E4%BA%8B%E4%BB%B6-7"


def test_it_sends_the_bearer_token_when_token_secret_is_set(receiver: Receiver) -> None:
    params = {"url": f"{receiver.url}/hook", "token_secret": "ops_token"}
    with WebhookChannel("ops", params, {"ops_token": SECRET}) as channel:
        channel.send(MESSAGE)
    assert receiver.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_it_sends_no_authorization_without_token_secret(receiver: Receiver) -> None:
    with WebhookChannel("ops", {"url": f"{receiver.url}/hook"}, {"ops_token": SECRET}) as channel:
        channel.send(MESSAGE)
    assert "authorization" not in receiver.requests[0].headers


def test_it_sends_configured_headers(receiver: Receiver) -> None:
    params = {"url": f"{receiver.url}/hook", "headers": {"X-Source": "hotline-ops"}}
    with WebhookChannel("ops", params) as channel:
        channel.send(MESSAGE)
    assert receiver.requests[0].headers["x-source"] == "hotline-ops"


def test_it_reports_503_as_transient_with_status_url_and_body(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 503, "down for\nmaintenance"
    error = _send_expecting_error(WebhookChannel("ops", {"url": f"{receiver.url}/hook"}))
    assert error.permanent is False
    assert str(error) == f"HTTP 503 from {receiver.url}/hook: down for maintenance"


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 504])
def test_it_treats_retryable_statuses_as_transient(receiver: Receiver, status: int) -> None:
    receiver.status = status
    error = _send_expecting_error(WebhookChannel("ops", {"url": f"{receiver.url}/hook"}))
    assert error.permanent is False


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 422])
def test_it_treats_other_non_2xx_statuses_as_permanent(receiver: Receiver, status: int) -> None:
    receiver.status = status
    error = _send_expecting_error(WebhookChannel("ops", {"url": f"{receiver.url}/hook"}))
    assert error.permanent is True


def test_it_quotes_only_the_first_200_chars_of_the_body(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 400, "x" * 500
    error = _send_expecting_error(WebhookChannel("ops", {"url": f"{receiver.url}/hook"}))
    assert str(error) == f"HTTP 400 from {receiver.url}/hook: " + "x" * 200


def test_it_reports_a_closed_port_as_transient(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/hook"
    error = _send_expecting_error(WebhookChannel("ops", {"url": url}))
    assert error.permanent is False
    assert str(error).startswith(f"cannot connect to {url}: ")


def test_it_reports_a_silent_server_as_a_transient_timeout(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/hook"
    error = _send_expecting_error(WebhookChannel("ops", {"url": url, "timeout_s": 0.3}))
    assert error.permanent is False
    assert str(error) == f"timeout after 0.3s calling {url}"


def test_it_reports_unserialisable_data_as_permanent(receiver: Receiver) -> None:
    message = Message("k", "s", "t", {"at": object()})
    channel = WebhookChannel("ops", {"url": f"{receiver.url}/hook"})
    with channel, pytest.raises(ChannelError) as info:
        channel.send(message)
    assert info.value.permanent is True
    assert receiver.requests == []


def test_it_can_send_again_after_close(receiver: Receiver) -> None:
    channel = WebhookChannel("ops", {"url": f"{receiver.url}/hook"})
    channel.send(MESSAGE)
    channel.close()
    channel.send(MESSAGE)
    channel.close()
    assert len(receiver.requests) == 2


# --- secrets never leak -------------------------------------------------------------------


def _secret_url_channel(base: str, **extra: object) -> WebhookChannel:
    params = {"url": f"{base}/hook?key={SECRET}", "token_secret": "ops_token", **extra}
    return WebhookChannel("ops", params, {"ops_token": SECRET})


def test_it_masks_the_secret_in_an_http_error(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 401, f"bad token {SECRET}"
    error = _send_expecting_error(_secret_url_channel(receiver.url))
    # The query (where keys travel) is never shown; the body is masked.
    assert str(error) == f"HTTP 401 from {receiver.url}/hook: bad token ***"


def test_it_masks_the_secret_in_a_connection_error(closed_port: int) -> None:
    error = _send_expecting_error(_secret_url_channel(f"http://127.0.0.1:{closed_port}"))
    assert SECRET not in str(error)
    assert str(error).startswith(f"cannot connect to http://127.0.0.1:{closed_port}/hook:")


def test_it_masks_the_secret_in_a_timeout_error(silent_port: int) -> None:
    base = f"http://127.0.0.1:{silent_port}"
    error = _send_expecting_error(_secret_url_channel(base, timeout_s=0.3))
    assert str(error) == f"timeout after 0.3s calling {base}/hook"


def test_it_masks_the_secret_in_repr(receiver: Receiver) -> None:
    channel = _secret_url_channel(receiver.url)
    assert SECRET not in repr(channel)
    assert f"{receiver.url}/hook?key=***" in repr(channel)


def test_it_masks_the_secret_in_the_error_traceback_chain(closed_port: int) -> None:
    # The httpx exception would carry the raw URL; it must not ride along as the cause.
    error = _send_expecting_error(_secret_url_channel(f"http://127.0.0.1:{closed_port}"))
    assert error.__cause__ is None
    assert error.__suppress_context__ is True


# --- configuration -----------------------------------------------------------------------


def _error_fields(params: dict[str, object]) -> list[tuple[tuple[object, ...], str]]:
    with pytest.raises(pydantic.ValidationError) as info:
        WebhookChannel("ops", params)
    return [(e["loc"], e["type"]) for e in info.value.errors()]


def test_it_rejects_an_unknown_param() -> None:
    params = {"url": "http://127.0.0.1/hook", "colour": "red"}
    assert _error_fields(params) == [(("colour",), "extra_forbidden")]


def test_it_requires_a_url() -> None:
    assert _error_fields({}) == [(("url",), "missing")]


@pytest.mark.parametrize(
    "url", ["ftp://example.org/hook", "example.org/hook", "http:///hook", "http://h:99999/"]
)
def test_it_rejects_a_non_http_url(url: str) -> None:
    assert _error_fields({"url": url}) == [(("url",), "value_error")]


def test_it_rejects_a_non_positive_timeout() -> None:
    params = {"url": "http://127.0.0.1/hook", "timeout_s": 0}
    assert _error_fields(params) == [(("timeout_s",), "greater_than")]


def test_it_rejects_a_multi_line_header() -> None:
    params = {"url": "http://127.0.0.1/hook", "headers": {"X-A": "a\r\nX-B: b"}}
    assert _error_fields(params) == [(("headers",), "value_error")]


def test_it_names_a_missing_token_secret() -> None:
    params = {"url": "http://127.0.0.1/hook", "token_secret": "ops_token"}
    with pytest.raises(ConfigError) as info:
        WebhookChannel("ops", params, {"other": "x"})
    assert str(info.value) == "channel 'ops': token_secret 'ops_token' is not a defined secret"


def test_it_has_kind_webhook() -> None:
    assert WebhookChannel.kind == "webhook"
