"""An API client over the ASGI app with one ticket token per role."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hotline_ops.core.ticket_roles import ROLES
from hotline_ops.server import create_app
from hotline_ops.tickets import tokens


def client_and_tokens(app) -> tuple[TestClient, dict[str, dict[str, str]]]:
    headers = {}
    for role in ROLES:
        _row, value = tokens.add(app, name=f"t-{role}", role=role)
        headers[role] = {"Authorization": f"Bearer {value}"}
    return TestClient(create_app(app), raise_server_exceptions=False), headers
