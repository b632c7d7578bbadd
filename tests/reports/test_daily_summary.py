"""Per-day rollup summaries: the reports give exactly the same context with and without
them, read them for summarised days and the rollups for the rest (issue #6)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select

from hotline_ops.cli.main import cli
from hotline_ops.core import periods
from hotline_ops.errors import BadRequest
from hotline_ops.reports import builders
from hotline_ops.services import reports, summaries
from hotline_ops.store.models import ProbeRollup
from hotline_ops.store.summaries import ProbeDaily, ProbeDay
from tests.reports import fixture
from tests.reports.make_examples import NOW

KEYS = [("monthly", "2027-03"), ("quarterly", "2027-Q2"), ("acceptance", "2027")]


def contexts(app) -> list[dict]:
    return [builders.build(app, periods.parse(k, p, app.settings.tz), NOW) for k, p in KEYS]


def count(app, model) -> int:
    with app.store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_every_report_context_is_identical_with_the_summaries_filled(year_app_any):
    before = contexts(year_app_any)
    done = summaries.summarise(year_app_any, since=date(2027, 1, 1), until=date(2027, 12, 31))
    assert (len(done), count(year_app_any, ProbeDay), count(year_app_any, ProbeDaily)) == (
        365,
        365,
        4 * 365,
    )
    assert contexts(year_app_any) == before


def test_a_period_half_summarised_gives_the_same_context(year_app):
    before = contexts(year_app)
    summaries.summarise(year_app, since=date(2027, 3, 10), until=date(2027, 5, 20))
    assert contexts(year_app) == before


def test_the_reports_read_a_summarised_day_from_its_summary_not_the_rollups(year_app):
    before = contexts(year_app)[0]
    summaries.summarise(year_app, since=date(2027, 3, 1), until=date(2027, 3, 31))
    with year_app.store.session() as session:
        session.execute(
            delete(ProbeRollup).where(
                ProbeRollup.bucket >= fixture.local(2027, 3, 1),
                ProbeRollup.bucket < fixture.local(2027, 4, 1),
            )
        )
    trunk = next(
        r for r in contexts(year_app)[0]["tables"]["lines"]["rows"] if "trunk" in r["target"]
    )
    assert (trunk["checks"], trunk["failures"], trunk["rtt_p95_ms"]) == (31 * 288, 93, 20.0)
    assert contexts(year_app)[0] == before


def test_a_day_not_summarised_still_counts_from_its_rollups(year_app):
    summaries.summarise(year_app, since=date(2027, 3, 1), until=date(2027, 3, 31))
    with year_app.store.session() as session:
        session.execute(delete(ProbeDay).where(ProbeDay.day == "2027-03-05"))
        session.execute(delete(ProbeDaily))  # only 2027-03-05 is read, from the rollups
    trunk = next(
        r for r in contexts(year_app)[0]["tables"]["lines"]["rows"] if r["target"] == "trunk:ct-1"
    )
    assert (trunk["checks"], trunk["failures"], trunk["rtt_p95_ms"]) == (288, 3, 20.0)


def test_summarising_a_day_twice_gives_the_same_rows(year_app):
    def rows():
        with year_app.store.session() as session:
            return [
                (r.target, r.day, r.checks, r.failures, r.rtt_max, r.rtt_p95_bins, r.peaks)
                for r in session.scalars(select(ProbeDaily).order_by(ProbeDaily.target))
            ]

    summaries.summarise(year_app, since=date(2027, 3, 10), until=date(2027, 3, 10))
    first = rows()
    summaries.summarise(year_app, since=date(2027, 3, 10), until=date(2027, 3, 10))
    assert rows() == first
    assert first == [
        (
            "db-host",
            "2027-03-10",
            288,
            0,
            None,
            {},
            {"cpu_pct": 40.0, "memory_pct": 61.0, "disk_pct_root": 48.0},
        ),
        ("span:e1-1", "2027-03-10", 288, 0, None, {"500": 288}, {"b_channels_in_use": 25.0}),
        (
            "ticket-api",
            "2027-03-10",
            288,
            0,
            None,
            {"19000": 288},
            {"create_s": 1.5, "query_s": 0.4},
        ),
        ("trunk:ct-1", "2027-03-10", 288, 3, 0.09, {"200": 288}, {}),
    ]


def test_it_refuses_a_day_not_finished_naming_the_field(year_app):
    with pytest.raises(BadRequest, match="--until: 2028-01-02 is not finished yet"):
        summaries.summarise(year_app, since=date(2027, 12, 1), until=date(2028, 1, 2))
    with pytest.raises(BadRequest, match="--since: 2028-01-01 is after 2027-12-31"):
        summaries.summarise(year_app, since=date(2028, 1, 1), until=date(2027, 12, 31))


def test_the_daily_run_summarises_the_finished_days_once(year_app):
    first = summaries.pending(year_app)
    assert (first[0]["day"], first[-1]["day"], len(first)) == ("2027-01-01", "2028-01-01", 366)
    assert summaries.pending(year_app) == []


def test_the_scheduled_build_summarises_the_finished_days_first(year_app):
    (built,) = reports.scheduled(year_app, "monthly")
    assert (built.kind, built.period) == ("monthly", "2027-12")
    with year_app.store.session() as session:
        marked = session.execute(
            select(func.count(), func.sum(ProbeDay.targets)).select_from(ProbeDay)
        ).one()
    assert tuple(marked) == (366, 4 * 365)  # 2028-01-01 had no rollups: marked with 0 targets


def test_the_cli_summarises_a_range_as_json(year_app):
    result = CliRunner().invoke(
        cli,
        ["report", "summarise", "--since", "2027-03-01", "--until", "2027-03-02", "--json"],
        obj=year_app,
    )
    assert (result.exit_code, json.loads(result.output)) == (
        0,
        [
            {"day": "2027-03-01", "targets": 4, "rollups": 4},
            {"day": "2027-03-02", "targets": 4, "rollups": 4},
        ],
    )


def test_the_cli_names_a_bad_date(year_app):
    result = CliRunner().invoke(cli, ["report", "summarise", "--since", "2027-3"], obj=year_app)
    assert (result.exit_code, "'--since'" in result.output) == (2, True)
