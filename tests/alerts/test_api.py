"""The Alertmanager-compatible API: bad bodies are 400 naming the field and store nothing;
reads and silences answer in Alertmanager's shapes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.core.alerts import fingerprint
from tests.alerts import helpers
from tests.alerts.helpers import am_alert, counts, webhook
from tests.conftest import T0

TRUNK = {"alertname": "TrunkDown", "trunk": "ct-1"}
SILENCE = {
    "matchers": [{"name": "trunk", "value": "ct-1", "isRegex": False, "isEqual": True}],
    "startsAt": "2026-11-28T02:00:00Z",
    "endsAt": "2026-11-28T04:00:00Z",
    "createdBy": "ops",
    "comment": "carrier works on ct-1",
}


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


@pytest.fixture
def http(app):
    return helpers.client(app, "admin")


GOOD = am_alert({"alertname": "A"})

MALFORMED = [
    (
        "/api/alertmanager",
        webhook(GOOD, {k: v for k, v in GOOD.items() if k != "labels"}),
        "alerts.1.labels: Field required",
    ),
    ("/api/alertmanager", {"version": "4"}, "alerts: Field required"),
    (
        "/api/alertmanager",
        webhook(GOOD, {**GOOD, "status": "pending"}),
        "alerts.1.status: Input should be 'firing' or 'resolved'",
    ),
    (
        "/api/alertmanager",
        webhook({**GOOD, "labels": {"alertname": 7}}),
        "alerts.0.labels.alertname: Input should be a valid string",
    ),
    (
        "/api/alertmanager",
        webhook({**GOOD, "fingerprint": "f" * 65}),
        "alerts.0.fingerprint: String should have at most 64 characters",
    ),
    ("/api/v2/alerts", [{"labels": {"a": "b"}}, {"annotations": {}}], "1.labels: Field required"),
    (
        "/api/v2/alerts",
        [{"labels": {}}],
        "0.labels: Dictionary should have at least 1 item after validation, not 0",
    ),
    (
        "/api/v2/alerts",
        [{"labels": {"a": "b"}, "startsAt": "2026-11-28T02:00:00"}],
        "0.startsAt: Input should have timezone info",
    ),
    (
        "/api/v2/alerts",
        [{"labels": {"a": "b"}, "startsAt": "2026-11-28T02:00:00Z", "endsAt": "2026-11-28T01:00Z"}],
        "0.endsAt: must not be before startsAt",
    ),
    ("/api/v2/alerts", {"labels": {"a": "b"}}, "body: Input should be a valid list"),
    (
        "/api/v2/silences",
        {**SILENCE, "comment": ""},
        "comment: String should have at least 1 character",
    ),
    (
        "/api/v2/silences",
        {k: v for k, v in SILENCE.items() if k != "createdBy"},
        "createdBy: Field required",
    ),
    (
        "/api/v2/silences",
        {**SILENCE, "matchers": [{"name": "trunk", "value": "ct-(", "isRegex": True}]},
        "matchers.0: trunk: bad regex 'ct-(': missing ), unterminated subpattern at position 3",
    ),
    (
        "/api/v2/silences",
        {**SILENCE, "matchers": [{"name": "trunk", "value": ".*", "isRegex": True}]},
        "matchers: at least one matcher must not match the empty string",
    ),
    (
        "/api/v2/silences",
        {**SILENCE, "endsAt": "2026-11-28T01:00:00Z"},
        "endsAt: the end is in the past",
    ),
]


@pytest.mark.parametrize(("path", "body", "error"), MALFORMED)
def test_it_refuses_a_malformed_body_with_400_naming_the_field(app, http, path, body, error):
    before = counts(app)
    response = http.post(path, json=body)
    assert (response.status_code, response.json()["error"]) == (400, error)
    assert counts(app) == before == (0, 0, 0, 0)


def test_it_refuses_invalid_json_with_400(app, http):
    response = http.post(
        "/api/v2/alerts", content=b"[{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("body: invalid JSON: ")
    assert counts(app) == (0, 0, 0, 0)


def test_it_stores_nothing_of_a_batch_with_one_bad_alert(app, http):
    body = [{"labels": {"alertname": "A"}}] * 50 + [{"labels": {"alertname": 1}}]
    response = http.post("/api/v2/alerts", json=body)
    assert (response.status_code, response.json()["error"]) == (
        400,
        "50.labels.alertname: Input should be a valid string",
    )
    assert counts(app) == (0, 0, 0, 0)


def test_it_ignores_fields_it_does_not_know(app, http):
    body = {**webhook({**am_alert(TRUNK), "newField": {"x": 1}}), "version": "5", "extra": []}
    assert http.post("/api/alertmanager", json=body).status_code == 200
    assert counts(app)[:2] == (1, 1)


def test_it_lists_firing_alerts_in_alertmanagers_shape(app, http, clock):
    http.post("/api/alertmanager", json=webhook(am_alert(TRUNK), am_alert({"alertname": "B"})))
    http.post("/api/alertmanager", json=webhook(am_alert({"alertname": "C"}, "resolved")))
    (incident, _b) = helpers.incidents_of(app)
    response = http.get("/api/v2/alerts", params={"filter": 'trunk="ct-1"'})
    assert response.json() == [
        {
            "labels": TRUNK,
            "annotations": {},
            "startsAt": "2026-11-28T01:59:00+00:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "updatedAt": "2026-11-28T02:00:00+00:00",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fingerprint(TRUNK),
            "receivers": [{"name": "hotline-ops"}],
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            "incidentId": incident.id,
        }
    ]
    all_firing = http.get("/api/v2/alerts").json()
    assert [a["labels"]["alertname"] for a in all_firing] == ["TrunkDown", "B"]


def test_it_filters_alerts_by_suppression(app, http):
    http.post("/api/v2/silences", json=SILENCE)
    body = webhook(am_alert(TRUNK), am_alert({"alertname": "B"}))
    http.post("/api/alertmanager", json=body)
    silenced = http.get("/api/v2/alerts", params={"active": "false"}).json()
    assert [(a["labels"]["alertname"], a["status"]) for a in silenced] == [
        ("TrunkDown", {"state": "suppressed", "silencedBy": ["1"], "inhibitedBy": []})
    ]
    active = http.get("/api/v2/alerts", params={"silenced": "false"}).json()
    assert [a["labels"]["alertname"] for a in active] == ["B"]


def test_it_refuses_a_bad_filter_with_400(http):
    response = http.get("/api/v2/alerts", params={"filter": "trunk"})
    assert (response.status_code, response.json()["error"]) == (
        400,
        "filter: 'trunk' is not name=value, name!=value, name=~regex or name!~regex",
    )


def test_it_creates_lists_and_expires_a_silence(app, http, clock):
    response = http.post("/api/v2/silences", json=SILENCE)
    assert (response.status_code, response.json()) == (200, {"silenceID": "1"})
    listed = http.get("/api/v2/silences").json()
    assert listed == [
        {
            "id": "1",
            "status": {"state": "active"},
            "updatedAt": "2026-11-28T02:00:00+00:00",
            "matchers": SILENCE["matchers"],
            "startsAt": "2026-11-28T02:00:00+00:00",
            "endsAt": "2026-11-28T04:00:00+00:00",
            "createdBy": "ops",
            "comment": "carrier works on ct-1",
        }
    ]
    clock.advance(timedelta(minutes=20))
    response = http.delete("/api/v2/silence/1")
    assert (response.status_code, response.json()) == (200, {"silenceID": "1", "state": "expired"})
    (expired,) = http.get("/api/v2/silences").json()
    assert (expired["status"], expired["endsAt"], expired["updatedAt"]) == (
        {"state": "expired"},
        "2026-11-28T02:20:00+00:00",
        "2026-11-28T02:20:00+00:00",
    )


def test_it_answers_409_for_an_expired_and_404_for_an_unknown_silence(http):
    http.post("/api/v2/silences", json=SILENCE)
    http.delete("/api/v2/silence/1")
    again = http.delete("/api/v2/silence/1")
    assert (again.status_code, again.json()) == (409, {"error": "silence 1 has already expired"})
    for missing in ("2", "c0ffee-uuid"):
        response = http.delete(f"/api/v2/silence/{missing}")
        assert (response.status_code, response.json()) == (
            404,
            {"error": f"silence {missing} does not exist"},
        )


def test_it_replaces_a_silence_posted_with_its_id(http):
    http.post("/api/v2/silences", json=SILENCE)
    response = http.post("/api/v2/silences", json={**SILENCE, "id": "1", "comment": "longer"})
    assert response.json() == {"silenceID": "2"}
    listed = http.get("/api/v2/silences").json()
    assert [(s["id"], s["status"]["state"], s["comment"]) for s in listed] == [
        ("2", "active", "longer"),
        ("1", "expired", "carrier works on ct-1"),
    ]


def test_it_starts_a_silence_given_a_past_start_now_and_a_future_one_pending(http):
    past = http.post("/api/v2/silences", json={**SILENCE, "startsAt": "2026-11-27T00:00:00Z"})
    future = {**SILENCE, "startsAt": "2026-11-28T03:00:00Z"}
    assert (past.json(), http.post("/api/v2/silences", json=future).json()) == (
        {"silenceID": "1"},
        {"silenceID": "2"},
    )
    listed = {s["id"]: s for s in http.get("/api/v2/silences").json()}
    assert (listed["1"]["startsAt"], listed["1"]["status"]["state"]) == (
        T0.isoformat(),
        "active",
    )
    assert listed["2"]["status"]["state"] == "pending"
