"""parse_response: the HTTP probe's response parser, fed byte buffers as they arrive."""

from __future__ import annotations

import pytest

from hotline_ops.probes.base import TargetError
from hotline_ops.probes.http import parse_response

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nstatus: ok"


def test_it_waits_while_the_response_is_incomplete():
    assert [parse_response(OK[:n], False, 1000, eof=False) for n in (0, 10, 40, 45)] == [None] * 4


def test_it_returns_status_and_body_once_complete():
    assert parse_response(OK, False, 1000, eof=False) == (200, b"status: ok")


def test_it_skips_an_interim_1xx_response():
    data = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK
    assert parse_response(data, False, 1000, eof=False) == (200, b"status: ok")


def test_it_reads_a_chunked_body_split_anywhere():
    data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsta\r\n3\r\ntus\r\n0\r\n\r\n"
    # Complete at the last chunk's size line; trailers are not waited for.
    complete_at = len(data) - 2
    partial = [parse_response(data[:n], False, 1000, eof=False) for n in range(complete_at)]
    assert partial == [None] * complete_at
    assert parse_response(data, False, 1000, eof=False) == (200, b"status")


def test_it_reads_a_body_without_length_only_at_eof():
    data = b"HTTP/1.0 200 OK\r\n\r\nall of it"
    assert parse_response(data, False, 1000, eof=False) is None
    assert parse_response(data, False, 1000, eof=True) == (200, b"all of it")


def test_it_stops_at_the_cap_without_waiting_for_eof():
    data = b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 50
    assert parse_response(data, False, 20, eof=False) == (200, b"x" * 20)


def test_it_does_not_wait_for_a_body_after_head():
    assert parse_response(OK[:40], True, 1000, eof=False) == (200, b"")


def test_it_says_mid_response_when_the_body_is_cut_short():
    with pytest.raises(EOFError):
        parse_response(OK[:-3], False, 1000, eof=True)


def test_it_says_closed_before_a_response_on_an_empty_reply():
    with pytest.raises(TargetError, match="connection closed before a response"):
        parse_response(b"", False, 1000, eof=True)


def test_it_rejects_a_malformed_status_line():
    with pytest.raises(TargetError, match="malformed status line"):
        parse_response(b"SSH-2.0-OpenSSH_9.2\r\n", False, 1000, eof=False)


def test_it_rejects_a_line_longer_than_64_kib():
    with pytest.raises(TargetError, match="response line too long"):
        parse_response(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70_000, False, 1000, eof=False)
