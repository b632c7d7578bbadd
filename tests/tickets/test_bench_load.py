"""The ticket benchmark's PostgreSQL bulk load (bench/tickets.py, issue 7): COPY must store
exactly the rows the insert path stores, and give the tables back their indexes."""

from __future__ import annotations

import importlib.util
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from hotline_ops.store.tickets import Ticket
from tests.tickets.helpers import ticket_site

ROOT = Path(__file__).resolve().parents[2]
TICKETS = 300


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_tickets", ROOT / "bench" / "tickets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(tmp_path, make_app, pg_url):
    return make_app(ticket_site(tmp_path / "site"), pg_url)


def stored(app) -> dict[str, list[str]]:
    """Every row as PostgreSQL prints it (JSON text verbatim, NULL unlike JSON null, times
    with their offset), and the index definitions."""
    queries = {
        "tickets": "SELECT t::text FROM tickets t ORDER BY id",
        "deadlines": "SELECT d::text FROM deadlines d ORDER BY id",
        "indexes": "SELECT indexdef FROM pg_indexes "
        "WHERE tablename IN ('tickets', 'deadlines') ORDER BY indexname",
    }
    with app.store.read() as session:
        return {key: list(session.scalars(text(sql))) for key, sql in queries.items()}


def test_copy_stores_the_rows_the_insert_path_stores(app, bench):
    indexes = stored(app)["indexes"]
    bench.load(app, TICKETS, copy=False)
    inserted = stored(app)
    with app.store.session() as session:
        session.execute(text("DELETE FROM deadlines"))
        session.execute(text("DELETE FROM tickets"))
        session.execute(text("ALTER SEQUENCE deadlines_id_seq RESTART"))
    bench.load(app, TICKETS, copy=True)
    copied = stored(app)

    assert len(inserted["tickets"]) == len(inserted["deadlines"]) == TICKETS
    assert copied == inserted
    assert copied["indexes"] == indexes
    assert len(indexes) == 14  # 11 set aside and rebuilt, 2 primary keys, 1 unique


def test_copied_rows_read_back_as_the_bench_made_them(app, bench):
    bench.load(app, TICKETS, copy=True)
    rnd = random.Random(7)
    created = bench.END - timedelta(seconds=rnd.randrange(365 * 86400))
    made = bench._row(rnd, 1, created)
    with app.store.read() as session:
        ticket = session.get(Ticket, 1)
        read = {name: getattr(ticket, name) for name in [*made, "synthetic"]}
    assert read == {**made, "synthetic": False}  # the model's default, as insert() fills in
    assert read["created_at"].utcoffset() == timedelta(0)
