"""Two processes storing the same new alert at the same moment, on SQLite and PostgreSQL:
the batch has no savepoint per alert, so the loser's transaction fails on the unique firing
key and ingest runs it again whole; it then finds the winner's row. One alert row, one
incident, both requests answered. (Two Apps on one store stand for two processes: within
one process SQLite transactions take turns on the store's lock.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hotline_ops.core.alerts import AlertIn
from hotline_ops.services import alerts
from tests.alerts import helpers
from tests.alerts.helpers import incidents_of


@pytest.fixture
def apps(tmp_path, store_url, clock):
    config = helpers.site(tmp_path / "site")
    pair = [helpers.open_app(config, store_url, clock) for _ in range(2)]
    yield pair
    for app in pair:
        app.close()


def test_it_stores_one_alert_and_one_incident_when_two_processes_race(apps, monkeypatch):
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
        results = list(pool.map(lambda a: alerts.ingest(a, [alert], source="api"), apps))
    assert sorted((r.new, r.updated) for r in results) == [(0, 1), (1, 0)]
    assert [a.labels["alertname"] for a in helpers.alerts_of(apps[0])] == ["PlatformDown"]
    assert [(i.level, i.status) for i in incidents_of(apps[0])] == [(1, "open")]
