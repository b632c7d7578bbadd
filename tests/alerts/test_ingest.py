"""Alerts into incidents over real HTTP (the server's ASGI app in-process), on SQLite and
PostgreSQL, with the clock pinned at T0: dedup, auto-resolve, grouping, inhibition,
silences, and the v2 API's resolve_timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.core.alerts import fingerprint
from hotline_ops.services import alerts, silences
from hotline_ops.services.silences import parse_matchers
from tests.alerts import helpers
from tests.alerts.helpers import am_alert, incidents_of, webhook
from tests.conftest import T0

TRUNK = {"alertname": "TrunkDown", "trunk": "ct-1"}


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


@pytest.fixture
def http(app):
    with helpers.client(app, "ingest") as client:
        yield client


def number(n: str, trunk: str = "ct-1") -> dict:
    return {"alertname": "NumberDown", "trunk": trunk, "number": n}


def send(http, *alerts_: dict) -> dict:
    response = http.post("/api/alertmanager", json=webhook(*alerts_))
    assert response.status_code == 200, response.text
    return response.json()


def test_it_opens_one_incident_from_the_reference_webhook_body(app, http):
    response = http.post("/api/alertmanager", json=helpers.REFERENCE_WEBHOOK)
    assert response.status_code == 200
    (incident,) = incidents_of(app)
    assert response.json() == {
        "received": 1,
        "new": 1,
        "updated": 0,
        "resolved": 0,
        "suppressed": 0,
        "incidents": [incident.id],
        "opened": [incident.id],
        "incidents_resolved": [],
    }
    # No level rule matches alertname/trunk alone: the default level 3.
    assert (incident.dedup_key, incident.title, incident.level, incident.status) == (
        "alert:trunk=ct-1",
        "…",
        3,
        "open",
    )
    assert (incident.source, incident.labels, incident.opened_at) == ("alertmanager", TRUNK, T0)
    (alert,) = helpers.alerts_of(app)
    assert (alert.fingerprint, alert.firing_key, alert.status, alert.incident_id) == (
        "7383f075284c15eb",
        "7383f075284c15eb",
        "firing",
        incident.id,
    )
    assert (alert.starts_at, alert.ends_at, alert.received_at) == (
        T0 + timedelta(minutes=58, seconds=25, microseconds=800_000),
        None,
        T0,
    )
    assert helpers.event_kinds(app, incident.id) == ["opened", "alert.firing"]


def test_it_opens_the_incident_at_the_level_the_labels_give(app, http):
    send(http, am_alert({"alertname": "PlatformDown", "impact": "system"}))
    send(http, am_alert({"alertname": "TicketApiSlow", "impact": "core"}))
    (system, core) = incidents_of(app)
    assert [(i.level, i.policy["name"], i.title) for i in (system, core)] == [
        (1, "系统瘫痪", "PlatformDown impact=system"),
        (2, "核心功能故障", "TicketApiSlow impact=core"),
    ]
    # The ungrouped alert's incident is keyed by its fingerprint.
    assert system.dedup_key == "alert:" + fingerprint(
        {"alertname": "PlatformDown", "impact": "system"}
    )


def test_it_grades_by_the_level_rules_over_an_alert_level_label(app, http):
    # levels.yaml says impact=system is level 1; the alert's own `level: 3` does not win.
    send(http, am_alert({"alertname": "PlatformDown", "impact": "system", "level": "3"}))
    (incident,) = incidents_of(app)
    assert (incident.level, incident.policy["name"]) == (1, "系统瘫痪")


def test_it_updates_a_re_sent_alert_and_never_duplicates_it(app, http, clock):
    send(http, am_alert(TRUNK))
    clock.advance(timedelta(minutes=4))
    result = send(http, am_alert(TRUNK, annotations={"summary": "still down"}))
    assert (result["new"], result["updated"], result["opened"]) == (0, 1, [])
    (alert,) = helpers.alerts_of(app)
    assert (alert.received_at, alert.updated_at, alert.annotations) == (
        T0,
        T0 + timedelta(minutes=4),
        {"summary": "still down"},
    )
    (incident,) = incidents_of(app)
    assert helpers.event_kinds(app, incident.id) == ["opened", "alert.firing"]


def test_it_resolves_the_incident_when_its_alert_resolves(app, http, clock):
    send(http, am_alert(TRUNK))
    clock.advance(timedelta(minutes=10))
    result = send(http, am_alert(TRUNK, "resolved", endsAt="2026-11-28T02:09:30Z"))
    (incident,) = incidents_of(app)
    assert (result["resolved"], result["incidents_resolved"]) == (1, [incident.id])
    assert (incident.status, incident.resolved_at, incident.open_key) == (
        "resolved",
        T0 + timedelta(minutes=10),
        None,
    )
    (alert,) = helpers.alerts_of(app)
    assert (alert.status, alert.firing_key, alert.ends_at) == (
        "resolved",
        None,
        T0 + timedelta(minutes=9, seconds=30),
    )
    assert helpers.event_kinds(app, incident.id) == [
        "opened",
        "alert.firing",
        "alert.resolved",
        "resolved",
    ]


def test_it_keeps_the_incident_open_when_auto_resolve_is_off(tmp_path, store_url, clock):
    rules = {**helpers.ALERTS, "sources": {"alertmanager": {"auto_resolve": False}}}
    app = helpers.open_app(helpers.site(tmp_path / "site", alerts=rules), store_url, clock)
    try:
        with helpers.client(app, "ingest") as http:
            send(http, am_alert(TRUNK))
            result = send(http, am_alert(TRUNK, "resolved", endsAt="2026-11-28T02:00:00Z"))
        assert (result["resolved"], result["incidents_resolved"]) == (1, [])
        (incident,) = incidents_of(app)
        assert (incident.status, incident.resolved_at) == ("open", None)
        assert helpers.event_kinds(app, incident.id) == ["opened", "alert.firing", "alert.resolved"]
    finally:
        app.close()


def test_it_ignores_a_repeated_resolution_after_an_alertmanager_restart(app, http, clock):
    send(http, am_alert(TRUNK))
    resolved = am_alert(TRUNK, "resolved", endsAt="2026-11-28T02:00:00Z")
    send(http, resolved)
    clock.advance(timedelta(seconds=30))
    result = send(http, resolved)
    assert (result["resolved"], result["incidents_resolved"]) == (0, [])
    assert [(a.status, a.updated_at) for a in helpers.alerts_of(app)] == [
        ("resolved", T0 + timedelta(seconds=30))
    ]


def test_it_groups_three_numbers_behind_one_trunk_into_one_incident(app, http, clock):
    result = send(http, am_alert(number("12345")), am_alert(number("12315")))
    send(http, am_alert(number("12369")))
    (incident,) = incidents_of(app)
    assert result["opened"] == [incident.id]
    assert (incident.dedup_key, incident.title) == ("alert:trunk=ct-1", "NumberDown trunk=ct-1")
    assert [a.incident_id for a in helpers.alerts_of(app)] == [incident.id] * 3
    clock.advance(timedelta(minutes=5))
    send(
        http,
        am_alert(number("12345"), "resolved", endsAt="2026-11-28T02:04:00Z"),
        am_alert(number("12315"), "resolved", endsAt="2026-11-28T02:04:00Z"),
    )
    assert incidents_of(app)[0].status == "open"  # 12369 still down
    clock.advance(timedelta(minutes=5))
    send(http, am_alert(number("12369"), "resolved", endsAt="2026-11-28T02:09:00Z"))
    (incident,) = incidents_of(app)
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + timedelta(minutes=10))


def test_it_keeps_numbers_of_different_trunks_apart(app, http):
    send(http, am_alert(number("12345", "ct-1")), am_alert(number("12315", "cu-2")))
    assert [i.dedup_key for i in incidents_of(app)] == ["alert:trunk=ct-1", "alert:trunk=cu-2"]


def test_it_stores_an_inhibited_alert_without_opening_an_incident(app, http):
    # The target comes first in the batch: inhibition sees the whole request.
    result = send(http, am_alert(number("12345")), am_alert(TRUNK), am_alert(number("1", "ct-9")))
    nd, trunk, other = helpers.alerts_of(app)
    assert (nd.suppressed_by, nd.incident_id) == (f"inhibited:{fingerprint(TRUNK)}", None)
    assert (trunk.suppressed_by, other.suppressed_by) == (None, None)
    assert result["suppressed"] == 1
    assert [i.dedup_key for i in incidents_of(app)] == ["alert:trunk=ct-1", "alert:trunk=ct-9"]


def test_it_inhibits_spans_while_their_gateway_is_down(app, http):
    gateway = {"alertname": "GatewayDown", "gateway": "mg-1"}
    send(http, am_alert(gateway))
    send(
        http,
        am_alert({"alertname": "SpanDown", "gateway": "mg-1", "span": "1"}),
        am_alert({"alertname": "SpanDown", "gateway": "mg-2", "span": "1"}),
    )
    spans = helpers.alerts_of(app)[1:]
    assert [a.suppressed_by for a in spans] == [f"inhibited:{fingerprint(gateway)}", None]
    assert [i.dedup_key for i in incidents_of(app)] == ["alert:gateway=mg-1", "alert:gateway=mg-2"]


def test_it_lets_an_inhibited_alert_join_the_incident_when_its_source_resolves(app, http, clock):
    send(http, am_alert(TRUNK), am_alert(number("12345")))
    clock.advance(timedelta(minutes=3))
    result = send(http, am_alert(TRUNK, "resolved", endsAt="2026-11-28T02:02:00Z"))
    (incident,) = incidents_of(app)
    # The number is still down: the trunk's incident goes on, now fed by the number alone.
    assert (incident.status, result["incidents_resolved"]) == ("open", [])
    nd = helpers.alerts_of(app)[1]
    assert (nd.suppressed_by, nd.incident_id) == (None, incident.id)


def test_it_suppresses_silenced_alerts_and_expiry_unsuppresses_new_ones(app, http, clock):
    silence = silences.add(
        app,
        matchers=parse_matchers(["trunk=ct-1"]),
        ends_at=T0 + timedelta(hours=2),
        created_by="ops",
        comment="carrier works on ct-1",
    )
    result = send(http, am_alert(TRUNK))
    (alert,) = helpers.alerts_of(app)
    assert (alert.suppressed_by, alert.incident_id, result["suppressed"]) == (
        f"silence:{silence.id}",
        None,
        1,
    )
    assert incidents_of(app) == []
    clock.advance(timedelta(minutes=10))
    silences.expire(app, silence_id=silence.id)
    send(http, am_alert(number("12345")), am_alert({"alertname": "SpanDown", "trunk": "ct-1"}))
    # Unsilenced, the still-firing trunk alert opens its incident with this request; the
    # new number alert is inhibited by it and the new span alert opens its own.
    states = [(a.labels["alertname"], a.suppressed_by) for a in helpers.alerts_of(app)]
    assert states == [
        ("TrunkDown", None),
        ("NumberDown", f"inhibited:{fingerprint(TRUNK)}"),
        ("SpanDown", None),
    ]
    titles = sorted(i.title for i in incidents_of(app))
    assert titles == ["SpanDown trunk=ct-1", "TrunkDown trunk=ct-1"]


def test_it_opens_the_incident_of_a_still_firing_alert_when_its_silence_ends(app, http, clock):
    silences.add(
        app,
        matchers=parse_matchers(["alertname=~Trunk.*"]),
        ends_at=T0 + timedelta(hours=1),
        created_by="ops",
        comment="planned carrier work",
    )
    send(http, am_alert(TRUNK))
    clock.advance(timedelta(minutes=59))
    assert (alerts.expire_stale(app), incidents_of(app)) == (0, [])
    clock.advance(timedelta(minutes=1))
    assert alerts.expire_stale(app) == 0  # resolves nothing, but lifts the silence
    (incident,) = incidents_of(app)
    assert (incident.dedup_key, incident.opened_at) == ("alert:trunk=ct-1", T0 + timedelta(hours=1))
    assert helpers.alerts_of(app)[0].suppressed_by is None


def test_it_resolves_a_v2_alert_without_ends_at_after_resolve_timeout(app, http, clock):
    body = [{"labels": {"alertname": "TicketApiDown", "impact": "core"}}]
    assert http.post("/api/v2/alerts", json=body).status_code == 200
    (alert,) = helpers.alerts_of(app)
    assert (alert.source, alert.starts_at, alert.ends_at) == ("api", T0, T0 + timedelta(minutes=5))
    clock.advance(timedelta(minutes=4))
    http.post("/api/v2/alerts", json=body)  # the client re-sends: firing for 5 more minutes
    clock.advance(timedelta(minutes=4, seconds=59))
    assert alerts.expire_stale(app) == 0
    assert incidents_of(app)[0].status == "open"
    clock.advance(timedelta(seconds=1))
    assert alerts.expire_stale(app) == 1
    (incident,) = incidents_of(app)
    assert (incident.level, incident.status, incident.resolved_at) == (
        2,
        "resolved",
        T0 + timedelta(minutes=9),
    )
    (alert,) = helpers.alerts_of(app)
    assert (alert.status, alert.ends_at, alert.firing_key) == (
        "resolved",
        T0 + timedelta(minutes=9),
        None,
    )
    assert alerts.expire_stale(app) == 0


def test_it_resolves_a_v2_alert_whose_ends_at_has_passed(app, http, clock):
    labels = {"alertname": "QueueStuck"}
    http.post("/api/v2/alerts", json=[{"labels": labels, "endsAt": "2026-11-28T03:00:00Z"}])
    clock.advance(timedelta(minutes=30))
    response = http.post(
        "/api/v2/alerts", json=[{"labels": labels, "endsAt": "2026-11-28T02:29:00Z"}]
    )
    assert response.json()["resolved"] == 1
    (incident,) = incidents_of(app)
    assert (incident.status, incident.resolved_at) == ("resolved", T0 + timedelta(minutes=30))


def test_it_keeps_an_alertmanager_alert_firing_until_it_is_resolved(app, http, clock):
    send(http, am_alert(TRUNK))
    clock.advance(timedelta(hours=6))
    assert alerts.expire_stale(app) == 0
    assert incidents_of(app)[0].status == "open"


def test_it_gives_a_v2_alert_the_fingerprint_alertmanager_would(app, http):
    send(http, am_alert(TRUNK, fingerprint=fingerprint(TRUNK)))
    result = http.post("/api/v2/alerts", json=[{"labels": TRUNK}]).json()
    assert (result["new"], result["updated"]) == (0, 1)
    assert len(helpers.alerts_of(app)) == 1
