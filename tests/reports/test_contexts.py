"""Context builders over the fixture year: exact figures from the store (M2.2a, M2.2b)."""

from __future__ import annotations

from hotline_ops.core import periods
from hotline_ops.reports import builders
from tests.reports.make_examples import NOW


def build(app, kind: str, key: str) -> dict:
    return builders.build(app, periods.parse(kind, key, app.settings.tz), NOW)


def row(table: dict, target: str) -> dict:
    return next(r for r in table["rows"] if r["target"] == target)


def test_it_gives_the_trunks_monthly_availability_from_the_rollups(year_app):
    trunk = row(build(year_app, "monthly", "2027-03")["tables"]["lines"], "trunk:ct-1")
    assert (trunk["checks"], trunk["failures"], trunk["rtt_p95_ms"]) == (31 * 288, 93, 20.0)


def test_it_gives_the_peak_b_channels_against_capacity(year_app):
    span = row(build(year_app, "monthly", "2027-03")["tables"]["lines"], "span:e1-1")
    assert (span["b_peak"], span["capacity"], span["b_share"]) == (25.0, 30, 25 / 30)


def test_it_gives_mtta_and_mttr_per_level(year_app):
    levels = build(year_app, "monthly", "2027-03")["tables"]["levels"]["rows"]
    assert [(r["level"], r["count"], r["mtta_min"], r["mttr_min"]) for r in levels] == [
        (1, 1, 10.0, 45.0),
        (2, 1, 10.0, 60.0),
        (3, 1, 5.0, 60.0),
    ]


def test_it_marks_the_breached_resolve_timer_of_the_incident_missed(year_app):
    ctx = build(year_app, "incident", "4")
    states = [(t["clause"], t["state"]) for t in ctx["tables"]["timers"]["rows"]]
    assert states == [("M2.1b", "met"), ("M2.3b", "missed")]


def test_it_recommends_from_rtt_growth_and_disk_fill_citing_the_figures(year_app_any):
    recs = build(year_app_any, "quarterly", "2027-Q2")["recommendations"]
    assert recs[:2] == [
        {
            "kind": "rtt",
            "subject": "trunk:ct-1",
            "figures": {"before": 20.0, "after": 30.0, "growth": 50.0},
        },
        {
            "kind": "disk",
            "subject": "db-host",
            "figures": {"disk": "root", "last": 95.0, "slope": 0.5, "days": 10.0},
        },
    ]


def test_it_fits_the_disk_growth_over_the_quarters_days(year_app_any):
    disks = build(year_app_any, "quarterly", "2027-Q2")["tables"]["disks"]["rows"]
    assert [(d["first_pct"], d["last_pct"], len(d["points"])) for d in disks] == [(50.0, 95.0, 91)]


def test_it_shows_ticket_kpis_as_no_evidence_without_tickets_or_calls(year_app):
    assert build(year_app, "monthly", "2027-03")["tickets"]["kpis"] is None
