"""SipOptionsProbe against real SIP peers on 127.0.0.1: SIPp UAS scenarios, Kamailio, and tiny
scripted UDP/TCP peers for what a real stack will not send (garbage, stale replies)."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
import uvloop

from hotline_ops.probes import sip
from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.sip_options import SipOptionsProbe, classify
from tests.support.peers import LOCAL, SIP_DIR, Sipp, free_port, start_kamailio, stop_process

# --- peers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sipp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Sipp]]:
    """One SIPp UAS per scenario, started on first use and shared by the module's tests."""
    folder = tmp_path_factory.mktemp("sipp")
    running: dict[str, Sipp] = {}

    def get(scenario: str) -> Sipp:
        if scenario not in running:
            running[scenario] = Sipp(SIP_DIR / scenario, folder)
        return running[scenario]

    yield get
    for instance in running.values():
        instance.stop()


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port, proc = start_kamailio(tmp_path_factory.mktemp("kamailio"))
    yield port
    stop_process(proc)


Reply = Callable[[bytes], list[bytes]]


class ScriptedUdpPeer:
    """A UDP 'SIP stack' that records requests and answers each with ``reply(request)``."""

    def __init__(self, reply: Reply) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.requests: list[tuple[bytes, tuple[str, int]]] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.requests.append((data, addr))
            for datagram in self.reply(data):
                self.sock.sendto(datagram, addr)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Reply], ScriptedUdpPeer]]:
    peers: list[ScriptedUdpPeer] = []

    def start(reply: Reply) -> ScriptedUdpPeer:
        peers.append(ScriptedUdpPeer(reply))
        return peers[-1]

    yield start
    for peer in peers:
        peer.close()


def _request_headers(request: bytes) -> dict[str, str]:
    lines = request.decode().split("\r\n")
    return dict(line.split(": ", 1) for line in lines[1:] if line)


def _answer(request: bytes, status: str, **changes: str) -> bytes:
    """A response to ``request`` echoing its Via/From/To/Call-ID/CSeq, some of them changed."""
    headers = _request_headers(request)
    fields = {
        "Via": headers["Via"],
        "From": headers["From"],
        "To": headers["To"] + ";tag=peer1",
        "Call-ID": headers["Call-ID"],
        "CSeq": headers["CSeq"],
        **changes,
    }
    lines = [f"SIP/2.0 {status}", *(f"{k}: {v}" for k, v in fields.items()), "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _check(params: dict[str, Any], timeout: float = 3.0) -> ProbeResult:
    return asyncio.run(SipOptionsProbe(params).check(timeout))


def _udp(port: int, **params: Any) -> dict[str, Any]:
    return {"host": LOCAL, "port": port, "source_ip": LOCAL, **params}


# --- verdicts against SIPp ------------------------------------------------------------------


def test_it_reports_a_200_as_healthy(sipp: Callable[[str], Sipp]) -> None:
    result = _check(_udp(sipp("uas_options_200.xml").port))
    assert (result.ok, result.detail, result.classification) == (True, "200 OK", "healthy")
    assert result.metrics == {"sip_status": 200.0, "rtt_s": result.latency_s, "retransmits": 0.0}
    assert result.latency_s is not None and 0 < result.latency_s < 0.5


def test_it_counts_a_refusal_as_alive_by_default(sipp: Callable[[str], Sipp]) -> None:
    result = _check(_udp(sipp("uas_options_404.xml").port))
    assert (result.ok, result.detail, result.classification) == (
        True,
        "alive, refused probe: 404 Not Found",
        "refused",
    )
    assert result.metrics["sip_status"] == 404.0


def test_it_fails_a_refusal_when_refused_is_not_up(sipp: Callable[[str], Sipp]) -> None:
    result = _check(_udp(sipp("uas_options_404.xml").port, refused_is_up=False))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "refused probe: 404 Not Found",
        "refused",
    )


def test_it_reports_a_503_as_degraded(sipp: Callable[[str], Sipp]) -> None:
    result = _check(_udp(sipp("uas_options_503.xml").port))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "503 Service Unavailable",
        "degraded",
    )
    assert (result.metrics["sip_status"], result.metrics["retransmits"]) == (503.0, 0.0)


def test_it_retransmits_on_timer_e_until_the_deadline(sipp: Callable[[str], Sipp]) -> None:
    silent = sipp("uas_options_silent.xml")
    started = time.monotonic()
    result = _check(_udp(silent.port, deadline_s=2.0), timeout=5.0)
    elapsed = time.monotonic() - started
    assert result == ProbeResult(
        ok=False,
        latency_s=None,
        detail="no SIP reply within 2.0s",
        metrics={"sip_status": 0.0, "retransmits": 2.0},
        classification="down",
    )
    assert 2.0 <= elapsed < 2.4
    # SIPp saw one request sent three times (same branch), at 0, 0.5 and 1.5 s.
    received = silent.received()
    assert len(received) == 3 and len({message for _, message in received}) == 1
    offsets = [(stamp - received[0][0]).total_seconds() for stamp, _ in received]
    assert offsets == pytest.approx([0.0, 0.5, 1.5], abs=0.1)


def test_it_stops_at_the_check_timeout_when_shorter_than_the_deadline(
    sipp: Callable[[str], Sipp],
) -> None:
    started = time.monotonic()
    result = _check(_udp(sipp("uas_options_silent.xml").port), timeout=1.0)
    assert 1.0 <= time.monotonic() - started < 1.4
    assert (result.ok, result.detail, result.classification) == (
        False,
        "no SIP reply within 1.0s",
        "down",
    )
    assert result.metrics == {"sip_status": 0.0, "retransmits": 1.0}


def test_it_rides_out_packet_loss_with_retransmissions(sipp: Callable[[str], Sipp]) -> None:
    # SIPp drops 5 % of received OPTIONS; 300 checks, 100 at a time on the shared socket.
    probe = SipOptionsProbe(_udp(sipp("uas_options_lossy.xml").port, deadline_s=8.0))

    async def batches() -> list[ProbeResult]:
        results: list[ProbeResult] = []
        for _ in range(3):
            results += await asyncio.gather(*(probe.check(10.0) for _ in range(100)))
        return results

    results = asyncio.run(batches())
    assert {(r.ok, r.classification) for r in results} == {(True, "healthy")}
    assert sum(r.metrics["retransmits"] for r in results) >= 1
    # RTT runs from the first send: a reply to the n-th retransmission comes after its send.
    sent_at = {0.0: 0.0, 1.0: 0.5, 2.0: 1.5, 3.0: 3.5, 4.0: 7.5}
    assert all(r.metrics["rtt_s"] >= sent_at[r.metrics["retransmits"]] for r in results)


# --- the shared socket ----------------------------------------------------------------------


def test_it_shares_one_socket_and_gives_each_probe_its_own_reply(
    sipp: Callable[[str], Sipp],
) -> None:
    healthy = SipOptionsProbe(_udp(sipp("uas_options_200.xml").port))
    degraded = SipOptionsProbe(_udp(sipp("uas_options_503.xml").port))

    async def run() -> tuple[list[ProbeResult], int, list[tuple[str, int]]]:
        before = sip.udp_sockets_opened()
        results = await asyncio.gather(*(p.check(3.0) for p in [healthy, degraded] * 10))
        return results, sip.udp_sockets_opened() - before, sip.open_udp_sockets()

    results, opened, still_open = asyncio.run(run())
    assert [r.classification for r in results] == ["healthy", "degraded"] * 10
    assert [r.detail for r in results[:2]] == ["200 OK", "503 Service Unavailable"]
    assert all(r.metrics["retransmits"] == 0.0 for r in results)
    assert (opened, still_open) == (1, [])  # one socket for all 20, closed when idle


def test_it_keeps_the_socket_open_while_a_check_is_in_flight(
    sipp: Callable[[str], Sipp],
) -> None:
    silent = SipOptionsProbe(_udp(sipp("uas_options_silent.xml").port, deadline_s=0.3))

    async def run() -> list[tuple[str, int]]:
        pending = asyncio.create_task(silent.check(1.0))
        await asyncio.sleep(0.1)
        during = sip.open_udp_sockets()
        await pending
        return during

    [(ip, port)] = asyncio.run(run())
    assert ip == LOCAL and port > 0


def test_it_reports_icmp_port_unreachable_at_once_on_the_shared_socket() -> None:
    started = time.monotonic()
    result = _check(_udp(free_port()))
    assert time.monotonic() - started < 0.3
    assert result == ProbeResult(
        ok=False,
        latency_s=None,
        detail="ICMP port unreachable",
        metrics={"sip_status": 0.0, "retransmits": 0.0},
        classification="down",
    )


def test_it_detects_icmp_without_a_source_ip() -> None:
    result = _check({"host": LOCAL, "port": free_port()})
    assert (result.detail, result.classification) == ("ICMP port unreachable", "down")


def test_it_keeps_healthy_targets_unharmed_by_unreachable_ones(
    sipp: Callable[[str], Sipp],
) -> None:
    # ICMP errors for the dead targets land on the shared socket while the others send.
    healthy = SipOptionsProbe(_udp(sipp("uas_options_200.xml").port))
    dead = [SipOptionsProbe(_udp(free_port())) for _ in range(10)]

    async def run() -> list[ProbeResult]:
        probes = [p for pair in zip(dead, [healthy] * 10, strict=True) for p in pair]
        return await asyncio.gather(*(p.check(3.0) for p in probes))

    results = asyncio.run(run())
    assert [(r.detail, r.metrics["retransmits"]) for r in results] == [
        ("ICMP port unreachable", 0.0),
        ("200 OK", 0.0),
    ] * 10


def test_it_works_the_same_under_uvloop(sipp: Callable[[str], Sipp]) -> None:
    ok_port, dead_port = sipp("uas_options_200.xml").port, free_port()

    async def run() -> list[ProbeResult]:
        first = await SipOptionsProbe(_udp(dead_port)).check(2.0)
        both = await asyncio.gather(
            SipOptionsProbe(_udp(ok_port)).check(2.0), SipOptionsProbe(_udp(dead_port)).check(2.0)
        )
        return [first, *both]

    results = uvloop.run(run())
    assert [r.detail for r in results] == [
        "ICMP port unreachable",
        "200 OK",
        "ICMP port unreachable",
    ]


# --- the request, and replies a real stack would not send -------------------------------------


def test_it_sends_an_rfc3261_options_request(
    scripted: Callable[[Reply], ScriptedUdpPeer],
) -> None:
    peer = scripted(lambda request: [_answer(request, "200 OK")])
    result = _check(_udp(peer.port))
    assert result.classification == "healthy"
    [(request, (_, source_port))] = peer.requests
    text = request.decode()
    assert text.endswith("\r\n\r\n")
    lines = text.split("\r\n")[:-2]
    patterns = [
        rf"OPTIONS sip:127\.0\.0\.1:{peer.port} SIP/2\.0",
        rf"Via: SIP/2\.0/UDP 127\.0\.0\.1:{source_port};rport;branch=z9hG4bK[0-9a-f]{{16}}",
        r"Max-Forwards: 70",
        r"From: <sip:hotline-ops@127\.0\.0\.1>;tag=[0-9a-f]{12}",
        rf"To: <sip:127\.0\.0\.1:{peer.port}>",
        r"Call-ID: [0-9a-f]{20}@127\.0\.0\.1",
        r"CSeq: 1 OPTIONS",
        rf"Contact: <sip:hotline-ops@127\.0\.0\.1:{source_port}>",
        r"Content-Length: 0",
    ]
    assert len(lines) == len(patterns)
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_it_uses_target_uri_from_user_and_source_port(
    scripted: Callable[[Reply], ScriptedUdpPeer],
) -> None:
    peer = scripted(lambda request: [_answer(request, "200 OK")])
    source_port = free_port()
    params = _udp(peer.port, target_uri="sip:ping@ct.example", from_user="noc")
    _check({**params, "source_port": source_port})
    [(request, addr)] = peer.requests
    headers = _request_headers(request)
    assert request.startswith(b"OPTIONS sip:ping@ct.example SIP/2.0\r\n")
    assert addr == (LOCAL, source_port)
    assert headers["To"] == "<sip:ping@ct.example>"
    assert headers["From"].startswith("<sip:noc@127.0.0.1>;tag=")
    assert headers["Contact"] == f"<sip:noc@127.0.0.1:{source_port}>"


def test_it_ignores_garbage_stale_and_provisional_replies(
    scripted: Callable[[Reply], ScriptedUdpPeer],
) -> None:
    def reply(request: bytes) -> list[bytes]:
        via = _request_headers(request)["Via"]
        stale_via = re.sub(r"branch=\S+", "branch=z9hG4bKold1", via)
        call_id = _request_headers(request)["Call-ID"]
        headers = _request_headers(request)
        final = (  # compact forms, LF only, a folded line, odd case, a broken header line
            f"SIP/2.0 486 Busy Here\nv: {via}\nf: {headers['From']}\n"
            f"t: {headers['To']};tag=x\ni: {call_id}\ncseq: 1\n OPTIONS\n"
            "this line has no colon\nl: 0\n\n"
        ).encode()
        return [
            b"\x00\xff\xfegarbage",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n",  # no Call-ID, no CSeq
            _answer(request, "200 OK", CSeq="one OPTIONS"),
            b"\r\n\r\n",  # keep-alive
            _answer(request, "200 OK", Via=stale_via),  # a late reply to an older probe
            _answer(request, "200 OK", **{"Call-ID": "other@127.0.0.1"}),
            _answer(request, "200 OK", CSeq="2 OPTIONS"),
            _answer(request, "200 OK", CSeq="1 INFO"),
            _answer(request, "100 Trying"),
            final,
        ]

    peer = scripted(reply)
    result = _check(_udp(peer.port))
    assert (result.ok, result.detail, result.classification) == (
        True,
        "alive, refused probe: 486 Busy Here",
        "refused",
    )
    assert (result.metrics["sip_status"], result.metrics["retransmits"]) == (486.0, 0.0)
    assert len(peer.requests) == 1


def test_it_keeps_waiting_after_a_provisional_reply(
    scripted: Callable[[Reply], ScriptedUdpPeer],
) -> None:
    # The peer answers 100 Trying at once and the final reply only to a retransmission.
    seen: list[bytes] = []

    def reply(request: bytes) -> list[bytes]:
        seen.append(request)
        return [_answer(request, "100 Trying")] if len(seen) == 1 else [_answer(request, "200 OK")]

    peer = scripted(reply)
    result = _check(_udp(peer.port, deadline_s=2.0))
    # Timer E still fires once at 0.5 s in "Proceeding", then every T2 (4 s): one retransmit.
    assert (result.detail, result.metrics["retransmits"]) == ("200 OK", 1.0)
    assert result.latency_s is not None and 0.5 <= result.latency_s < 0.7
    assert len(peer.requests) == 2


# --- Kamailio, UDP and TCP --------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_it_reports_kamailio_healthy(kamailio: int, transport: str) -> None:
    result = _check({"host": LOCAL, "port": kamailio, "transport": transport})
    assert (result.ok, result.detail, result.classification) == (True, "200 OK", "healthy")
    assert (result.metrics["sip_status"], result.metrics["retransmits"]) == (200.0, 0.0)


def _tcp_peer(answer: Callable[[bytes], list[bytes]]) -> tuple[socket.socket, threading.Thread]:
    server = socket.create_server((LOCAL, 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65535)
            for piece in answer(data):
                conn.sendall(piece)
                time.sleep(0.01)
            time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def _tcp_check(answer: Callable[[bytes], list[bytes]]) -> ProbeResult:
    server, thread = _tcp_peer(answer)
    with server:
        result = _check({"host": LOCAL, "port": server.getsockname()[1], "transport": "tcp"})
        thread.join()
    return result


def test_it_frames_tcp_replies_by_content_length() -> None:
    def answer(request: bytes) -> list[bytes]:
        final = _answer(request, "200 OK").replace(
            b"Content-Length: 0\r\n\r\n", b"Content-Length: 5\r\n\r\nhello"
        )
        stale = _answer(request, "503 Service Unavailable", CSeq="7 OPTIONS")
        trying = _answer(request, "100 Trying")
        # Split mid-header and mid-body so framing, not packet boundaries, decides.
        stream = b"\r\n" + trying + stale + final
        return [stream[:40], stream[40:300], stream[300:-3], stream[-3:]]

    result = _tcp_check(answer)
    assert (result.ok, result.detail, result.classification) == (True, "200 OK", "healthy")
    assert result.metrics["retransmits"] == 0.0


def test_it_reports_a_malformed_tcp_reply() -> None:
    result = _tcp_check(lambda request: [b"HTTP/1.1 400 Bad Request\r\n\r\n"])
    assert result == ProbeResult(
        ok=False,
        latency_s=None,
        detail="malformed SIP reply",
        metrics={"sip_status": 0.0, "retransmits": 0.0},
        classification="down",
    )


def test_it_reports_a_tcp_peer_closing_without_reply() -> None:
    result = _tcp_check(lambda request: [])
    assert (result.detail, result.classification) == (
        "connection closed before a SIP reply",
        "down",
    )


def test_it_reports_a_refused_tcp_connection() -> None:
    result = _check({"host": LOCAL, "port": free_port(socket.SOCK_STREAM), "transport": "tcp"})
    assert (result.ok, result.detail, result.classification) == (False, "connect refused", "down")
    assert result.metrics == {"sip_status": 0.0, "retransmits": 0.0}


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        ([200, 202, 299], "healthy"),
        ([301, 302, 401, 403, 404, 405, 407, 480, 483, 484, 486, 501], "refused"),
        ([400, 408, 488, 500, 503, 504, 513, 600, 603], "degraded"),
    ],
)
def test_it_classifies_final_statuses(statuses: list[int], verdict: str) -> None:
    assert {classify(status) for status in statuses} == {verdict}


def test_it_parses_compact_lf_only_and_folded_headers() -> None:
    message = (
        b"\r\nSIP/2.0 200 OK\n"
        b"v: SIP/2.0/UDP 10.0.0.1:5060;rport=5070;branch=z9hG4bKabc, SIP/2.0/UDP 10.0.0.2\n"
        b"Via: SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKlower\n"
        b"I: a1@host\n"
        b"CSEQ:   42\n\t options\n"
        b"f: <sip:a@b>;tag=1\n"
        b"l: 3\n\nabcdef"
    )
    response = sip.parse_message(message)
    assert response is not None
    assert (response.status, response.reason, response.label) == (200, "OK", "200 OK")
    assert (response.branch, response.call_id, response.cseq) == (
        "z9hG4bKabc",
        "a1@host",
        (42, "OPTIONS"),
    )
    assert response.values("via")[1] == "SIP/2.0/UDP 10.0.0.3;branch=z9hG4bKlower"
    assert (response.first("from"), response.body) == ("<sip:a@b>;tag=1", b"abc")


def test_it_treats_requests_and_keepalives_as_no_reply() -> None:
    assert sip.parse_message(b"OPTIONS sip:x SIP/2.0\r\nVia: y\r\n\r\n") is None
    assert sip.parse_message(b"\r\n\r\n") is None


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\xffgarbage", "not a SIP status line"),
        (b"SIP/2.0 99 Odd\r\n\r\n", "not a SIP status line"),
        (b"SIP/2.0 200 OK\r\nVia: a\r\nCall-ID: b\r\n\r\n", "reply without cseq"),
        (b"SIP/2.0 200 OK\r\nVia: a\r\nCall-ID: b\r\nCSeq: x\r\n\r\n", "malformed CSeq"),
        (b"SIP/2.0 200 OK\r\nv: a\r\ni: b\r\nCSeq: 1 A\r\nl: -1\r\n\r\n", "malformed Content"),
    ],
)
def test_it_rejects_malformed_replies(data: bytes, error: str) -> None:
    with pytest.raises(sip.SipParseError, match=error):
        sip.parse_message(data)


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError, match="retries\n  Extra inputs"):
        SipOptionsProbe({"host": LOCAL, "retries": 3})


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"transport": "tls"}, "transport\n  Input should be 'udp' or 'tcp'"),
        ({"target_uri": "http://x"}, "'http://x' is not a sip: or sips: URI"),
        ({"from_user": "a b"}, "from_user 'a b' has characters not allowed"),
        ({"source_ip": "localhost"}, "source_ip 'localhost' is not an IP address"),
        ({"source_ip": "::1"}, "source_ip and host are different IP versions"),
        ({"host": "ct.example:5060"}, "'ct.example:5060' is not a host name or IP address"),
        ({"deadline_s": 0}, "deadline_s\n  Input should be greater than 0"),
    ],
)
def test_it_rejects_bad_params(params: dict[str, Any], error: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(error)):
        SipOptionsProbe({"host": LOCAL, **params})
