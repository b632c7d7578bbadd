"""Who may call what: every route against no token, an unknown token and each role."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.server import create_app
from hotline_ops.services import incidents, silences
from hotline_ops.services.silences import parse_matchers
from tests.alerts import helpers
from tests.alerts.helpers import am_alert, webhook
from tests.conftest import T0

SILENCE = {
    "matchers": [{"name": "trunk", "value": "ct-1", "isRegex": False, "isEqual": True}],
    "startsAt": "2026-11-28T02:00:00Z",
    "endsAt": "2026-11-28T04:00:00Z",
    "createdBy": "ops",
    "comment": "works",
}
# route -> request body (None: no body)
ROUTES = {
    "GET /healthz": None,
    "GET /metrics": None,
    "POST /api/webhook-sink": {"subject": "demo"},
    "POST /api/alertmanager": webhook(am_alert({"alertname": "A"})),
    "POST /api/v2/alerts": [{"labels": {"alertname": "B"}}],
    "GET /api/v2/alerts": None,
    "POST /api/v2/silences": SILENCE,
    "GET /api/v2/silences": None,
    "DELETE /api/v2/silence/{silence_id}": None,
    "POST /api/incidents/{incident_id}/ack": {"reason": "已接手"},
    # Role-free: the signed token is the credential (a forged one is 403 for everybody).
    "GET /api/ack/{token}": None,
    "POST /api/ack/{token}": None,
}
CALLERS = ["none", "unknown", "viewer", "ingest", "operator", "admin"]
# The permission matrix, written out: 401 no or unknown token, 403 role lacks permission.
EXPECTED = {
    "GET /healthz": [200, 200, 200, 200, 200, 200],
    "GET /metrics": [200, 200, 200, 200, 200, 200],
    "POST /api/webhook-sink": [401, 401, 403, 204, 204, 204],
    "POST /api/alertmanager": [401, 401, 403, 200, 200, 200],
    "POST /api/v2/alerts": [401, 401, 403, 200, 200, 200],
    "GET /api/v2/alerts": [401, 401, 200, 403, 200, 200],
    "POST /api/v2/silences": [401, 401, 403, 403, 200, 200],
    "GET /api/v2/silences": [401, 401, 200, 403, 200, 200],
    "DELETE /api/v2/silence/{silence_id}": [401, 401, 403, 403, 200, 200],
    "POST /api/incidents/{incident_id}/ack": [401, 401, 403, 403, 200, 200],
    "GET /api/ack/{token}": [403, 403, 403, 403, 403, 403],
    "POST /api/ack/{token}": [403, 403, 403, 403, 403, 403],
}
HEADERS = {
    "none": {},
    "unknown": {"Authorization": "Bearer not-a-token"},
    **helpers.BEARER,
}


@pytest.fixture
def app(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock)
    yield app
    app.close()


def call(app, http, route: str, caller: str) -> int:
    method, path = route.split(" ")
    if "{silence_id}" in path:
        # A silence to expire, so an allowed caller gets 200 rather than 409.
        fresh = silences.add(
            app,
            matchers=parse_matchers(["trunk=ct-1"]),
            ends_at=T0 + timedelta(hours=1),
            created_by="t",
            comment="t",
        )
        path = path.format(silence_id=fresh.id)
    if "{incident_id}" in path:
        # A fresh open incident, so an allowed caller gets 200 rather than 409.
        fresh, _ = incidents.create(app, title=f"rbac {caller}", actor="t", level=3)
        path = path.format(incident_id=fresh.id)
    path = path.replace("{token}", "eyJpIjoxfQ.forged")
    body = ROUTES[route]
    kwargs = {"json": body} if body is not None else {}
    return http.request(method, path, headers=HEADERS[caller], **kwargs).status_code


def test_it_covers_every_route_of_the_server(app):
    paths = create_app(app).openapi()["paths"]
    routes = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    # The ticket routes have their own roles and matrix: tests/tickets/test_role_matrix.py.
    routes = {r for r in routes if not r.split(" ")[1].startswith(("/api/ticket", "/api/call"))}
    assert routes == set(ROUTES)


def test_it_enforces_the_permission_matrix(app):
    http = helpers.client(app, None)
    got = {route: [call(app, http, route, c) for c in CALLERS] for route in ROUTES}
    assert got == EXPECTED


def test_it_asks_for_a_bearer_token_on_401(app):
    http = helpers.client(app, None)
    response = http.get("/api/v2/alerts")
    assert (response.status_code, response.headers["www-authenticate"], response.json()) == (
        401,
        "Bearer",
        {"error": "a bearer token is required (Authorization: Bearer <token>)"},
    )
    wrong_scheme = http.get("/api/v2/alerts", headers={"Authorization": "Basic YTpi"})
    assert wrong_scheme.status_code == 401


def test_it_names_the_token_and_role_on_403(app):
    response = helpers.client(app, "ingest").get("/api/v2/alerts")
    assert (response.status_code, response.json()) == (
        403,
        {"error": "token 'alertmanager' (role ingest) may not read"},
    )


def test_it_refuses_every_api_route_without_tokens_but_the_demo_sink(tmp_path, store_url, clock):
    app = helpers.open_app(helpers.site(tmp_path / "site", api={}), store_url, clock, env={})
    try:
        http = helpers.client(app, None)
        got = {route: call(app, http, route, "none") for route in ROUTES}
        assert got == {
            "GET /healthz": 200,
            "GET /metrics": 200,
            "POST /api/webhook-sink": 204,
            "POST /api/alertmanager": 401,
            "POST /api/v2/alerts": 401,
            "GET /api/v2/alerts": 401,
            "POST /api/v2/silences": 401,
            "GET /api/v2/silences": 401,
            "DELETE /api/v2/silence/{silence_id}": 401,
            "POST /api/incidents/{incident_id}/ack": 401,
            "GET /api/ack/{token}": 403,
            "POST /api/ack/{token}": 403,
        }
    finally:
        app.close()


def test_it_guards_metrics_when_they_are_not_public(tmp_path, store_url, clock):
    api = {"tokens": helpers.TOKENS, "public_metrics": False}
    app = helpers.open_app(helpers.site(tmp_path / "site", api=api), store_url, clock)
    try:
        http = helpers.client(app, None)
        got = [call(app, http, "GET /metrics", c) for c in CALLERS]
        assert got == [401, 401, 200, 403, 200, 200]
    finally:
        app.close()


def test_it_refuses_to_start_when_a_token_secret_is_missing(tmp_path, store_url, clock):
    env = {k: v for k, v in helpers.SECRETS.items() if "AM_TOKEN" not in k}
    app = helpers.open_app(helpers.site(tmp_path / "site"), store_url, clock, env=env)
    try:
        with pytest.raises(ConfigError) as err:
            create_app(app)
        assert str(err.value) == (
            "api.tokens.0.secret: secret 'am_token' is not set "
            "(set HOTLINE_OPS_SECRET_AM_TOKEN or HOTLINE_OPS_SECRET_AM_TOKEN_FILE)"
        )
    finally:
        app.close()


def test_it_never_logs_or_echoes_a_token(app, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    for caller in CALLERS:
        http = helpers.client(app, None)
        for route in ROUTES:
            method, path = route.split(" ")
            body = {"json": ROUTES[route]} if ROUTES[route] is not None else {}
            url = path.format(silence_id=1, incident_id=1, token="eyJpIjoxfQ.forged")
            response = http.request(method, url, headers=HEADERS[caller], **body)
            bodies.append(response.text)
    text = caplog.text + "".join(bodies)
    assert [s for s in [*helpers.SECRETS.values(), "not-a-token"] if s in text] == []
