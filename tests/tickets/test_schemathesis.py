"""schemathesis against the served OpenAPI document: no generated request gets a 5xx.

In process over ASGI, with an admin token so requests get past the role check and reach
the handlers, and a few real tickets so generated ids sometimes exist."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from hotline_ops.app import build_app
from hotline_ops.clock import FixedClock
from hotline_ops.server import create_app
from hotline_ops.settings import load_settings
from hotline_ops.tickets import service, tokens
from tests.conftest import T0
from tests.tickets.helpers import HAPPY, body, ticket_site, walk

AUTH: dict[str, str] = {}


@pytest.fixture(scope="module")
def ticket_schema(tmp_path_factory):
    root = ticket_site(tmp_path_factory.mktemp("fuzz") / "site")
    app = build_app(load_settings(root, env={}), clock=FixedClock(T0))
    app.store.upgrade()
    for steps in (HAPPY[:2], HAPPY[:6], HAPPY):
        walk(app, service.create(app, body=body(), actor="seat").id, steps)
    _row, value = tokens.add(app, name="fuzz", role="admin")
    AUTH["Authorization"] = f"Bearer {value}"
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(app))
    yield schema.include(path_regex="^/api/(ticket|call)")
    app.close()


def test_it_never_answers_a_server_error(ticket_schema):
    """Each operation of the document in turn, generated cases from its schema."""
    labels = []
    for result in ticket_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _fuzz(operation)
    assert len(labels) == 32  # every ticket route was exercised


def _fuzz(operation) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def run(case):
        response = case.call(headers=AUTH)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
        )

    run()
