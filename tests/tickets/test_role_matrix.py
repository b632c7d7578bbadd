"""Every ticket route × every role: allowed roles get past the guard, the others get 403,
no token gets 401. The expected table is written out here, independent of the code."""

from __future__ import annotations

import pytest

from hotline_ops.core.ticket_roles import ROLES
from tests.tickets.api_helpers import client_and_tokens
from tests.tickets.helpers import ticket_site

SEAT, DISP, REV, UNIT = "seat_agent", "dispatcher", "reviewer", "handling_unit"
SUP, OM, AUD, IVR = "supervisor", "om_engineer", "auditor", "ivr"
EVERYONE = {SEAT, DISP, REV, UNIT, SUP, OM, AUD}  # the IVR reads nothing
ACT = "POST /api/tickets/{ticket_id}/"
EXPECTED = {
    "GET /api/tickets": EVERYONE,
    "GET /api/tickets/{ticket_id}": EVERYONE,
    "GET /api/tickets/{ticket_id}/events": EVERYONE,
    "GET /api/ticket-popups": EVERYONE,
    "GET /api/ticket-kpi": {SUP, OM, AUD},
    "POST /api/tickets": {SEAT},
    "PUT /api/tickets/{ticket_id}/attachments/{name}": {SEAT, UNIT},
    "POST /api/call-records": {OM},
    "POST /api/tickets/synthetic": {OM},
    ACT + "synthetic-close": {OM},
    ACT + "accept": {SEAT},
    ACT + "dispatch": {DISP},
    ACT + "redispatch": {DISP},
    ACT + "objection_approve": {DISP},
    ACT + "objection_reject": {DISP},
    ACT + "merge": {SEAT, DISP},
    ACT + "sign": {UNIT},
    ACT + "respond": {UNIT},
    ACT + "submit": {UNIT},
    ACT + "object": {UNIT},
    ACT + "extend_request": {UNIT},
    ACT + "approve": {REV},
    ACT + "reject": {REV},
    ACT + "extend_approve": {REV},
    ACT + "extend_reject": {REV},
    ACT + "close": {SEAT},
    ACT + "evaluate": {SEAT},
    ACT + "callback": {SEAT},
    ACT + "callback_missed": {SEAT},
    ACT + "archive": {SEAT},
    ACT + "supervise": {SUP},
    ACT + "ivr-evaluation": {IVR},
}
BODIES = {"POST /api/call-records": []}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One app for the whole matrix (the calls are independent of each other)."""
    from hotline_ops.app import build_app
    from hotline_ops.clock import FixedClock
    from hotline_ops.settings import load_settings
    from tests.conftest import T0

    root = ticket_site(tmp_path_factory.mktemp("matrix") / "site")
    app = build_app(load_settings(root, env={}), clock=FixedClock(T0))
    app.store.upgrade()
    client, headers = client_and_tokens(app)
    yield client, headers
    app.close()


def _ticket_routes(client) -> list[str]:
    """From the served OpenAPI document: every route a client can see."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted(
        f"{method.upper()} {path}"
        for path, ops in paths.items()
        if path.startswith(("/api/ticket", "/api/call"))
        for method in ops
    )


def test_it_covers_every_ticket_route_in_the_table(api):
    client, _ = api
    assert _ticket_routes(client) == sorted(EXPECTED)


def _call(client, key: str, headers: dict[str, str]):
    method, path = key.split(" ", 1)
    path = path.replace("{ticket_id}", "1").replace("{name}", "a.txt")
    kwargs = {"params": {"period": "2026-11"}} if "kpi" in path else {}
    if method in ("POST", "PUT"):
        kwargs["json" if method == "POST" else "content"] = BODIES.get(
            key, {} if method == "POST" else b"x"
        )
    return client.request(method, path, headers=headers, **kwargs)


@pytest.mark.parametrize("role", [*ROLES])
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_it_checks_the_role_on_every_route(api, key, role):
    client, headers = api
    status = _call(client, key, headers[role]).status_code
    allowed = role == "admin" or role in EXPECTED[key]
    assert (status == 403) is (not allowed), status
    assert status != 401 and status < 500


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_it_answers_401_without_a_token(api, key):
    client, _ = api
    assert _call(client, key, {}).status_code == 401
