"""Probe kinds resolve lazily by name."""

from __future__ import annotations

import pydantic
import pytest

from hotline_ops.errors import ProbeError
from hotline_ops.probes.registry import PROBE_KINDS, build_probe, probe_class


def test_it_names_the_unknown_kind_and_the_known_ones() -> None:
    with pytest.raises(ProbeError) as caught:
        probe_class("icmp")
    known = ", ".join(sorted(PROBE_KINDS))
    assert str(caught.value) == f"unknown probe kind 'icmp' (known: {known})"
    assert {"fake", "http", "tcp", "sip_options", "snmp"} <= set(PROBE_KINDS)


def test_it_gives_probe_errors_exit_code_6() -> None:
    with pytest.raises(ProbeError) as caught:
        probe_class("icmp")
    assert caught.value.exit_code == 6


@pytest.mark.parametrize("kind", sorted(PROBE_KINDS))
def test_it_imports_each_registered_kind(kind: str) -> None:
    assert probe_class(kind).kind == kind


def test_it_builds_a_probe_with_validated_params() -> None:
    probe = build_probe("tcp", {"host": "127.0.0.1", "port": "8080"})
    assert probe.params.model_dump() == {"host": "127.0.0.1", "port": 8080}


def test_it_lets_validation_errors_propagate() -> None:
    with pytest.raises(pydantic.ValidationError, match="port\n  Field required"):
        build_probe("tcp", {"host": "127.0.0.1"})
