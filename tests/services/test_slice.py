"""The end-to-end slice of issue [1/7]: a real HTTP target goes down, a level-2 incident opens
with its contract deadlines (M2.1b, M2.3b), one webhook notification goes out through the
outbox, the target comes back, the incident resolves, one resolve notification goes out."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from hotline_ops.services import incidents, outbox, probing, timers
from hotline_ops.store.models import Deadline, Incident
from tests.conftest import T0
from tests.support.content import write_content


class Service:
    """A real local HTTP service whose health the test switches."""

    def __init__(self) -> None:
        self.healthy = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code = 200 if outer.healthy else 503
                body = b"status: ok" if outer.healthy else b"maintenance"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    svc = Service()
    yield svc
    svc.close()


@pytest.fixture
def slice_app(tmp_path, service, receiver, make_app, store_url):
    root = write_content(
        tmp_path / "site",
        targets=[
            {
                "name": "ticket-api",
                "kind": "http",
                "url": service.url,
                "body_regex": "status: ok",
                "interval": "30s",
                "timeout": "2s",
                "attempts": 3,
                "labels": {"impact": "core", "segment": "lan"},
            }
        ],
        channels={"ops": {"kind": "webhook", "url": receiver.url, "timeout_s": 2}},
    )
    app = make_app(root, store_url)
    app.test_recorder = probing.Recorder(app)
    return app


def cycle(app, clock) -> probing.Outcome:
    """One probe interval: check, record, then let the outbox run."""
    clock.advance(timedelta(seconds=30))
    (outcome,) = asyncio.run(probing.run_targets(app, app.test_recorder))
    outbox.deliver_due(app)
    return outcome


def open_incidents(app) -> list[Incident]:
    with app.store.session() as session:
        return incidents.get_all(session, open_only=True)


def test_it_opens_one_level2_incident_only_after_three_failures(slice_app, clock, service):
    cycle(slice_app, clock)
    service.healthy = False
    flips = [cycle(slice_app, clock).flip for _ in range(3)]
    assert [f is not None for f in flips] == [False, False, True]
    (incident,) = open_incidents(slice_app)
    assert (incident.level, incident.status, incident.target) == (2, "open", "ticket-api")
    assert incident.opened_at == T0 + timedelta(seconds=120)


def test_it_stores_contract_deadlines_exactly(slice_app, clock, service):
    service.healthy = False
    for _ in range(3):
        cycle(slice_app, clock)
    (incident,) = open_incidents(slice_app)
    with slice_app.store.session() as session:
        due = {d.kind: (d.due_at, d.clause) for d in session.scalars(select(Deadline))}
    opened = T0 + timedelta(seconds=90)
    assert incident.opened_at == opened
    assert due == {
        "response": (opened + timedelta(minutes=30), "M2.1b"),
        "resolve": (opened + timedelta(hours=2), "M2.3b"),
    }


def test_it_sends_exactly_one_open_and_one_resolve_notification(
    slice_app, clock, service, receiver
):
    service.healthy = False
    for _ in range(5):
        cycle(slice_app, clock)
    service.healthy = True
    for _ in range(3):
        cycle(slice_app, clock)
    assert receiver.events() == ["opened", "resolved"]
    assert receiver.keys() == ["incident:1:opened:ops", "incident:1:resolved:ops"]
    assert open_incidents(slice_app) == []


def test_it_resolves_with_the_time_it_came_back(slice_app, clock, service):
    service.healthy = False
    for _ in range(3):
        cycle(slice_app, clock)
    service.healthy = True
    cycle(slice_app, clock)
    with slice_app.store.session() as session:
        (incident,) = incidents.get_all(session)
        met = {d.kind: d.met_at for d in incidents.deadlines_of(session, incident.id)}
    came_back = T0 + timedelta(seconds=120)
    assert (incident.status, incident.resolved_at) == ("resolved", came_back)
    assert met == {"response": came_back, "resolve": came_back}


def test_it_writes_the_opened_message_in_chinese_with_local_deadlines(
    slice_app, clock, service, receiver
):
    service.healthy = False
    for _ in range(3):
        cycle(slice_app, clock)
    text = receiver.posts[0]["body"]["text"]
    assert text.splitlines()[0] == "【测试热线·二级故障】ticket-api 不可用：HTTP 503"
    assert "- 响应（M2.1b）：2026-11-28 10:31:30 前" in text
    assert "- 故障解决（M2.3b）：2026-11-28 12:01:30 前" in text


def test_it_records_a_breach_once_when_nobody_answers(slice_app, clock, service, receiver):
    service.healthy = False
    for _ in range(3):
        cycle(slice_app, clock)
    clock.advance(timedelta(minutes=30))
    assert timers.fire_due(slice_app) == 3  # the 50 % and 80 % warnings, then the breach
    assert timers.fire_due(slice_app) == 0
    outbox.deliver_due(slice_app)
    assert receiver.keys()[-3:] == [
        "incident:1:warning:response:50:ops",
        "incident:1:warning:response:80:ops",
        "incident:1:breach:response:ops",
    ]
