"""Two requests storing the same new alert at the same moment, on SQLite and PostgreSQL: the
batch has no savepoint per alert, so the loser's transaction fails on the unique firing key
and ingest runs it again whole; it then finds the winner's row. One alert row, one
incident, both requests answered."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hotline_ops.core.alerts import AlertIn
from hotline_ops.services import alerts
from tests.alerts import helpers
from tests.alerts.helpers import incidents_of


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


def test_it_stores_one_alert_and_one_incident_when_two_requests_race(app, monkeypatch):
    looked_up = threading.Barrier(2, timeout=10)
    first_time = threading.local()
    original = alerts._firing_rows

    def racing_lookup(session, fps):
        found = original(session, fps)
        if not getattr(first_time, "done", False):
            first_time.done = True
            looked_up.wait()  # both requests saw no firing row before either inserts
        return found

    monkeypatch.setattr(alerts, "_firing_rows", racing_lookup)
    alert = AlertIn(labels={"alertname": "PlatformDown", "impact": "system"})
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: alerts.ingest(app, [alert], source="api"), range(2)))
    assert sorted((r.new, r.updated) for r in results) == [(0, 1), (1, 0)]
    assert [a.labels["alertname"] for a in helpers.alerts_of(app)] == ["PlatformDown"]
    assert [(i.level, i.status) for i in incidents_of(app)] == [(1, "open")]
