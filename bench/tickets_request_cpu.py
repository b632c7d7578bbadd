"""CPU time of one ticket request through the real app, in process (no sockets):

    .venv/bin/python bench/tickets_request_cpu.py [--tickets 100000]
    .venv/bin/python bench/tickets_request_cpu.py --pg-url postgresql+psycopg://…/db   # an empty db

Loads N tickets as bench/tickets.py does, then sends 200 requests of each kind (search by
caller, by number, by status + region + page; create; /healthz as the floor) through the
ASGI app with httpx's ASGI transport and prints the CPU milliseconds a request costs
(process time, best of 3 rounds; the client's share included, the same for every kind).
CPU time, unlike latency, moves little with the machine's other load, so two versions of
the code can be compared on a busy machine. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tickets as bench
from hotline_ops.app import build_app
from hotline_ops.server import create_app
from hotline_ops.settings import load_settings
from hotline_ops.store.tickets import Ticket
from hotline_ops.tickets import tokens

KINDS = ("caller", "number", "status_region", "create", "healthz")


def request(http: httpx.AsyncClient, kind: str, rnd: random.Random, i: int):
    if kind == "caller":
        return http.get("/api/tickets", params={"caller": f"138{rnd.randrange(200_000):08d}"})
    if kind == "number":
        return http.get("/api/tickets", params={"number": rnd.choice(bench.NUMBERS)})
    if kind == "status_region":
        where = {"status": rnd.choice(bench.STATES), "region": rnd.choice(bench.DISTRICTS)}
        return http.get("/api/tickets", params={**where, "page": rnd.randint(1, 5)})
    if kind == "create":
        return http.post("/api/tickets", json={**bench.NEW, "caller_number": f"139{i:08d}"})
    return http.get("/healthz")


async def measure(api, auth: dict, rounds: int = 3, per_round: int = 200) -> dict[str, float]:
    rnd = random.Random(1)
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://x", headers=auth) as http:
        for i in range(30):  # warm-up: the geocoder import, pool connections
            for kind in KINDS:
                (await request(http, kind, rnd, i)).raise_for_status()
        out = {}
        for kind in KINDS:
            best = float("inf")
            for _ in range(rounds):
                t0 = time.process_time()
                for i in range(per_round):
                    (await request(http, kind, rnd, i)).raise_for_status()
                best = min(best, (time.process_time() - t0) / per_round)
            out[f"{kind}_cpu_ms"] = round(best * 1000, 2)
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--pg-url", help="an empty PostgreSQL database to load the tickets into")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --pg-url: keep the tickets an earlier run loaded there (at least N)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ticket-cpu-"))
    url = args.pg_url or f"sqlite:///{tmp / 'store.db'}"
    env = {"HOTLINE_OPS_DATABASE_URL": url}
    app = build_app(load_settings(bench.site(tmp / "site", url), env))
    try:
        app.store.upgrade()
        if not (args.reuse and args.pg_url and bench._tickets_in(app) >= args.tickets):
            bench.load(app, args.tickets)
        if args.pg_url:
            bench.move_ticket_ids_past_the_loaded(app)
        with app.store.session() as session:
            numbers = select(Ticket.number).where(Ticket.id % 97 == 0).limit(2000)
            bench.NUMBERS.extend(session.scalars(numbers))
        _, token = tokens.add(app, name=f"bench-{os.getpid()}", role="admin")
        result = asyncio.run(measure(create_app(app), {"Authorization": f"Bearer {token}"}))
    finally:
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    backend = "postgresql" if args.pg_url else "sqlite"
    print(json.dumps({**result, "tickets": args.tickets, "backend": backend}))


if __name__ == "__main__":
    main()
