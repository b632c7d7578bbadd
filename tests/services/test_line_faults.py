"""Line faults end to end (issue: line inventory): a carrier SIP trunk on a real SIPp UAS and an
E1 span on a real snmpd, both generated from probes/lines.yaml, checked by the real probes in
cycles the test drives (the FixedClock moves 10 s per cycle), turning hard DOWN after
``attempts`` failures, opening the incident, and UP again after ``rise`` successes."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from hotline_ops.clock import FixedClock
from hotline_ops.services import incidents, probing
from hotline_ops.store.models import Incident
from tests.conftest import T0
from tests.support.content import LEVELS, write_content
from tests.support.peers import SIP_DIR, Sipp, SnmpAgent, span

UAS = SIP_DIR / "uas_options_200.xml"
COMMUNITY_ENV = "HOTLINE_TEST_GW_COMMUNITY"
CADENCE = {"interval": "10s", "timeout": "2s", "attempts": 3, "rise": 2}
# A span's check walks ~600 OIDs through snmpd's pass_persist helper, one pipe round trip
# each: on a box busy with a parallel suite that took over 2 s and failed a clean cycle.
# The cycles are the FixedClock's, so a longer real timeout changes no asserted time.
SPAN_CADENCE = {**CADENCE, "timeout": "8s"}
# As in the repo's incidents/levels.yaml: a line into the hotline down is a core fault.
LINE_LEVELS = copy.deepcopy(LEVELS)
LINE_LEVELS["rules"].append(
    {"name": "line down", "match": {"component": ["trunk", "span"]}, "level": 2}
)
LOSS_OF_FRAME = 32  # dsx1LineStatus bit


def line_app(tmp_path: Path, make_app, store_url: str, inventory: dict):
    root = write_content(tmp_path / "site", targets=[], levels=LINE_LEVELS)
    (root.parent / "probes" / "lines.yaml").write_text(
        yaml.safe_dump(inventory, allow_unicode=True)
    )
    app = make_app(root, store_url)
    app.test_recorder = probing.Recorder(app)
    return app


def cycle(app, clock: FixedClock) -> probing.Outcome:
    """One probe interval: the clock moves 10 s, the real probe checks the one target."""
    clock.advance(timedelta(seconds=10))
    (outcome,) = asyncio.run(probing.run_targets(app, app.test_recorder))
    return outcome


def flips(outcomes: list[probing.Outcome]) -> list[tuple[int, str]]:
    """(1-based cycle, new status) of every hard flip."""
    return [(i, str(o.flip.new)) for i, o in enumerate(outcomes, 1) if o.flip is not None]


def all_incidents(app) -> list[Incident]:
    with app.store.session() as session:
        return incidents.get_all(session)


# --- a SIP trunk on SIPp ----------------------------------------------------------------------


@pytest.fixture
def uas(tmp_path: Path) -> Iterator[list[Sipp]]:
    """The carrier's side: a SIPp UAS answering OPTIONS with 200 (restarts appended)."""
    running = [Sipp(UAS, tmp_path)]
    yield running
    for instance in running:
        instance.stop()


@pytest.fixture
def trunk_app(tmp_path, make_app, store_url, uas):
    trunk = {"carrier": "中国电信", "host": "127.0.0.1", "port": uas[0].port,
             "options": {"deadline_s": 1.0}, **CADENCE}  # fmt: skip
    inventory = {
        "trunks": {"ct-1": trunk},
        "numbers": {
            "12345": {"name": "政务服务便民热线", "trunks": ["ct-1"]},
            "12315": {"name": "市场监管", "trunks": ["ct-1"]},
        },
    }
    return line_app(tmp_path, make_app, store_url, inventory)


def test_it_turns_a_trunk_that_stops_answering_hard_down_at_the_third_failing_cycle(
    trunk_app, clock, uas
):
    outcomes = [cycle(trunk_app, clock) for _ in range(2)]
    uas[0].stop()  # the port now answers ICMP port unreachable: each check fails at once
    outcomes += [cycle(trunk_app, clock) for _ in range(3)]
    assert flips(outcomes) == [(2, "up"), (5, "down")]
    assert [o.result.detail for o in outcomes[2:]] == ["ICMP port unreachable"] * 3
    (incident,) = all_incidents(trunk_app)
    assert (incident.status, incident.opened_at, incident.target) == (
        "open",
        T0 + timedelta(seconds=50),
        "trunk:ct-1",
    )
    assert incident.title == "trunk:ct-1 不可用：ICMP port unreachable"
    assert incident.labels == {
        "segment": "carrier",
        "component": "trunk",
        "trunk": "ct-1",
        "carrier": "中国电信",
        "numbers": "12315,12345",
        "target": "trunk:ct-1",
        "probe": "sip_options",
    }


def test_it_brings_the_trunk_back_up_at_the_second_success_and_resolves_its_incident(
    trunk_app, clock, uas, tmp_path
):
    outcomes = [cycle(trunk_app, clock) for _ in range(2)]
    uas[0].stop()
    outcomes += [cycle(trunk_app, clock) for _ in range(3)]
    uas.append(Sipp(UAS, tmp_path, port=uas[0].port))  # the carrier is back, same port
    outcomes += [cycle(trunk_app, clock) for _ in range(3)]
    assert flips(outcomes) == [(2, "up"), (5, "down"), (7, "up")]
    assert [o.result.detail for o in outcomes[5:]] == ["200 OK"] * 3
    (incident,) = all_incidents(trunk_app)
    assert (incident.status, incident.opened_at, incident.resolved_at) == (
        "resolved",
        T0 + timedelta(seconds=50),
        T0 + timedelta(seconds=70),
    )


# --- an E1 span on snmpd ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    agent = SnmpAgent.start(tmp_path_factory.mktemp("snmpd"))
    yield agent
    agent.stop()


@pytest.fixture
def span_app(tmp_path, make_app, store_url, gateway, monkeypatch):
    monkeypatch.setenv(COMMUNITY_ENV, "test")
    inventory = {
        "gateways": {"mg-1": {"host": "127.0.0.1", "snmp_port": gateway.port,
                              "community_env": COMMUNITY_ENV}},
        "spans": {"e1-1": {"gateway": "mg-1", "index": 3, **SPAN_CADENCE}},
        "numbers": {"12345": {"name": "政务服务便民热线", "spans": ["e1-1"]}},
    }  # fmt: skip
    return line_app(tmp_path, make_app, store_url, inventory)


def lose_frame(app, clock: FixedClock, gateway: SnmpAgent) -> list[probing.Outcome]:
    """Two clean cycles (UP), then the span reports loss of frame for three."""
    gateway.serve(span(1))
    outcomes = [cycle(app, clock) for _ in range(2)]
    gateway.serve(span(LOSS_OF_FRAME))
    return outcomes + [cycle(app, clock) for _ in range(3)]


def test_it_opens_an_incident_naming_loss_of_frame_and_the_gateway_segment(
    span_app, clock, gateway
):
    outcomes = lose_frame(span_app, clock, gateway)
    assert flips(outcomes) == [(2, "up"), (5, "down")]
    (incident,) = all_incidents(span_app)
    assert (incident.status, incident.opened_at, incident.title) == (
        "open",
        T0 + timedelta(seconds=50),
        "span:e1-1 不可用：E1 span 3: lossOfFrame",
    )
    assert incident.labels == {
        "segment": "gateway",
        "component": "span",
        "span": "e1-1",
        "gateway": "mg-1",
        "numbers": "12345",
        "target": "span:e1-1",
        "probe": "snmp",
    }


def test_it_grades_a_span_down_as_a_level_2_core_fault(span_app, clock, gateway):
    lose_frame(span_app, clock, gateway)
    (incident,) = all_incidents(span_app)
    assert incident.level == 2
