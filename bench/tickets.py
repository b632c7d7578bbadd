"""Ticket service load benchmark (issue 6/7): search and create through the HTTP API.

    .venv/bin/python bench/tickets.py --quick            # 100 k tickets, SQLite, 1 min
    .venv/bin/python bench/tickets.py                    # 3 M tickets, SQLite, 5 min
    .venv/bin/python bench/tickets.py --pg-url postgresql+psycopg://…/db   # on PostgreSQL

Steps: bulk-load N tickets (spread over the 12 months before the bench month, each with its
dispatch and handling deadlines) into a fresh store; start `uvicorn` serving the real app
(W worker processes, loopback) in a child; then two load phases, each clients mixing
searches (90 %: by caller, by number, by status+region+page) and creates (10 %):

1. users (the main figures): C concurrent users (200), each sending a request, waiting for
   the answer, then thinking an exponentially distributed time of mean ``--think-s`` (1 s)
   before the next: an offered load of about C / think-s requests a second; measured after
   an untimed ramp-up (RAMP_S) in which each user connects and sends one request;
2. saturation (``saturation_*`` keys): ``--sat-clients`` clients with no think time for
   ``--sat-seconds``, which measures the most the server answers a second and the queueing
   latency at that point — not what a user sees at the users' load.

Then one client alone times the caller search through the API against the rows the API
reads run directly (service.search_rows in a read session: the same SQL and row loading,
without HTTP, auth, validation and JSON), and the month's KPIs are computed in process.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import psutil
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # rawhttp, also when a test loads this file

from rawhttp import ClientError, Conn, use_uvloop  # noqa: E402

from hotline_ops.app import build_app  # noqa: E402
from hotline_ops.core import kpi as core_kpi  # noqa: E402
from hotline_ops.settings import load_settings  # noqa: E402
from hotline_ops.store.models import Deadline  # noqa: E402
from hotline_ops.store.tickets import Ticket  # noqa: E402
from hotline_ops.tickets import kpi, service, tokens  # noqa: E402
from hotline_ops.tickets.schemas import SearchIn  # noqa: E402

DISTRICTS = ["万秀区", "长洲区", "龙圩区", "苍梧县", "藤县", "蒙山县", "岑溪市"]
CATEGORIES = ["010101", "010201", "020101", "030101", "040101", "050101", "060101", "999999"]
TYPES = ["consultation", "help", "suggestion", "complaint", "report"]
STATES = ["received", "accepted", "dispatched", "handling", "closed", "archived"]
BENCH_MONTH = "2026-10"
END = datetime(2026, 11, 1, tzinfo=UTC)
CALLERS = 200_000


def site(folder: Path, url: str) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.support.content import write_content

    root = write_content(folder)
    shutil.copytree(ROOT / "tickets", folder / "tickets")
    deadlines = folder / "tickets" / "deadlines.yaml"
    text = deadlines.read_text(encoding="utf-8")
    deadlines.write_text(text.replace("warning_channel: ops-webhook", "warning_channel: ops"))
    return root


def load(app, n: int, seed: int = 7, *, copy: bool | None = None) -> None:
    """``copy``: COPY instead of ``insert()`` (PostgreSQL only; its default there)."""
    rnd = random.Random(seed)
    span = 365 * 86400
    batch: list[dict] = []
    pg = app.store.dialect == "postgresql"
    copy = pg if copy is None else copy
    with _indexes_set_aside(app) if copy else contextlib.nullcontext():
        for i in range(n):
            created = END - timedelta(seconds=rnd.randrange(span))
            batch.append(_row(rnd, i + 1, created))
            if len(batch) == 10_000 or i == n - 1:
                _flush(app, batch, copy)
                batch = []
                print(f"loaded {i + 1}/{n}", file=sys.stderr, flush=True)
    if pg:
        _vacuum_analyze(app)


def _tickets_in(app) -> int:
    with app.store.session() as session:
        return session.scalar(select(func.count()).select_from(Ticket)) or 0


def _row(rnd: random.Random, i: int, created: datetime) -> dict:
    state = rnd.choice(STATES)
    closed = (
        created + timedelta(days=rnd.randint(1, 20)) if state in ("closed", "archived") else None
    )
    return {
        "id": i,
        "number": f"{created:%Y%m%d}{i:08d}",
        "channel": rnd.choice(["phone", "web", "app", "wechat", "sms"]),
        "caller_number": f"138{rnd.randrange(CALLERS):08d}",
        "caller_name": "",
        "caller_location": "广西梧州市",
        "title": "bench",
        "content": "bench ticket",
        "type": rnd.choice(TYPES),
        "category": rnd.choice(CATEGORIES),
        "district": rnd.choice(DISTRICTS),
        "street": "",
        "community": "",
        "address": "",
        "urgency": "urgent" if rnd.random() < 0.02 else "normal",
        "tags": [],
        "confidential": False,
        "status": state,
        "lead_unit": None,
        "assist_units": [],
        "review_chain": ["a", "b"],
        "review_passed": 0,
        "extension_pending": False,
        "extension_days": 0,
        "reply": {},
        "satisfaction": {"via": "sms", "attitude": 3, "efficiency": rnd.randint(1, 3), "result": 3}
        if closed
        else None,
        "returns": int(rnd.random() < 0.05),
        "closing_failures": int(rnd.random() < 0.01),
        "callback_attempts": 0,
        "merged_into": None,
        "created_by": "bench",
        "created_at": created,
        "accepted_at": created,
        "dispatched_at": None,
        "signed_at": None,
        "first_response_at": None,
        "closed_at": closed,
        "evaluated_at": closed,
        "called_back_at": None,
        "archived_at": None,
        "due_at": created + timedelta(days=10),
        "updated_at": created,
        "last_hash": "0" * 64,
        "events": 0,
    }


def _flush(app, rows: list[dict], copy: bool) -> None:
    deadlines = []
    for r in rows:
        met = r["created_at"] + timedelta(minutes=20)
        deadlines.append(
            {
                "ticket_id": r["id"],
                "incident_id": None,
                "kind": "dispatch",
                "clause": "P3.1",
                "due_at": r["created_at"] + timedelta(minutes=30),
                "purpose": "ticket",
                "met_at": met if r["id"] % 10 else None,
                "fired_at": None if r["id"] % 10 else met,
            }
        )
    if copy:
        _copy(app, [(Ticket.__table__, rows), (Deadline.__table__, deadlines)])
        return
    with app.store.session() as session:
        session.execute(insert(Ticket), rows)
        session.execute(insert(Deadline), deadlines)


def _copy(app, batches: list[tuple[Table, list[dict]]]) -> None:
    """PostgreSQL: the rows through COPY in one transaction, ~10× faster than an insert's
    executemany (52 min for 3 M tickets). Each value goes through the column type's own
    bind processing and a missing column gets its Python default, as in ``insert()``, so
    the stored rows are the same (JSON written by the same serializer, times aware UTC)."""
    engine = app.store.engine
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for table, rows in batches:
            names, plan = _copy_plan(table, rows[0].keys(), engine.dialect)
            sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(
                        [
                            value if key is None else (cook or _same)(row[key])
                            for key, cook, value in plan
                        ]
                    )


def _same(value):
    return value


def _copy_plan(table: Table, keys, dialect) -> tuple[list[str], list[tuple]]:
    """Per column: (row key, bind processor, None), or (None, None, the processed default)
    for a column the rows leave out that has a Python default; a column with neither is
    left out of the COPY, as ``insert()`` leaves it to the server."""
    names, plan = [], []
    for column in table.columns:
        cook = column.type.dialect_impl(dialect).bind_processor(dialect)
        if column.name in keys:
            names.append(column.name)
            plan.append((column.name, cook, None))
        elif column.default is not None and column.default.is_scalar:
            names.append(column.name)
            plan.append((None, None, (cook or _same)(column.default.arg)))
        elif column.default is not None and column.default.is_callable:
            names.append(column.name)
            plan.append((None, None, (cook or _same)(column.default.arg(None))))
    return names, plan


@contextlib.contextmanager
def _indexes_set_aside(app, tables=("tickets", "deadlines")):
    """A fresh bench database only: drops the tables' plain indexes (not the primary keys
    or constraints) for the load and builds them again after it, once each, instead of
    updating 9 B-trees row by row out of cache. Rebuilt even if the load fails."""
    found = text(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname = ANY(:tables) AND t.relnamespace = current_schema()::regnamespace "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
    )
    with app.store.session() as session:
        indexes = session.execute(found, {"tables": list(tables)}).all()
        for name, _ in indexes:
            session.execute(text(f'DROP INDEX "{name}"'))
    try:
        yield
    finally:
        t0 = time.perf_counter()
        with app.store.session() as session:
            session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for _, definition in indexes:
                session.execute(text(definition))
        took = time.perf_counter() - t0
        print(f"{len(indexes)} indexes rebuilt in {took:.0f} s", file=sys.stderr, flush=True)


def _vacuum_analyze(app) -> None:
    """Statistics for the planner and the visibility map, as autovacuum would set them some
    minutes into the run (and compete with it for the 2 cores)."""
    t0 = time.perf_counter()
    with app.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) tickets, deadlines"))
    took = time.perf_counter() - t0
    print(f"vacuum analyze in {took:.0f} s", file=sys.stderr, flush=True)


def move_ticket_ids_past_the_loaded(app) -> None:
    """PostgreSQL: rows were loaded with explicit ids, so the creates' sequence must start
    after them."""
    with app.store.session() as session:
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('tickets', 'id'), "
                "(SELECT max(id) FROM tickets))"
            )
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(root: Path, url: str, port: int, workers: int) -> None:
    """The child: the real app under uvicorn (``workers`` processes), no daemon."""
    import uvicorn

    os.environ["BENCH_SITE"], os.environ["BENCH_URL"] = str(root), url
    uvicorn.run(
        "tickets:asgi",
        factory=True,
        app_dir=str(Path(__file__).parent),
        workers=workers,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        # Longer than any think time the users draw (exponential, mean 1 s): with uvicorn's
        # 5 s default, a user idle just over 5 s meets the server closing its connection
        # ("Server disconnected"), a keep-alive race of the client, not a server error.
        timeout_keep_alive=60,
    )


def asgi():
    """The app factory each uvicorn worker calls (its own App, store and pool)."""
    from hotline_ops.server import create_app

    root, url = Path(os.environ["BENCH_SITE"]), os.environ["BENCH_URL"]
    return create_app(build_app(load_settings(root, env={"HOTLINE_OPS_DATABASE_URL": url})))


RAMP_S = 5.0  # users connect and send one untimed request before the measured window

NEW = {
    "channel": "phone",
    "title": "bench",
    "content": "bench create",
    "type": "help",
    "category": "030101",
    "district": "长洲区",
}


async def client(
    port: int,
    auth: dict,
    n: int,
    window: tuple[float, float],
    lat: dict,
    errors: list,
    rnd,
    think_s: float,
):
    begin, stop = window
    conn = Conn(port, auth)
    # Ramp-up, untimed: the user's connection is set up and used once before the measured
    # window, as a seat's browser is already connected when the day's work starts. Timing
    # it put 200 TCP handshakes in the first second.
    await conn.request("GET", _search_path(rnd, n), timeout=30)
    await asyncio.sleep(max(0.0, begin - time.monotonic()))
    if think_s:
        await asyncio.sleep(rnd.expovariate(1 / think_s))  # users do not start in step
    try:
        while time.monotonic() < stop:
            if rnd.random() < 0.1:
                kind, method = "create", "POST"
                body = json.dumps({**NEW, "caller_number": f"139{rnd.randrange(10**8):08d}"})
                path, data = "/api/tickets", body.encode()
            else:
                kind, method, path, data = "query", "GET", _search_path(rnd, n), b""
            t0 = time.perf_counter()
            try:
                status, _ = await conn.request(method, path, data, timeout=30)
                failed = str(status) if status >= 300 else None
            except ClientError as exc:  # the connection is closed; the next request reopens
                failed = str(exc)
            lat[kind].append(time.perf_counter() - t0)
            if failed:
                errors.append(failed)
            if think_s:
                await asyncio.sleep(rnd.expovariate(1 / think_s))
    finally:
        conn.close()


def _search_path(rnd: random.Random, n: int) -> str:
    return "/api/tickets?" + urlencode(_query(rnd, n))


NUMBERS: list[str] = []  # a sample of stored ticket numbers, for searches by number


def _query(rnd: random.Random, n: int) -> dict:
    pick = rnd.random()
    if pick < 0.5:
        return {"caller": f"138{rnd.randrange(CALLERS):08d}"}
    if pick < 0.8:
        return {"number": rnd.choice(NUMBERS)}
    return {
        "status": rnd.choice(STATES),
        "region": rnd.choice(DISTRICTS),
        "page": rnd.randint(1, 5),
    }


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def api_vs_sql(app, base: str, auth: dict, repeats: int = 300) -> tuple[float, float, float]:
    """Medians of one caller search, one at a time: through the API with a lean client
    (http.client: what HTTP, the token check, validation and JSON add), as the same
    statements and row loading run directly, and through the API with httpx (whose own
    ~1 ms of client work per request counted as the API's before; kept beside it)."""
    rnd = random.Random(3)
    callers = [f"138{rnd.randrange(CALLERS):08d}" for _ in range(repeats)]
    now = datetime.now(UTC)

    sql = []
    for c in callers:
        t0 = time.perf_counter()
        # Exactly the statements and row loading the API runs for this search.
        with app.store.read() as session:
            service.search_rows(session, SearchIn(caller=c), now)
        sql.append(time.perf_counter() - t0)
    api = []
    host, port = urlsplit(base).hostname, urlsplit(base).port
    lean = http.client.HTTPConnection(host, port, timeout=30)
    try:
        for c in callers:
            t0 = time.perf_counter()
            lean.request("GET", "/api/tickets?" + urlencode({"caller": c}), headers=auth)
            answer = lean.getresponse()
            answer.read()
            api.append(time.perf_counter() - t0)
            if answer.status != 200:
                raise RuntimeError(f"caller search: HTTP {answer.status}")
    finally:
        lean.close()
    heavy = []
    with httpx.Client(base_url=base, headers=auth) as client:
        for c in callers:
            t0 = time.perf_counter()
            client.get("/api/tickets", params={"caller": c}).raise_for_status()
            heavy.append(time.perf_counter() - t0)
    return statistics.median(api), statistics.median(sql), statistics.median(heavy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tickets", type=int)
    ap.add_argument("--clients", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--think-s", type=float, default=1.0, help="mean think time (exponential)")
    ap.add_argument("--sat-clients", type=int, default=50)
    ap.add_argument("--sat-seconds", type=float)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--pg-url")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="with --pg-url: keep the tickets an earlier run loaded there (at least N)",
    )
    ap.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), args.serve[1], int(args.serve[2]), int(args.serve[3]))
        return
    before = machine_ms()
    n = args.tickets or (100_000 if args.quick else 3_000_000)
    clients = args.clients or 200
    seconds = args.seconds or (60 if args.quick else 300)
    sat = (args.sat_clients, args.sat_seconds or (20 if args.quick else 60))
    tmp = Path(tempfile.mkdtemp(prefix="bench-tickets-"))
    url = args.pg_url or f"sqlite:///{tmp / 'store.db'}"
    root = site(tmp / "site", url)
    app = build_app(load_settings(root, env={"HOTLINE_OPS_DATABASE_URL": url}))
    app.store.upgrade()
    t0 = time.perf_counter()
    # A PostgreSQL load of 3 M tickets takes 30-50 min here: --reuse runs the phases again
    # on the rows an earlier run left (plus that run's creates).
    reused = bool(args.reuse and args.pg_url and _tickets_in(app) >= n)
    if not reused:
        load(app, n)
    load_s = time.perf_counter() - t0
    if args.pg_url:
        move_ticket_ids_past_the_loaded(app)
    with app.store.session() as session:
        NUMBERS.extend(
            session.scalars(select(Ticket.number).where(Ticket.id % 97 == 0).limit(2000))
        )
    _, token = tokens.add(app, name=f"bench-{os.getpid()}", role="admin")
    auth = {"Authorization": f"Bearer {token}"}
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(root), url, str(port), str(args.workers)],
        start_new_session=True,
    )
    try:
        result = run(app, child, port, auth, n, (clients, seconds, args.think_s), sat)
    finally:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(10)
        app.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result.update(
        {
            "tickets": n,
            "clients": clients,
            "seconds": seconds,
            "think_s_mean": args.think_s,
            "workers": args.workers,
            "load_s": round(load_s, 1),
            "reused_rows": reused,
            "backend": "postgresql" if args.pg_url else "sqlite",
            "machine_ms": [before, machine_ms()],
        }
    )
    print(json.dumps(result))


def machine_ms() -> float:
    """How fast this machine runs Python right now: the best of 5 runs of sum(range(10**6)),
    in ms. The same code's figures moved 2-3× between runs of one day on this shared VM
    (the KPIs, which serve no request, too); this puts a number on it beside each run."""
    best = min(timeit.repeat("sum(range(10**6))", number=1, repeat=5))
    return round(best * 1000, 1)


def run(app, child, port: int, auth: dict, n: int, users: tuple, sat: tuple) -> dict:
    base = f"http://127.0.0.1:{port}"
    _wait_up(base)
    procs = [psutil.Process(child.pid)]
    peak = [0]

    def sample():
        # The uvicorn supervisor and its workers: the largest one's RSS.
        for p in procs[0].children(recursive=True) + procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                peak[0] = max(peak[0], p.memory_info().rss)

    warm_up(base, auth)

    def cpu() -> float:
        # CPU seconds of the server processes: a per-request cost the machine's other load
        # does not inflate, unlike latencies.
        total = 0.0
        for p in procs[0].children(recursive=True) + procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    clients, seconds, think_s = users
    db = database_cpu(app.store.url)

    def both() -> tuple[float, float | None]:
        return cpu(), (db() if db else None)

    main = phase(port, auth, n, clients, seconds, think_s, sample, both)
    saturation = phase(port, auth, n, sat[0], sat[1], 0.0, sample, both)
    api_med, sql_med, httpx_med = api_vs_sql(app, base, auth)
    t0 = time.perf_counter()
    kpi.compute(app, period=core_kpi.Period.parse(BENCH_MONTH, app.settings.tz))
    kpi_s = time.perf_counter() - t0
    return {
        **main,
        **{f"saturation_{k}": v for k, v in saturation.items()},
        "saturation_clients": sat[0],
        "api_over_sql_ratio": round(api_med / sql_med, 2),
        "api_median_ms": round(api_med * 1000, 2),
        "sql_median_ms": round(sql_med * 1000, 2),
        "api_over_sql_ratio_httpx": round(httpx_med / sql_med, 2),
        "kpi_month_s": round(kpi_s, 2),
        "server_peak_rss_mb": round(peak[0] / 2**20, 1),
    }


def database_cpu(url: str):
    """For a PostgreSQL on this machine: a function giving the CPU seconds its server has
    spent so far — the postmaster, its live processes and the backends it has reaped — so a
    phase can report the database's CPU per request beside the app's (both share the cores
    here). None for SQLite (in the app's process) or a server elsewhere."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.host not in ("127.0.0.1", "localhost"):
        return None
    port = parsed.port or 5432
    listeners = [
        c.pid
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    ]
    if not listeners:
        return None
    postmaster = psutil.Process(listeners[0])

    def spent() -> float:
        t = postmaster.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in postmaster.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                c = child.cpu_times()
                total += c.user + c.system
        return total

    return spent


def warm_up(base: str, auth: dict, rounds: int = 20) -> None:
    """Untimed: the first create imports the number geocoder (~0.3 s) and each worker
    opens its pool connections; a user of a running server never waits for that."""
    rnd = random.Random(99)
    with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
        for _ in range(rounds):
            http.get("/api/tickets", params=_query(rnd, 0)).raise_for_status()
            http.post("/api/tickets", json={**NEW, "caller_number": "13900000000"})


def phase(
    port: int, auth, n: int, clients: int, seconds: float, think_s: float, sample, cpu
) -> dict:
    lat: dict[str, list[float]] = {"query": [], "create": []}
    errors: list[str] = []

    marks: dict[str, float] = {}

    async def go():
        begin = time.monotonic() + RAMP_S
        window = (begin, begin + seconds)
        rnds = [random.Random(i) for i in range(clients)]
        users = [client(port, auth, n, window, lat, errors, r, think_s) for r in rnds]
        asyncio.get_running_loop().call_later(RAMP_S, mark)  # the measured window starts
        await asyncio.gather(*users)

    def mark() -> None:
        (cpu0, db0) = cpu()
        marks.update(t0=time.perf_counter(), cpu0=cpu0, db0=db0, mine0=time.process_time())

    use_uvloop()
    asyncio.run(_with_sampler(go(), sample))
    t0, cpu0, mine0 = marks["t0"], marks["cpu0"], marks["mine0"]
    cpu1, db1 = cpu()
    took, cpu_s = time.perf_counter() - t0, cpu1 - cpu0
    # The load generator's own CPU share of one core: near 1.0, its event loop lags and
    # the latencies it records include that wait.
    client_cores = (time.process_time() - mine0) / took
    requests = len(lat["query"]) + len(lat["create"])
    return {
        "query_p99_ms": round(p99(lat["query"]) * 1000, 1),
        "create_p99_ms": round(p99(lat["create"]) * 1000, 1),
        "query_p50_ms": round(median(lat["query"]) * 1000, 1),
        "create_p50_ms": round(median(lat["create"]) * 1000, 1),
        "requests": requests,
        "rps": round(requests / took, 1),
        "server_cpu_ms_per_request": round(cpu_s / max(requests, 1) * 1000, 2),
        **(
            {"db_cpu_ms_per_request": round((db1 - marks["db0"]) / max(requests, 1) * 1000, 2)}
            if db1 is not None
            else {}
        ),
        "client_cpu_cores": round(client_cores, 2),
        "errors": len(errors),
        "error_kinds": sorted(set(errors))[:5],
    }


async def _with_sampler(work, sample) -> None:
    task = asyncio.ensure_future(work)
    while not task.done():
        sample()
        await asyncio.sleep(0.5)
    await task


def _wait_up(base: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


if __name__ == "__main__":
    main()
