"""Probe kinds by name, imported on first use so unused kinds cost nothing at startup."""

from __future__ import annotations

import importlib
from typing import Any

from hotline_ops.errors import ProbeError
from hotline_ops.probes.base import Probe

PROBE_KINDS: dict[str, str] = {
    "tcp": "hotline_ops.probes.tcp.TcpProbe",
    "http": "hotline_ops.probes.http.HttpProbe",
    "fake": "hotline_ops.probes.fake.FakeProbe",
    "sip_options": "hotline_ops.probes.sip_options.SipOptionsProbe",
    "sip_register": "hotline_ops.probes.sip_register.SipRegisterProbe",
    "snmp": "hotline_ops.probes.snmp.SnmpProbe",
    "ssh": "hotline_ops.probes.ssh.SshProbe",
    "host": "hotline_ops.probes.host.HostProbe",
    "db": "hotline_ops.probes.db.DbProbe",
    "asr_accuracy": "hotline_ops.probes.asr_accuracy.AsrAccuracyProbe",
    "ticket_service": "hotline_ops.probes.ticket_service.TicketServiceProbe",
}


def probe_class(kind: str) -> type[Probe]:
    """The Probe subclass registered as ``kind``; ProbeError if there is none."""
    path = PROBE_KINDS.get(kind)
    if path is None:
        known = ", ".join(sorted(PROBE_KINDS))
        raise ProbeError(f"unknown probe kind '{kind}' (known: {known})")
    module_name, _, class_name = path.rpartition(".")
    cls: type[Probe] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_probe(kind: str, params: dict[str, Any]) -> Probe:
    """A ready probe; pydantic.ValidationError propagates so the caller can name file:line."""
    return probe_class(kind)(params)
