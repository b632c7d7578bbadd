"""Probes: one async check against one target, reported as a ProbeResult.

Probe kinds are imported lazily through the registry so that loading a config with only TCP
checks never pays for the HTTP/TLS machinery.
"""

from __future__ import annotations

from hotline_ops.probes.base import Probe, ProbeResult
from hotline_ops.probes.registry import PROBE_KINDS, build_probe, probe_class

__all__ = ["PROBE_KINDS", "Probe", "ProbeResult", "build_probe", "probe_class"]
