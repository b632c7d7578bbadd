"""SipRegisterProbe against real registrars on 127.0.0.1 (SIPp verifying the digest, Kamailio
with auth/registrar/usrloc in memory), scripted UDP peers, and RFC digest test vectors."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.sip_register import (
    DigestChallenge,
    SipRegisterProbe,
    authorization,
    digest_response,
    parse_challenge,
)
from tests.support.peers import LOCAL, SIP_DIR, Sipp, free_port, start_kamailio, stop_process

PASSWORD = "s3cret-Pa55"  # what the SIPp scenarios and kamailio.cfg accept for probe-ct
ENV_OK, ENV_BAD = "HOTLINE_TEST_SIP_PASSWORD", "HOTLINE_TEST_SIP_PASSWORD_BAD"


@pytest.fixture(autouse=True)
def passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_OK, PASSWORD)
    monkeypatch.setenv(ENV_BAD, "not-the-password")


# --- peers --------------------------------------------------------------------------------


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[[str], Sipp]]:
    """A fresh SIPp registrar per test, so its message trace holds only that test's traffic."""
    running: list[Sipp] = []

    def start(scenario: str) -> Sipp:
        running.append(Sipp(SIP_DIR / scenario, tmp_path))
        return running[-1]

    yield start
    for instance in running:
        instance.stop()


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port, proc = start_kamailio(tmp_path_factory.mktemp("kamailio"))
    yield port
    stop_process(proc)


class ScriptedUdpPeer:
    """A UDP registrar stand-in: records requests, answers with ``reply(request, n)``."""

    def __init__(self, reply: Callable[[bytes, int], bytes | None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.requests: list[bytes] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.requests.append(data)
            answer = self.reply(data, len(self.requests))
            if answer is not None:
                self.sock.sendto(answer, addr)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[bytes, int], bytes | None]], ScriptedUdpPeer]]:
    peers: list[ScriptedUdpPeer] = []

    def start(reply: Callable[[bytes, int], bytes | None]) -> ScriptedUdpPeer:
        peers.append(ScriptedUdpPeer(reply))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


def _headers(request: bytes) -> dict[str, str]:
    lines = request.decode().split("\r\n")
    return dict(line.split(": ", 1) for line in lines[1:] if line)


def _answer(request: bytes, status: str, *extra: str) -> bytes:
    h = _headers(request)
    lines = [f"SIP/2.0 {status}", f"Via: {h['Via']}", f"From: {h['From']}",
             f"To: {h['To']};tag=reg1", f"Call-ID: {h['Call-ID']}", f"CSeq: {h['CSeq']}",
             *extra, "Content-Length: 0"]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _params(port: int, **params: Any) -> dict[str, Any]:
    base = {"host": LOCAL, "port": port, "user": "probe-ct", "domain": "hotline.test"}
    return {**base, "password_env": ENV_OK, **params}


def _check(params: dict[str, Any], timeout: float = 3.0) -> ProbeResult:
    return asyncio.run(SipRegisterProbe(params).check(timeout))


# --- against SIPp (it verifies our digest itself) --------------------------------------------


@pytest.mark.parametrize("scenario", ["uas_register_qop.xml", "uas_register_plain.xml"])
def test_it_registers_with_digest_auth(sipp: Callable[[str], Sipp], scenario: str) -> None:
    result = _check(_params(sipp(scenario).port))
    assert (result.ok, result.detail, result.classification) == (
        True,
        "registered for 120s",
        "healthy",
    )
    assert result.metrics == {"sip_status": 200.0, "rtt_s": result.latency_s, "expires_s": 120.0}


def test_it_sends_a_challenge_answer_then_removes_its_binding(
    sipp: Callable[[str], Sipp],
) -> None:
    registrar = sipp("uas_register_qop.xml")
    _check(_params(registrar.port, expires=600))
    first, second, third = (message for _, message in registrar.received())
    assert first.startswith("REGISTER sip:hotline.test SIP/2.0\n")
    for message, cseq in ((first, 1), (second, 2), (third, 3)):
        assert f"\nCSeq: {cseq} REGISTER\n" in message
        assert "\nFrom: <sip:probe-ct@hotline.test>;tag=" in message
        assert "\nTo: <sip:probe-ct@hotline.test>\n" in message
    assert "Authorization" not in first and "\nExpires: 600\n" in first
    call_ids = {re.search(r"\nCall-ID: (\S+)\n", m).group(1) for m in (first, second, third)}  # type: ignore[union-attr]
    assert len(call_ids) == 1
    assert re.search(
        r'\nAuthorization: Digest username="probe-ct", realm="hotline.test", '
        r'nonce="7c0a1bd34f2e9a58", uri="sip:hotline.test", response="[0-9a-f]{32}", '
        r'algorithm=MD5, cnonce="[0-9a-f]{16}", qop=auth, nc=00000001, '
        r'opaque="5ccc069c403ebaf9"\n',
        second,
    )
    assert re.search(r"\nContact: <sip:probe-ct@127\.0\.0\.1:\d+>;expires=0\n", third)
    assert "\nExpires: 0\n" in third and ", nc=00000002," in third


def test_it_keeps_its_binding_when_unregister_is_off(sipp: Callable[[str], Sipp]) -> None:
    registrar = sipp("uas_register_qop.xml")
    result = _check(_params(registrar.port, unregister=False))
    assert result.detail == "registered for 120s"
    assert len(registrar.received()) == 2


def test_it_reports_a_403_as_refused_registration(sipp: Callable[[str], Sipp]) -> None:
    result = _check(_params(sipp("uas_register_qop.xml").port, password_env=ENV_BAD))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "registration refused: 403 Forbidden",
        "refused",
    )
    assert result.metrics == {"sip_status": 403.0, "rtt_s": result.latency_s}


def test_it_never_reveals_the_password(sipp: Callable[[str], Sipp]) -> None:
    registrar = sipp("uas_register_qop.xml")
    probe = SipRegisterProbe(_params(registrar.port))
    result = asyncio.run(probe.check(3.0))
    assert result.ok
    for text in (repr(probe), repr(probe.params), repr(result), registrar.wire()):
        assert PASSWORD not in text


# --- against Kamailio (auth + registrar + usrloc) -------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_it_registers_at_kamailio(kamailio: int, transport: str) -> None:
    result = _check(_params(kamailio, transport=transport))
    assert (result.ok, result.detail, result.classification) == (
        True,
        "registered for 120s",  # kamailio caps the requested 300 s at max_expires
        "healthy",
    )
    assert (result.metrics["sip_status"], result.metrics["expires_s"]) == (200.0, 120.0)


def test_it_reports_a_repeated_challenge_as_wrong_credentials(kamailio: int) -> None:
    result = _check(_params(kamailio, password_env=ENV_BAD))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "registration refused: 401 Unauthorized",
        "refused",
    )


# --- failures without a registrar answer ------------------------------------------------------


def test_it_reports_no_reply_as_down() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((LOCAL, 0))
        result = _check(_params(silent.getsockname()[1], deadline_s=1.0))
    assert result == ProbeResult(
        ok=False,
        latency_s=None,
        detail="no SIP reply within 1.0s",
        metrics={"sip_status": 0.0, "retransmits": 1.0},
        classification="down",
    )


def test_it_reports_icmp_port_unreachable() -> None:
    result = _check(_params(free_port()))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "ICMP port unreachable",
        "down",
    )


def test_it_reports_a_missing_password_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_OK)
    result = _check(_params(free_port()))
    assert result == ProbeResult(
        ok=False,
        latency_s=None,
        detail=f"password env var {ENV_OK} is not set",
        metrics={"sip_status": 0.0},
        classification="misconfigured",
    )


# --- challenges a scripted registrar sends ----------------------------------------------------


def _expected_response(request: bytes, header: str, realm: str, nonce: str) -> str:
    value = _headers(request)[header]
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', value))
    return digest_response(
        algorithm=fields["algorithm"],
        username="probe-ct",
        realm=realm,
        password=PASSWORD,
        method="REGISTER",
        uri="sip:hotline.test",
        nonce=nonce,
        qop=fields.get("qop"),
        nc=fields.get("nc", ""),
        cnonce=fields.get("cnonce", ""),
    )


def test_it_answers_a_proxy_challenge_and_one_stale_nonce(
    scripted: Callable[[Callable[[bytes, int], bytes | None]], ScriptedUdpPeer],
) -> None:
    challenges = [
        'Digest realm="r1", nonce="n1", qop="auth-int,auth"',
        'Digest realm="r1", nonce="n2", stale=TRUE, algorithm=SHA-256',
    ]

    def reply(request: bytes, n: int) -> bytes | None:
        if n <= len(challenges):
            challenge = f"Proxy-Authenticate: {challenges[n - 1]}"
            return _answer(request, "407 Proxy Authentication Required", challenge)
        contact = _headers(request)["Contact"]
        return _answer(request, "200 OK", f"Contact: {contact};expires=90", "Expires: 300")

    peer = scripted(reply)
    result = _check(_params(peer.port, unregister=False))
    assert (result.ok, result.detail, result.metrics["expires_s"]) == (
        True,
        "registered for 90s",
        90.0,
    )
    _, second, third = peer.requests
    for request, nonce in ((second, "n1"), (third, "n2")):
        value = _headers(request)["Proxy-Authorization"]
        assert (
            f'response="{_expected_response(request, "Proxy-Authorization", "r1", nonce)}"' in value
        )
    assert "qop=auth," in _headers(second)["Proxy-Authorization"]
    assert "algorithm=SHA-256" in _headers(third)["Proxy-Authorization"]


def test_it_falls_back_to_the_expires_header(
    scripted: Callable[[Callable[[bytes, int], bytes | None]], ScriptedUdpPeer],
) -> None:
    peer = scripted(lambda request, n: _answer(request, "200 OK", "Expires: 45"))
    result = _check(_params(peer.port, unregister=False))
    assert (result.ok, result.detail, result.metrics["expires_s"]) == (
        True,
        "registered for 45s",
        45.0,
    )
    assert len(peer.requests) == 1  # no challenge, no credentials sent


def test_it_reports_an_unanswerable_challenge(
    scripted: Callable[[Callable[[bytes, int], bytes | None]], ScriptedUdpPeer],
) -> None:
    peer = scripted(
        lambda request, n: _answer(
            request,
            "401 Unauthorized",
            'WWW-Authenticate: Digest realm="r", nonce="n", algorithm=AKAv1-MD5',
        )
    )
    result = _check(_params(peer.port))
    assert (result.ok, result.detail) == (False, "registration refused: 401 Unauthorized")
    assert len(peer.requests) == 1


def test_it_reports_a_server_error_as_degraded(
    scripted: Callable[[Callable[[bytes, int], bytes | None]], ScriptedUdpPeer],
) -> None:
    peer = scripted(lambda request, n: _answer(request, "503 Service Unavailable"))
    result = _check(_params(peer.port))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "registration refused: 503 Service Unavailable",
        "degraded",
    )


# --- digest (pure) ----------------------------------------------------------------------------

RFC2617 = {"username": "Mufasa", "realm": "testrealm@host.com", "method": "GET",
           "uri": "/dir/index.html", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093"}  # fmt: skip
RFC7616 = {"username": "Mufasa", "realm": "http-auth@example.org", "method": "GET",
           "uri": "/dir/index.html", "password": "Circle of Life", "qop": "auth",
           "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "nc": "00000001",
           "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"}  # fmt: skip


def test_it_computes_the_rfc2617_qop_auth_example() -> None:
    response = digest_response(
        algorithm="MD5", password="Circle Of Life", qop="auth", nc="00000001",
        cnonce="0a4f113b", **RFC2617,
    )  # fmt: skip
    assert response == "6629fae49393a05397450978507c4ef1"


def test_it_computes_the_rfc2069_example_without_qop() -> None:
    # RFC 2069's printed value has a known erratum; this is the corrected one.
    response = digest_response(algorithm="MD5", password="CircleOfLife", **RFC2617)
    assert response == "1949323746fe6a43ef61f9606e7febea"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_it_computes_the_rfc7616_examples(algorithm: str, expected: str) -> None:
    assert digest_response(algorithm=algorithm, **RFC7616) == expected


def test_it_builds_an_authorization_header() -> None:
    challenge = DigestChallenge(
        realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop=("auth", "auth-int"), opaque="5ccc069c403ebaf9f0171e9517f40e41",
    )  # fmt: skip
    value = authorization(
        challenge, username="Mufasa", password="Circle Of Life", method="GET",
        uri="/dir/index.html", cnonce="0a4f113b",
    )  # fmt: skip
    assert value == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
        'qop=auth, nc=00000001, opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )


def test_it_parses_challenges() -> None:
    assert parse_challenge(
        'Digest realm="a \\"b\\", c", nonce=xyz, qop="auth, auth-int", algorithm=md5-sess, '
        "stale=true"
    ) == DigestChallenge(
        realm='a "b", c', nonce="xyz", algorithm="MD5-SESS", qop=("auth", "auth-int"), stale=True
    )
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Digest realm="x"') is None  # no nonce


# --- params -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"password": PASSWORD}, "password\n  Extra inputs are not permitted"),
        ({"password_env": "not a name"}, "password_env must name an env"),
        ({"user": "probe ct"}, "user 'probe ct' has characters not allowed"),
        ({"expires": 0}, "expires\n  Input should be greater than or equal to 1"),
        ({"domain": "a b"}, "'a b' is not a SIP domain"),
    ],
)
def test_it_rejects_bad_params(params: dict[str, Any], error: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(error)):
        SipRegisterProbe(_params(5060, **params))
