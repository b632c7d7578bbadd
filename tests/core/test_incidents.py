"""Incident lifecycle: open -> acknowledged -> resolved, everything else refused by name."""

from __future__ import annotations

import pytest

from hotline_ops.core.incidents import IncidentStatus, TransitionRefused, is_open, next_status

OPEN, ACKED, RESOLVED = IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED


def test_it_acknowledges_an_open_incident():
    assert next_status(OPEN, "ack") == ACKED


def test_it_resolves_an_open_incident():
    assert next_status(OPEN, "resolve") == RESOLVED


def test_it_resolves_an_acknowledged_incident():
    assert next_status(ACKED, "resolve") == RESOLVED


def test_it_refuses_to_acknowledge_twice():
    with pytest.raises(TransitionRefused) as info:
        next_status(ACKED, "ack")
    assert str(info.value) == "cannot ack an incident that is acknowledged (only open)"


def test_it_refuses_to_acknowledge_a_resolved_incident():
    with pytest.raises(TransitionRefused) as info:
        next_status(RESOLVED, "ack")
    assert str(info.value) == "cannot ack an incident that is resolved (only open)"


def test_it_refuses_to_resolve_a_resolved_incident():
    with pytest.raises(TransitionRefused) as info:
        next_status(RESOLVED, "resolve")
    assert str(info.value) == (
        "cannot resolve an incident that is resolved (only acknowledged, mitigated, open, plan)"
    )


def test_it_refuses_an_unknown_action():
    with pytest.raises(TransitionRefused) as info:
        next_status(OPEN, "escalate")
    assert str(info.value) == "unknown action 'escalate'"


def test_it_counts_every_status_but_resolved_as_open():
    assert [is_open(s) for s in (OPEN, ACKED, RESOLVED)] == [True, True, False]


def test_it_reopens_a_resolved_incident():
    assert next_status(IncidentStatus.RESOLVED, "reopen") == OPEN


def test_it_refuses_to_reopen_an_open_incident():
    with pytest.raises(TransitionRefused) as info:
        next_status(OPEN, "reopen")
    assert str(info.value) == "cannot reopen an incident that is open (only resolved)"
