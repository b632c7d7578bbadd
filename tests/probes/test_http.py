"""HttpProbe against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.http import HttpProbe


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


def _chunked(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    for piece in (b"sta", b"tus: ", b"ok"):
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
    handler.wfile.write(b"0\r\n\r\n")


def _until_eof(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.end_headers()
    handler.close_connection = True
    handler.wfile.write(b"status: ok, no length")


ROUTES: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {
    "/ok": lambda h: _send(h, 200, b"status: ok"),
    "/down": lambda h: _send(h, 503, b"maintenance"),
    "/created": lambda h: _send(h, 201, b"made"),
    "/big": lambda h: _send(h, 200, b"x" * 100 + b"status: ok"),
    "/chunked": _chunked,
    "/eof": _until_eof,
}


class _RecordingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RecordingServer

    def do_GET(self) -> None:
        self.server.requests.append((self.requestline, dict(self.headers)))
        ROUTES[self.path](self)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _serving(server: _RecordingServer) -> Iterator[_RecordingServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[_RecordingServer]:
    with _serving(_RecordingServer()) as running:
        yield running


@pytest.fixture
def base_url(server: _RecordingServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key_file), "-out", str(cert_file)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert_file, key_file


@pytest.fixture
def https_url(cert: tuple[Path, Path]) -> Iterator[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    server = _RecordingServer()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serving(server) as running:
        yield f"https://127.0.0.1:{running.server_address[1]}"


def _not_after(cert_file: Path) -> float:
    out = subprocess.run(
        ["openssl", "x509", "-enddate", "-noout", "-in", str(cert_file)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return float(ssl.cert_time_to_seconds(out.strip().removeprefix("notAfter=")))


def _check(
    params: dict[str, Any], timeout: float = 5.0, wall_clock: Callable[[], float] = time.time
) -> ProbeResult:
    return asyncio.run(HttpProbe(params, wall_clock=wall_clock).check(timeout))


def test_it_reports_ok_for_expected_status_and_matching_body(base_url: str) -> None:
    result = _check({"url": f"{base_url}/ok", "body_regex": r"status: ok"})
    assert (result.ok, result.detail, result.metrics) == (True, "HTTP 200", {"http_status": 200.0})


def test_it_measures_latency_of_the_full_response(base_url: str) -> None:
    result = _check({"url": f"{base_url}/ok"})
    assert result.latency_s is not None and 0 < result.latency_s < 5.0


def test_it_fails_on_an_unexpected_status(base_url: str) -> None:
    result = _check({"url": f"{base_url}/down"})
    assert (result.ok, result.detail, result.metrics) == (False, "HTTP 503", {"http_status": 503.0})


def test_it_accepts_a_single_int_as_expect_status(base_url: str) -> None:
    result = _check({"url": f"{base_url}/created", "expect_status": 201})
    assert (result.ok, result.detail) == (True, "HTTP 201")


def test_it_fails_when_the_body_does_not_match_the_regex(base_url: str) -> None:
    result = _check({"url": f"{base_url}/ok", "body_regex": r"healthy\d"})
    assert (result.ok, result.detail) == (False, r"body did not match 'healthy\d'")


def test_it_decodes_a_chunked_body(base_url: str) -> None:
    result = _check({"url": f"{base_url}/chunked", "body_regex": "^status: ok$"})
    assert (result.ok, result.detail) == (True, "HTTP 200")


def test_it_reads_a_body_without_length_to_eof(base_url: str) -> None:
    result = _check({"url": f"{base_url}/eof", "body_regex": "ok, no length$"})
    assert (result.ok, result.detail) == (True, "HTTP 200")


def test_it_caps_the_body_at_max_body_bytes(base_url: str) -> None:
    result = _check({"url": f"{base_url}/big", "body_regex": "ok", "max_body_bytes": 100})
    assert (result.ok, result.detail) == (False, "body did not match 'ok'")


def test_it_does_not_wait_for_a_body_after_head(base_url: str) -> None:
    result = _check({"url": f"{base_url}/ok", "method": "head"}, timeout=2.0)
    assert (result.ok, result.detail) == (True, "HTTP 200")


def test_it_sends_host_user_agent_and_connection_close(
    server: _RecordingServer, base_url: str
) -> None:
    _check({"url": f"{base_url}/ok?probe=1", "headers": {"X-Probe": "yes"}})
    port = server.server_address[1]
    [(requestline, headers)] = server.requests
    assert requestline == "GET /ok?probe=1 HTTP/1.1"
    assert headers == {
        "Host": f"127.0.0.1:{port}",
        "User-Agent": "hotline-ops/0.1",
        "Accept": "*/*",
        "X-Probe": "yes",
        "Connection": "close",
    }


def test_it_times_out_on_a_server_that_never_answers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts via backlog, never replies
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        result = _check({"url": url}, timeout=0.5)
        elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s, result.detail) == (False, None, "timeout after 0.5s")
    assert 0.5 <= elapsed < 1.0


def test_it_reports_a_refused_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    result = _check({"url": f"http://127.0.0.1:{port}/"})
    assert (result.ok, result.latency_s, result.detail) == (False, None, "connect refused")


def test_it_rejects_a_non_http_scheme() -> None:
    with pytest.raises(pydantic.ValidationError, match="url scheme must be http or https"):
        HttpProbe({"url": "ftp://127.0.0.1/"})


def test_it_rejects_a_url_without_host() -> None:
    with pytest.raises(pydantic.ValidationError, match="url has no host"):
        HttpProbe({"url": "http:///health"})


def test_it_rejects_a_regex_that_does_not_compile() -> None:
    with pytest.raises(pydantic.ValidationError, match="body_regex does not compile"):
        HttpProbe({"url": "http://127.0.0.1/", "body_regex": "(unclosed"})


def test_it_rejects_a_header_value_with_a_line_break() -> None:
    with pytest.raises(pydantic.ValidationError, match="header 'X-A' contains a line break"):
        HttpProbe({"url": "http://127.0.0.1/", "headers": {"X-A": "1\r\nX-B: 2"}})


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError, match="expect_body\n  Extra inputs"):
        HttpProbe({"url": "http://127.0.0.1/", "expect_body": "ok"})


def test_it_verifies_https_against_ca_file(https_url: str, cert: tuple[Path, Path]) -> None:
    result = _check({"url": f"{https_url}/ok", "ca_file": str(cert[0])})
    assert (result.ok, result.detail, result.metrics["http_status"]) == (True, "HTTP 200", 200.0)


def test_it_reports_tls_days_left_from_the_wall_clock(
    https_url: str, cert: tuple[Path, Path]
) -> None:
    pinned = _not_after(cert[0]) - 10 * 86_400
    result = _check({"url": f"{https_url}/ok", "ca_file": str(cert[0])}, wall_clock=lambda: pinned)
    assert result.metrics["tls_days_left"] == 10.0


def test_it_fails_when_the_certificate_expires_within_warn_days(
    https_url: str, cert: tuple[Path, Path]
) -> None:
    pinned = _not_after(cert[0]) - 10 * 86_400
    params = {"url": f"{https_url}/ok", "ca_file": str(cert[0]), "tls_warn_days": 20}
    result = _check(params, wall_clock=lambda: pinned)
    assert (result.ok, result.detail) == (False, "TLS certificate expires in 10 days")


def test_it_fails_verification_without_ca_file(https_url: str) -> None:
    result = _check({"url": f"{https_url}/ok"})
    assert (result.ok, result.latency_s) == (False, None)
    assert result.detail.startswith("TLS verification failed: ")
    assert "self" in result.detail and "signed certificate" in result.detail


def test_it_omits_tls_days_left_when_verification_is_off(https_url: str) -> None:
    result = _check({"url": f"{https_url}/ok", "tls_verify": False})
    assert (result.ok, result.metrics) == (True, {"http_status": 200.0})
