"""TcpProbe against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pydantic
import pytest

from hotline_ops.probes.tcp import TcpProbe
from tests.support.process import free_port


def test_it_connects_to_a_listening_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        probe = TcpProbe({"host": "127.0.0.1", "port": listener.getsockname()[1]})
        result = asyncio.run(probe.check(2.0))
    assert (result.ok, result.detail, result.metrics) == (True, "connected", {})


def test_it_measures_connect_latency() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        probe = TcpProbe({"host": "127.0.0.1", "port": listener.getsockname()[1]})
        result = asyncio.run(probe.check(2.0))
    assert result.latency_s is not None and 0 < result.latency_s < 2.0


def test_it_reports_a_refused_connection() -> None:
    probe = TcpProbe({"host": "127.0.0.1", "port": free_port()})
    result = asyncio.run(probe.check(2.0))
    assert (result.ok, result.latency_s, result.detail) == (False, None, "connect refused")


def test_it_rejects_an_out_of_range_port() -> None:
    with pytest.raises(pydantic.ValidationError, match="port\n  Input should be less than"):
        TcpProbe({"host": "127.0.0.1", "port": 70000})


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError, match="hostname\n  Extra inputs"):
        TcpProbe({"host": "127.0.0.1", "port": 80, "hostname": "x"})
