"""The report schedule in the daemon: cron cadences in site time, coalesced, with a grace
period so a daemon that was down at the time still builds the report when it comes back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hotline_ops.daemon import Daemon


@pytest.fixture
def jobs(make_app, site):
    app = make_app(site)
    daemon = Daemon(app, probes=False)
    daemon._add_reports()
    return {job.id: job for job in daemon.scheduler.get_jobs()}


def next_fire(job, after: datetime) -> str:
    return job.trigger.get_next_fire_time(None, after).isoformat()


def test_it_builds_the_daily_report_at_0830_site_time(jobs):
    after = datetime(2027, 3, 10, 0, 0, tzinfo=UTC)  # 08:00 in Wuzhou
    assert next_fire(jobs["report-daily"], after) == "2027-03-10T08:30:00+08:00"


def test_it_builds_the_monthly_report_on_the_first(jobs):
    after = datetime(2027, 3, 10, tzinfo=UTC)
    assert next_fire(jobs["report-monthly"], after) == "2027-04-01T09:00:00+08:00"


def test_it_builds_the_quarterly_report_in_the_quarters_first_week(jobs):
    after = datetime(2027, 3, 10, tzinfo=UTC)
    assert next_fire(jobs["report-quarterly"], after) == "2027-04-03T09:30:00+08:00"


def test_it_drafts_the_acceptance_pack_on_2_january(jobs):
    after = datetime(2027, 3, 10, tzinfo=UTC)
    assert next_fire(jobs["report-acceptance"], after) == "2028-01-02T10:00:00+08:00"


def test_it_coalesces_missed_runs_with_a_grace_period(jobs):
    assert {
        (j.coalesce, j.misfire_grace_time) for j in jobs.values() if j.id.startswith("report-")
    } == {(True, 6 * 3600)}
