"""The real ticket_service probe (P9.1) against this ticket API served by uvicorn on
127.0.0.1: create → query → close a synthetic ticket, which stays out of searches and KPIs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
import uvicorn

from hotline_ops.core.kpi import Period
from hotline_ops.probes.ticket_service import TicketServiceProbe
from hotline_ops.server import create_app
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import kpi, service, tokens
from hotline_ops.tickets.schemas import SearchIn
from tests.tickets.helpers import ticket_site

PARAMS = {
    "create_path": "/api/tickets/synthetic",
    "close_path": "/api/tickets/{id}/synthetic-close",
    "token_env": "HOTLINE_OPS_SECRET_TICKET_TOKEN",
}


@pytest.fixture
def served(tmp_path, make_app, monkeypatch):
    app = make_app(ticket_site(tmp_path / "site"))
    _, token = tokens.add(app, name="probe", role="om_engineer")
    monkeypatch.setenv("HOTLINE_OPS_SECRET_TICKET_TOKEN", token)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield app, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _probe(base: str):
    probe = TicketServiceProbe({"base_url": base, **PARAMS})
    return asyncio.run(probe.check(10.0))


def test_it_passes_the_probe_and_archives_its_ticket(served):
    app, base = served
    result = _probe(base)
    with app.store.session() as session:
        ticket = session.get(Ticket, 1)
        assert (result.ok, ticket.synthetic, ticket.status) == (True, True, "archived")


def test_it_leaves_the_probes_ticket_out_of_searches_and_kpis(served):
    app, base = served
    _probe(base)
    rows, _ = service.search(app, query=SearchIn())
    month = kpi.compute(app, period=Period.parse("2026-11", app.settings.tz))
    assert (rows, month["kpi"]["completion_rate"]["den"]) == ([], 0)


def test_it_refuses_to_synthetic_close_a_real_ticket(served):
    from hotline_ops.errors import IllegalTransition
    from tests.tickets.helpers import body

    app, _ = served
    real = service.create(app, body=body(), actor="seat")
    with pytest.raises(IllegalTransition, match="not a synthetic probe ticket"):
        service.close_synthetic(app, ticket_id=real.id, actor="probe")
