"""The alert ingest routes are answered before FastAPI's routing (hotline_ops.api.Api): the
answers must be exactly those of the FastAPI routes, for good and bad requests alike."""

from __future__ import annotations

import asyncio

import pytest

from hotline_ops.api import alerts as alert_routes
from hotline_ops.services import journal
from tests.alerts import helpers
from tests.alerts.helpers import am_alert, counts, webhook

TRUNK = {"alertname": "TrunkDown", "trunk": "ct-1"}
# (path, role, raw body or JSON): good bodies, every kind of bad one, and the roles.
CASES = [
    ("/api/v2/alerts", "ingest", [{"labels": TRUNK}]),
    ("/api/v2/alerts", "ingest", [{"labels": {}}]),
    ("/api/v2/alerts", "ingest", [{"labels": TRUNK, "endsAt": "yesterday"}]),
    ("/api/v2/alerts", "ingest", {"labels": TRUNK}),
    ("/api/v2/alerts", "ingest", b"[{"),
    ("/api/v2/alerts", "ingest", b""),
    ("/api/v2/alerts", "viewer", [{"labels": TRUNK}]),
    ("/api/v2/alerts", None, [{"labels": TRUNK}]),
    ("/api/alertmanager", "ingest", webhook(am_alert(TRUNK))),
    ("/api/alertmanager", "ingest", webhook(am_alert(TRUNK, status="pending"))),
    ("/api/alertmanager", "ingest", {"version": "4"}),
    ("/api/alertmanager", "operator", webhook(am_alert({**TRUNK, "trunk": "ct-2"}))),
]


def sqlite_app(root, clock):
    return helpers.open_app(helpers.site(root / "site"), f"sqlite:///{root / 'db.sqlite'}", clock)


@pytest.fixture
def app(tmp_path, clock):
    app = sqlite_app(tmp_path, clock)
    yield app
    app.close()


def answers(app, *, shortcut: bool) -> list[tuple[int, dict, str | None]]:
    out = []
    for path, role, body in CASES:
        http = helpers.client(app, role)
        if not shortcut:
            http.api.hot = None  # the FastAPI routes answer
        kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
        reply = http.post(path, **kwargs)
        out.append((reply.status_code, reply.json(), reply.headers.get("www-authenticate")))
    return out


def test_the_shortcut_answers_exactly_as_the_fastapi_routes(tmp_path, clock):
    first, second = sqlite_app(tmp_path / "a", clock), sqlite_app(tmp_path / "b", clock)
    try:
        fast, slow = answers(first, shortcut=True), answers(second, shortcut=False)
        assert fast == slow
        assert [status for status, _, _ in fast] == [
            200, 400, 400, 400, 400, 400, 403, 401, 200, 400, 400, 200
        ]  # fmt: skip
        assert fast[4][1]["error"].startswith("body: invalid JSON: ")
        assert fast[7][2] == "Bearer"
        # ct-1 (posted twice, one fingerprint: one row) and ct-2, an incident per trunk.
        assert counts(first)[:2] == counts(second)[:2] == (2, 2)
    finally:
        first.close()
        second.close()


def test_a_body_over_the_limit_is_413_and_stores_nothing(app, monkeypatch):
    monkeypatch.setattr(alert_routes, "MAX_BODY", 1000)
    body = [{"labels": {**TRUNK, "n": str(n)}} for n in range(40)]
    reply = helpers.client(app, "ingest").post("/api/v2/alerts", json=body)
    assert (reply.status_code, reply.json()) == (413, {"error": "body: larger than 1000 bytes"})
    assert (journal.pending(app), counts(app)[:2]) == (0, (0, 0))


def test_a_client_gone_before_its_body_arrived_stores_nothing_and_gets_no_answer(app):
    api = helpers.client(app, "ingest").api
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"authorization", helpers.BEARER["ingest"]["Authorization"].encode())]
    scope = {"type": "http", "method": "POST", "path": "/api/v2/alerts", "headers": headers}
    asyncio.run(api(scope, receive, send))
    assert (sent, journal.pending(app)) == ([], 0)
