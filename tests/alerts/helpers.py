"""Shared by the alert tests: a site with alert rules and API tokens, an App on a given
store, request bodies shaped as Alertmanager sends them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import func, select

from hotline_ops.app import App, build_app
from hotline_ops.clock import FixedClock
from hotline_ops.server import create_app
from hotline_ops.settings import load_settings
from hotline_ops.store.models import Alert, Incident, IncidentEvent, Silence
from tests.support.content import write_content

# Token values arrive as secrets (env), the settings only name them.
SECRETS = {
    "HOTLINE_OPS_SECRET_AM_TOKEN": "am-7c1d9e",
    "HOTLINE_OPS_SECRET_VIEWER_TOKEN": "viewer-41f0a2",
    "HOTLINE_OPS_SECRET_OPERATOR_TOKEN": "operator-9b3e77",
    "HOTLINE_OPS_SECRET_ADMIN_TOKEN": "admin-05d6c8",
}
TOKENS = [
    {"name": "alertmanager", "role": "ingest", "secret": "am_token"},
    {"name": "grafana", "role": "viewer", "secret": "viewer_token"},
    {"name": "oncall", "role": "operator", "secret": "operator_token"},
    {"name": "root", "role": "admin", "secret": "admin_token"},
]
BEARER = {
    role: {"Authorization": f"Bearer {SECRETS[f'HOTLINE_OPS_SECRET_{name}']}"}
    for role, name in [
        ("ingest", "AM_TOKEN"),
        ("viewer", "VIEWER_TOKEN"),
        ("operator", "OPERATOR_TOKEN"),
        ("admin", "ADMIN_TOKEN"),
    ]
}

ALERTS = {
    "sources": {
        "alertmanager": {"auto_resolve": True},
        "api": {"auto_resolve": True, "resolve_timeout": "5m"},
    },
    "grouping": [
        {
            "name": "numbers behind one trunk",
            "matchers": ['alertname=~"TrunkDown|NumberDown"'],
            "group_by": ["trunk"],
        },
        {"matchers": ['alertname=~"GatewayDown|SpanDown"'], "group_by": ["gateway"]},
    ],
    "inhibit_rules": [
        {
            "source_matchers": ['alertname="TrunkDown"'],
            "target_matchers": ['alertname="NumberDown"'],
            "equal": ["trunk"],
        },
        {
            "source_matchers": ['alertname="GatewayDown"'],
            "target_matchers": ['alertname="SpanDown"'],
            "equal": ["gateway"],
        },
    ],
}

# The webhook v4 body of REFERENCE.md "Alertmanager interoperability", verbatim.
REFERENCE_WEBHOOK = {
    "version": "4",
    "receiver": "r",
    "status": "firing",
    "groupKey": '{}:{alertname="TrunkDown"}',
    "truncatedAlerts": 0,
    "groupLabels": {},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TrunkDown", "trunk": "ct-1"},
            "annotations": {"summary": "…"},
            "startsAt": "2026-11-28T02:58:25.8Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "7383f075284c15eb",
        }
    ],
}


def site(root: Path, *, alerts: dict | None = None, api: dict | None = None) -> Path:
    """A content folder with alerts.yaml and API tokens; returns the root file."""
    config = write_content(root, settings={"api": {"tokens": TOKENS} if api is None else api})
    text = yaml.safe_dump(ALERTS if alerts is None else alerts, sort_keys=False)
    (root / "incidents" / "alerts.yaml").write_text(text, encoding="utf-8")
    return config


def open_app(config: Path, url: str, clock: FixedClock, env: dict | None = None) -> App:
    env = {"HOTLINE_OPS_DATABASE_URL": url, **(SECRETS if env is None else env)}
    app = build_app(load_settings(config, env=env), clock=clock)
    app.store.upgrade()
    return app


class Client:
    """Real HTTP requests, in-process, to the server's ASGI app (no daemon, no socket)."""

    def __init__(self, app: App, headers: dict[str, str]) -> None:
        self.api = create_app(app)
        self.headers = headers

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.api)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://hotline-ops", headers=self.headers
            ) as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


def client(app: App, role: str | None = "admin") -> Client:
    """In-process HTTP with a role's token (None: no Authorization header)."""
    return Client(app, dict(BEARER[role]) if role else {})


def am_alert(labels: dict, status: str = "firing", **fields: Any) -> dict:
    """One alert as Alertmanager's webhook sends it (a firing alert has the zero endsAt)."""
    return {
        "status": status,
        "labels": labels,
        "annotations": fields.pop("annotations", {}),
        "startsAt": fields.pop("startsAt", "2026-11-28T01:59:00Z"),
        "endsAt": fields.pop("endsAt", "0001-01-01T00:00:00Z"),
        "generatorURL": "http://prometheus:9090/graph",
        **fields,
    }


def webhook(*alerts: dict) -> dict:
    return {**REFERENCE_WEBHOOK, "alerts": list(alerts)}


def alerts_of(app: App) -> list[Alert]:
    with app.store.session() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def incidents_of(app: App) -> list[Incident]:
    with app.store.session() as session:
        return list(session.scalars(select(Incident).order_by(Incident.id)))


def event_kinds(app: App, incident_id: int) -> list[str]:
    with app.store.session() as session:
        return list(
            session.scalars(
                select(IncidentEvent.kind)
                .where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.id)
            )
        )


def counts(app: App) -> tuple[int, int, int, int]:
    """Rows in alerts, incidents, incident_events, silences."""
    with app.store.session() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Alert, Incident, IncidentEvent, Silence)
        )
