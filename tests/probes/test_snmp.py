"""SnmpProbe against a real snmpd on 127.0.0.1 playing a media gateway.

snmpd (tests/support/peers.py: SnmpAgent) hands the DS1, ISDN, ifOperStatus and
host-resources subtrees to tests/probes/snmp/pass_persist.py, which serves `values.json`; each
test writes the values it needs, so every number below is exact. One snmpd per module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.registry import build_probe
from hotline_ops.probes.snmp import SnmpProbe
from tests.support.peers import (
    CPU,
    IF_OPER,
    INTERVAL,
    LINE_STATUS,
    SPAN,
    STORAGE,
    SnmpAgent,
    Values,
    span,
)

LAPD = "1.3.6.1.2.1.10.20.1.3.4.1.2"
BEARER = "1.3.6.1.2.1.10.20.1.2.1.1.2"
FIXED_DISK = ".1.3.6.1.2.1.25.2.1.4"
RAM = ".1.3.6.1.2.1.25.2.1.2"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    running = SnmpAgent.start(tmp_path_factory.mktemp("snmpd"))
    try:
        yield running
    finally:
        running.stop()


def _check(params: dict[str, Any], timeout: float = 3.0) -> ProbeResult:
    async def once() -> ProbeResult:
        probe = SnmpProbe(params)
        try:
            return await probe.check(timeout)
        finally:
            await probe.close()

    return asyncio.run(once())


E1 = {"type": "e1", "span_index": SPAN}


# --- E1 spans -------------------------------------------------------------------------------


def test_it_reports_a_span_without_alarms_as_ok(agent: SnmpAgent) -> None:
    agent.serve(span(1))
    result = _check(agent.params(E1))
    assert (result.ok, result.detail, result.classification) == (True, "ok", "noAlarm")
    assert result.latency_s is not None and 0 < result.latency_s < 3
    current = {k: v for k, v in result.metrics.items() if k.endswith("_current")}
    assert current == {
        "e1_es_current": 4.0,
        "e1_ses_current": 1.0,
        "e1_uas_current": 7.0,
        "e1_css_current": 0.0,
        "e1_bes_current": 2.0,
    }
    assert result.metrics["e1_line_status"] == 1.0


def test_it_fails_a_span_in_loss_of_frame_with_a_yellow_alarm(agent: SnmpAgent) -> None:
    agent.serve(span(32 + 2))
    result = _check(agent.params(E1))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "E1 span 3: rcvFarEndLOF, lossOfFrame",
        "rcvFarEndLOF,lossOfFrame",
    )
    assert result.metrics["e1_line_status"] == 34.0


def test_it_keeps_a_span_with_only_a_far_end_alarm_ok_but_names_it(agent: SnmpAgent) -> None:
    agent.serve(span(2))
    result = _check(agent.params(E1))
    assert (result.ok, result.detail, result.classification) == (
        True,
        "E1 span 3: rcvFarEndLOF",
        "rcvFarEndLOF",
    )


def test_it_sums_the_last_24_hours_without_the_invalid_intervals(agent: SnmpAgent) -> None:
    rows = {
        1: (3, 1, 0, 2, 0, 1),
        17: (12, 5, 30, 0, 1, 1),
        50: (900, 900, 900, 900, 900, 2),  # invalid: must not count
        96: (1, 0, 0, 0, 0, 1),
    }
    agent.serve(span(1, rows=rows))
    result = _check(agent.params(E1))
    day = {k: v for k, v in result.metrics.items() if k.endswith("_24h") or "interval" in k}
    assert day == {
        "e1_es_24h": 16.0,
        "e1_ses_24h": 6.0,
        "e1_uas_24h": 30.0,
        "e1_bes_24h": 2.0,
        "e1_css_24h": 1.0,
        "e1_valid_intervals": 95.0,
    }


def test_it_reads_only_the_configured_span(agent: SnmpAgent) -> None:
    agent.serve({**span(1, span_index=2, rows={5: (40, 0, 0, 0, 0, 1)}), **span(64)})
    other = _check(agent.params({"type": "e1", "span_index": 2}))
    assert (other.ok, other.metrics["e1_es_24h"], other.metrics["e1_valid_intervals"]) == (
        True,
        40.0,
        96.0,
    )
    mine = _check(agent.params(E1))
    assert (mine.detail, mine.metrics["e1_es_24h"]) == ("E1 span 3: lossOfSignal", 0.0)


def test_it_sees_a_new_alarm_on_the_next_check_of_the_same_probe(agent: SnmpAgent) -> None:
    probe = SnmpProbe(agent.params(E1))

    async def twice() -> tuple[ProbeResult, ProbeResult]:
        agent.serve(span(1))
        first = await probe.check(3.0)
        agent.serve(span(64 + 8192))
        second = await probe.check(3.0)
        await probe.close()
        return first, second

    first, second = asyncio.run(twice())
    assert (first.ok, first.classification) == (True, "noAlarm")
    assert (second.ok, second.detail, second.classification) == (
        False,
        "E1 span 3: lossOfSignal, unavailSigState",
        "lossOfSignal,unavailSigState",
    )


def test_it_survives_a_new_event_loop_and_a_close(agent: SnmpAgent) -> None:
    agent.serve(span(1))
    probe = SnmpProbe(agent.params(E1))
    first = asyncio.run(probe.check(3.0))
    second = asyncio.run(probe.check(3.0))  # the first loop is closed: a new engine

    async def after_close() -> ProbeResult:
        await probe.close()
        result = await probe.check(3.0)
        await probe.close()
        return result

    third = asyncio.run(after_close())
    assert [r.detail for r in (first, second, third)] == ["ok", "ok", "ok"]


# --- ISDN, interfaces, host resources -------------------------------------------------------


def _isdn(lapd: int, bearers: list[int]) -> Values:
    values: Values = {f"{LAPD}.12": ("integer", lapd)}
    for channel, status in enumerate(bearers, start=100):
        values[f"{BEARER}.{channel}"] = ("integer", status)
    return values


def test_it_fails_when_the_d_channel_is_down(agent: SnmpAgent) -> None:
    agent.serve(_isdn(1, [1] * 30))
    result = _check(agent.params({"type": "isdn", "lapd_index": 12}))
    assert (result.ok, result.detail, result.metrics) == (
        False,
        "D channel down (inactive)",
        {"d_channel_up": 0.0},
    )


def test_it_counts_the_b_channels_in_use_by_walking_the_bearer_table(agent: SnmpAgent) -> None:
    statuses = [4] * 17 + [3] * 2 + [2] + [1] * 10  # 20 in use out of 30
    agent.serve(_isdn(3, statuses))
    check = {"type": "isdn", "lapd_index": 12, "bearer_walk": True, "capacity": 30}
    result = _check(agent.params(check))
    assert (result.ok, result.detail, result.metrics) == (
        True,
        "ok",
        {"d_channel_up": 1.0, "b_channels_in_use": 20.0, "b_channels_capacity": 30.0},
    )


def test_it_counts_listed_b_channels_against_their_number(agent: SnmpAgent) -> None:
    agent.serve(_isdn(3, [4, 1, 2, 1, 3]))
    check = {"type": "isdn", "lapd_index": 12, "bearer_indexes": [100, 101, 102, 103]}
    result = _check(agent.params(check))
    assert result.metrics == {
        "d_channel_up": 1.0,
        "b_channels_in_use": 2.0,
        "b_channels_capacity": 4.0,
    }


def test_it_fails_an_interface_that_is_down(agent: SnmpAgent) -> None:
    agent.serve({f"{IF_OPER}.3": ("integer", 2), f"{IF_OPER}.4": ("integer", 1)})
    down = _check(agent.params({"type": "if_oper", "if_index": 3}))
    up = _check(agent.params({"type": "if_oper", "if_index": 4}))
    assert (down.ok, down.detail, down.metrics) == (
        False,
        "interface 3 down",
        {"if_oper_status": 2.0},
    )
    assert (up.ok, up.detail) == (True, "ok")


def _host(loads: list[int], disk_used: int) -> Values:
    values: Values = {f"{CPU}.{196608 + i}": ("integer", load) for i, load in enumerate(loads)}
    storages = [  # index, type, descr, units, size, used
        (1, RAM, "Physical memory", 1024, 1000, 990),  # not a disk: not watched
        (31, FIXED_DISK, "/", 4096, 1000, disk_used),
        (32, FIXED_DISK, "/var", 4096, 2000, 1000),
        (33, FIXED_DISK, "/run/empty", 4096, 0, 0),  # no size: skipped, not a fault
    ]
    for index, kind, descr, units, size, used in storages:
        values[f"{STORAGE}.2.{index}"] = ("objectid", kind)
        values[f"{STORAGE}.3.{index}"] = ("string", descr)
        values[f"{STORAGE}.4.{index}"] = ("integer", units)
        values[f"{STORAGE}.5.{index}"] = ("integer", size)
        values[f"{STORAGE}.6.{index}"] = ("integer", used)
    return values


def test_it_passes_cpu_and_storage_within_thresholds(agent: SnmpAgent) -> None:
    agent.serve(_host([30, 50], disk_used=700))
    result = _check(agent.params({"type": "host_resources", "cpu_max": 80, "storage_max": 90}))
    assert (result.ok, result.detail, result.metrics) == (
        True,
        "ok",
        {"cpu_pct": 40.0, "storage_pct": 70.0},
    )


def test_it_fails_cpu_and_storage_over_thresholds(agent: SnmpAgent) -> None:
    agent.serve(_host([95, 85], disk_used=950))
    result = _check(agent.params({"type": "host_resources", "cpu_max": 80, "storage_max": 90}))
    assert (result.ok, result.detail, result.metrics) == (
        False,
        "CPU 90.0% > 80%; storage / 95.0% > 90%",
        {"cpu_pct": 90.0, "storage_pct": 95.0},
    )


def test_it_watches_only_the_listed_storage(agent: SnmpAgent) -> None:
    agent.serve(_host([10], disk_used=950))
    check = {"type": "host_resources", "storage_indexes": [32]}
    result = _check(agent.params(check))
    assert (result.ok, result.metrics) == (True, {"cpu_pct": 10.0, "storage_pct": 50.0})


def test_it_joins_the_faults_of_several_checks(agent: SnmpAgent) -> None:
    agent.serve({**span(32), **_isdn(2, [4, 4]), f"{IF_OPER}.3": ("integer", 7)})
    checks = [
        E1,
        {"type": "isdn", "lapd_index": 12, "bearer_walk": True},
        {"type": "if_oper", "if_index": 3},
    ]
    result = _check(agent.params(*checks))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "E1 span 3: lossOfFrame; D channel down (l1Active); interface 3 lowerLayerDown",
        "lossOfFrame",
    )
    assert (result.metrics["b_channels_in_use"], result.metrics["if_oper_status"]) == (2.0, 7.0)


# --- bad replies and silence ----------------------------------------------------------------


def test_it_times_out_within_the_deadline_on_a_wrong_community(agent: SnmpAgent) -> None:
    agent.serve(span(1))
    started = time.monotonic()
    result = _check(agent.params(E1, community="not-the-community"), timeout=1.0)
    elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s, result.classification) == (False, None, "timeout")
    assert result.detail == (
        "timeout after 1.0s waiting for 1.3.6.1.2.1.10.18.6.1.10.3 (dsx1LineStatus.3)"
    )
    assert elapsed < 1.8
    assert "not-the-community" not in repr(result)


def test_it_reports_when_snmp_retries_run_out_first(agent: SnmpAgent) -> None:
    agent.serve(_isdn(3, []))
    params = agent.params(
        {"type": "isdn", "lapd_index": 12},
        community="wrong",
        request_timeout=0.2,
        retries=1,
    )
    result = _check(params, timeout=3.0)
    assert (result.ok, result.classification) == (False, "timeout")
    assert result.detail == (
        "timeout waiting for 1.3.6.1.2.1.10.20.1.3.4.1.2.12 (isdnLapdOperStatus.12): "
        "no reply after 2 tries"
    )


def test_it_names_the_oid_of_a_missing_instance(agent: SnmpAgent) -> None:
    agent.serve(span(1))
    result = _check(agent.params({"type": "e1", "span_index": 9}))
    assert (result.ok, result.detail, result.classification) == (
        False,
        "1.3.6.1.2.1.10.18.6.1.10.9 (dsx1LineStatus.9): noSuchInstance",
        "malformed",
    )


def test_it_names_the_oid_of_a_value_of_the_wrong_type(agent: SnmpAgent) -> None:
    agent.serve({**span(1), f"{LINE_STATUS}.3": ("string", "red")})
    result = _check(agent.params(E1))
    assert (result.ok, result.detail) == (
        False,
        "1.3.6.1.2.1.10.18.6.1.10.3 (dsx1LineStatus.3): expected an integer, got OctetString",
    )


def test_it_names_the_oid_of_a_line_status_out_of_range(agent: SnmpAgent) -> None:
    agent.serve(span(0))
    result = _check(agent.params(E1))
    assert result.detail == (
        "1.3.6.1.2.1.10.18.6.1.10.3 (dsx1LineStatus.3): dsx1LineStatus 0 is outside 1..131071"
    )


def test_it_names_the_oid_of_an_undefined_bearer_state(agent: SnmpAgent) -> None:
    agent.serve(_isdn(3, [1, 9]))
    result = _check(agent.params({"type": "isdn", "lapd_index": 12, "bearer_walk": True}))
    assert result.detail == (
        "1.3.6.1.2.1.10.20.1.2.1.1.2.101 (isdnBearerOperStatus.101): "
        "isdnBearerOperStatus 9 is not a defined value"
    )


def test_it_names_a_hole_in_the_interval_table(agent: SnmpAgent) -> None:
    values = span(1)
    del values[f"{INTERVAL}.4.3.40"]
    agent.serve(values)
    result = _check(agent.params(E1))
    assert (result.ok, result.detail) == (
        False,
        "1.3.6.1.2.1.10.18.8.1.4.3.40 (dsx1IntervalSESs.3.40): missing from the interval table",
    )


def test_it_reads_with_snmp_v1(agent: SnmpAgent) -> None:
    agent.serve(span(2, rows={9: (5, 0, 0, 0, 0, 1)}))
    result = _check(agent.params(E1, version=1))
    assert (result.ok, result.classification, result.metrics["e1_es_24h"]) == (
        True,
        "rcvFarEndLOF",
        5.0,
    )
    missing = _check(agent.params({"type": "if_oper", "if_index": 99}, version="1"))
    assert missing.detail == "1.3.6.1.2.1.2.2.1.8.99 (ifOperStatus.99): noSuchName"


# --- configuration and secrets --------------------------------------------------------------


def test_it_reads_the_community_from_the_environment(
    agent: SnmpAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent.serve(span(1))
    params = {**agent.params(E1), "community_env": "GW1_SNMP_COMMUNITY"}
    del params["community"]
    monkeypatch.setenv("GW1_SNMP_COMMUNITY", "test")
    assert _check(params).detail == "ok"
    monkeypatch.delenv("GW1_SNMP_COMMUNITY")
    unset = _check(params)
    assert (unset.ok, unset.detail, unset.classification) == (
        False,
        "environment variable GW1_SNMP_COMMUNITY is not set",
        "error",
    )


def test_it_never_shows_the_community() -> None:
    probe = SnmpProbe({"host": "gw1", "community": "s3cret-ro", "checks": [E1]})
    assert "s3cret-ro" not in repr(probe.params)
    assert "s3cret-ro" not in str(probe.params.model_dump())


def test_it_is_registered_as_snmp() -> None:
    probe = build_probe("snmp", {"host": "gw1", "community": "c", "checks": [E1]})
    assert isinstance(probe, SnmpProbe)
    assert (probe.params.port, probe.params.version) == (161, "2c")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"checks": [E1]}, "give exactly one of community or community_env"),
        (
            {"community": "c", "community_env": "X", "checks": [E1]},
            "give exactly one of community or community_env",
        ),
        ({"community": "c", "checks": []}, "checks\n  List should have at least 1 item"),
        ({"community": "c", "checks": [E1, E1]}, "checks: more than one 'e1' check"),
        ({"community": "c", "checks": [{"type": "e2"}]}, "does not match any of the expected"),
        ({"community": "c", "checks": [{"type": "e1"}]}, "span_index\n  Field required"),
        ({"community": "c", "version": "3", "checks": [E1]}, "Input should be '1' or '2c'"),
        ({"community": "c", "checks": [{**E1, "index": 3}]}, "index\n  Extra inputs"),
        (
            {
                "community": "c",
                "checks": [
                    {"type": "isdn", "lapd_index": 1, "bearer_walk": True, "bearer_indexes": [2]}
                ],
            },
            "give bearer_indexes or bearer_walk, not both",
        ),
    ],
)
def test_it_rejects_bad_params(params: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        SnmpProbe({"host": "gw1", **params})
