"""The daily line inspection over a fixture day: every figure matches the fixture exactly."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from hotline_ops.services import incidents, inspection, probing
from hotline_ops.store.models import Inspection, ProbeRollup, StateChange
from tests.support.content import write_content

DAY = date(2026, 11, 27)  # site time: 2026-11-26T16:00Z … 2026-11-27T16:00Z
START = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
INVENTORY = {
    "gateways": {"mg-1": {"host": "127.0.0.1", "snmp_port": 16100, "community_env": "X"}},
    "trunks": {"ct-1": {"carrier": "中国电信", "host": "127.0.0.1", "port": 15060, "channels": 60}},
    "spans": {"e1-1": {"gateway": "mg-1", "index": 1, "channels": 30, "lapd_index": 1}},
    "numbers": {
        "12315": {"name": "市场监管", "trunks": ["ct-1"], "spans": ["e1-1"]},
        "12369": {"name": "环保", "trunks": ["ct-1"]},
    },
}


def rollup(target, at, count, failures, p50, p95, mx, peaks=None, classes=None):
    return ProbeRollup(
        target=target,
        bucket=at,
        count=count,
        failures=failures,
        rtt_p50=p50,
        rtt_p95=p95,
        rtt_max=mx,
        peaks=peaks or {},
        classes=classes or {},
    )


@pytest.fixture
def day_app(tmp_path, make_app, store_url):
    root = write_content(tmp_path / "site", targets=[])
    (root.parent / "probes" / "trunks.yaml").write_text(
        yaml.safe_dump(INVENTORY, allow_unicode=True)
    )
    app = make_app(root, store_url)
    h = timedelta(hours=1)
    with app.store.session() as s:
        s.add_all(
            [
                rollup("trunk:ct-1", START - timedelta(minutes=5), 30, 30, 1.0, 1.0, 1.0),
                rollup("trunk:ct-1", START, 30, 0, 0.010, 0.020, 0.030, classes={"healthy": 30}),
                rollup(
                    "trunk:ct-1",
                    START + h,
                    30,
                    3,
                    0.012,
                    0.040,
                    0.090,
                    classes={"healthy": 27, "down": 3},
                ),
                rollup("trunk:ct-1", START + 24 * h, 30, 30, 1.0, 1.0, 1.0),
                rollup(
                    "span:e1-1",
                    START,
                    30,
                    0,
                    0.05,
                    0.06,
                    0.07,
                    peaks={"b_channels_in_use": 17.0},
                    classes={"noAlarm": 30},
                ),
                rollup(
                    "span:e1-1",
                    START + 2 * h,
                    30,
                    0,
                    0.05,
                    0.06,
                    0.07,
                    peaks={"b_channels_in_use": 23.0},
                    classes={"noAlarm": 30},
                ),
                StateChange(
                    target="trunk:ct-1",
                    at=START + h + timedelta(minutes=10),
                    kind="flip",
                    old="up",
                    new="down",
                    detail="no reply",
                ),
                StateChange(
                    target="trunk:ct-1",
                    at=START + h + timedelta(minutes=25),
                    kind="flip",
                    old="down",
                    new="up",
                    detail="200 OK",
                ),
            ]
        )
        incidents.open_incident(
            s,
            app,
            now=START + h + timedelta(minutes=10),
            dedup_key="probe:trunk:ct-1",
            title="ct-1 down",
            source="probe",
            actor="probe",
            labels={"segment": "carrier", "impact": "core"},
        )
    return app


def run(app) -> dict:
    return asyncio.run(
        inspection.inspect_lines(app, probing.Recorder(app), day=DAY, probe_now=False)
    )


def test_it_gives_the_trunks_availability_from_the_days_rollups_only(day_app):
    trunk = run(day_app)["trunks"]["ct-1"]
    assert (trunk["checks"], trunk["failures"], trunk["availability"]) == (60, 3, 0.95)


def test_it_gives_count_weighted_rtt_percentiles_and_the_max(day_app):
    trunk = run(day_app)["trunks"]["ct-1"]
    assert (trunk["rtt_p50_s"], trunk["rtt_p95_s"], trunk["rtt_max_s"]) == (0.010, 0.040, 0.090)


def test_it_counts_checks_that_were_not_healthy(day_app):
    trunk = run(day_app)["trunks"]["ct-1"]
    assert (trunk["not_healthy"], trunk["classes"]) == (3, {"healthy": 57, "down": 3})


def test_it_gives_the_minutes_hard_down_from_the_flips(day_app):
    assert run(day_app)["trunks"]["ct-1"]["down_s"] == 900.0


def test_it_gives_the_peak_b_channels_against_capacity(day_app):
    span = run(day_app)["spans"]["e1-1"]
    assert (span["peaks"]["b_channels_in_use"], span["capacity"]) == (23.0, 30)


def test_it_lists_each_number_with_its_lines(day_app):
    numbers = run(day_app)["numbers"]
    assert {n: (v["trunks"], v["spans"], v["lines"]) for n, v in numbers.items()} == {
        "12315": (["ct-1"], ["e1-1"], 2),
        "12369": (["ct-1"], [], 1),
    }


def test_it_counts_the_days_incidents_by_segment_and_level(day_app):
    assert run(day_app)["incidents_by_segment"] == {
        "carrier": {"count": 1, "by_level": {"2": 1}, "ids": [1]}
    }


def test_it_stores_the_record_for_the_report(day_app):
    record = run(day_app)
    with day_app.store.session() as session:
        row = session.get(Inspection, record["id"])
    assert (row.kind, row.day, row.trigger, row.data["trunks"]["ct-1"]["availability"]) == (
        "lines",
        "2026-11-27",
        "cli",
        0.95,
    )
