"""A fixture year (2027) for the report tests: a SIP trunk, an E1 span, a host, the ticket
service probe; one rollup a day with exact figures; four incidents with real lifecycles, one
of them (level 2) breaching its 2 h resolve timer (M2.3b) unless ``breach=False``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from hotline_ops.services import incidents, timers
from hotline_ops.store.models import ProbeRollup
from tests.support.content import write_content

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
YEAR = 2027
INVENTORY = {
    "gateways": {"mg-1": {"host": "127.0.0.1", "snmp_port": 16100, "community_env": "X"}},
    "trunks": {"ct-1": {"carrier": "中国电信", "host": "127.0.0.1", "port": 15060, "channels": 60}},
    "spans": {"e1-1": {"gateway": "mg-1", "index": 1, "channels": 30, "lapd_index": 1}},
    "numbers": {"12315": {"name": "市场监管", "trunks": ["ct-1"], "spans": ["e1-1"]}},
}
TARGETS = [
    {"name": "db-host", "kind": "fake", "labels": {"segment": "lan", "component": "host"}},
    {
        "name": "ticket-api",
        "kind": "ticket_service",
        "base_url": "http://127.0.0.1:9",
        "labels": {"segment": "platform"},
    },
]


def site(tmp: Path, **settings) -> Path:
    root = write_content(
        tmp / "site",
        targets=TARGETS,
        settings={"paths": {"reports": str(REPORTS)}, **settings},
    )
    (root.parent / "probes" / "trunks.yaml").write_text(
        yaml.safe_dump(INVENTORY, allow_unicode=True), encoding="utf-8"
    )
    return root


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """Wuzhou wall time as UTC (UTC+8, no DST)."""
    return datetime(y, m, d, h, mi, tzinfo=UTC) - timedelta(hours=8)


def _rollup(target: str, at: datetime, **kw) -> ProbeRollup:
    base = {
        "count": 288,
        "failures": 0,
        "rtt_p50": None,
        "rtt_p95": None,
        "rtt_max": None,
        "peaks": {},
        "classes": {},
    }
    return ProbeRollup(target=target, bucket=at, **{**base, **kw})


def rollups() -> list[ProbeRollup]:
    """One bucket per day at 10:00 site time. Trunk p95: 20 ms in Q1, 30 ms from Q2 (+50 %);
    3 failures a day in March; span peak 25/30 B channels on 2027-03-10; the disk grows
    0.5 points a day from 50 % on 1 April; CPU 40 %; ticket create 1.5 s, query 0.4 s."""
    rows = []
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        at = local(day.year, day.month, day.day, 10)
        p95 = 0.020 if day.month <= 3 else 0.030
        fails = 3 if day.month == 3 else 0
        rows.append(
            _rollup(
                "trunk:ct-1",
                at,
                failures=fails,
                rtt_p50=0.010,
                rtt_p95=p95,
                rtt_max=0.090,
                classes={"healthy": 288 - fails},
            )
        )
        peak = 25.0 if day == date(YEAR, 3, 10) else 12.0
        rows.append(_rollup("span:e1-1", at, rtt_p95=0.05, peaks={"b_channels_in_use": peak}))
        disk = 50.0 + 0.5 * max(0, (day - date(YEAR, 4, 1)).days) if day.month >= 4 else 48.0
        rows.append(
            _rollup(
                "db-host",
                at,
                peaks={"cpu_pct": 40.0, "memory_pct": 61.0, "disk_pct_root": min(disk, 99.0)},
            )
        )
        rows.append(_rollup("ticket-api", at, rtt_p95=1.9, peaks={"create_s": 1.5, "query_s": 0.4}))
        day += timedelta(days=1)
    return rows


def _incident(app, clock, opened, level, title, steps, segment="carrier"):
    clock.set(opened)
    inc, _ = incidents.create(
        app, title=title, actor="fixture", level=level, labels={"segment": segment}
    )
    for minutes, action in steps:
        clock.set(opened + timedelta(minutes=minutes))
        timers.fire_due(app)
        incidents.act(app, incident_id=inc.id, action=action, actor="值班员", reason=action)
    return inc.id


def incidents_2027(app, clock, *, breach: bool = True) -> list[int]:
    ids = [
        _incident(
            app,
            clock,
            local(YEAR, 3, 10, 10),
            2,
            "电信中继 ct-1 中断",
            [(10, "ack"), (60, "resolve")],
        ),
        _incident(
            app,
            clock,
            local(YEAR, 3, 15, 14),
            3,
            "报表页面缓慢",
            [(5, "ack"), (60, "resolve")],
            segment="lan",
        ),
        _incident(
            app,
            clock,
            local(YEAR, 3, 20, 9),
            1,
            "全平台宕机",
            [(10, "ack"), (30, "plan"), (45, "resolve")],
            segment="lan",
        ),
        # Resolved after 3 h: the 2 h resolve timer (M2.3b) fires at 2 h — unless breach=False.
        _incident(
            app,
            clock,
            local(YEAR, 5, 20, 10),
            2,
            "E1 e1-1 帧失步",
            [(20, "ack"), (180 if breach else 100, "resolve")],
            segment="gateway",
        ),
    ]
    return ids


def fill(app, clock, *, breach: bool = True) -> list[int]:
    with app.store.session() as s:
        s.add_all(rollups())
    return incidents_2027(app, clock, breach=breach)
