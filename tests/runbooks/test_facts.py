"""Inspection facts: one row per kind, host and month (site time), the month's latest run
wins, disk growth against the host's previous month. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from hotline_ops.services import runbooks as service
from tests.runbooks.conftest import runbook_text

STEPS = [{"text": "x"}]


def _facts(used: int) -> list[dict]:
    disks = [{"mount": "/", "size_bytes": 1000, "used_bytes": used, "used_pct": used / 10}]
    return [{"kind": "monthly_inspection", "host": "app1", "facts": {"disks": disks}}]


def _ingest(app, facts: list[dict]) -> None:
    with app.store.session() as session:
        service.ingest_facts(session, app, facts, now=app.clock.now(), run_id=None)


def test_it_keys_facts_by_the_site_month(build, clock, store_url) -> None:
    app = build({"rb": runbook_text(STEPS)}, url=store_url)
    clock.advance(timedelta(days=2, hours=14))  # 2026-12-01 00:00 in Wuzhou, still Nov in UTC
    _ingest(app, _facts(100))
    assert [(f["month"], f["host"]) for f in service.get_facts(app)] == [("2026-12", "app1")]


def test_it_keeps_the_latest_run_of_a_month(build, clock, store_url) -> None:
    app = build({"rb": runbook_text(STEPS)}, url=store_url)
    _ingest(app, _facts(100))
    _ingest(app, _facts(150))
    [row] = service.get_facts(app)
    assert row["facts"]["disks"][0]["used_bytes"] == 150


def test_it_computes_disk_growth_since_the_previous_month(build, clock, store_url) -> None:
    app = build({"rb": runbook_text(STEPS)}, url=store_url)
    _ingest(app, _facts(100))
    clock.advance(timedelta(days=31))
    _ingest(app, _facts(250))
    rows = service.get_facts(app)
    assert [(r["month"], r["growth"]) for r in rows] == [
        ("2026-11", {}),
        ("2026-12", {"/": {"used_delta_bytes": 150, "since": "2026-11"}}),
    ]
