"""Report build times over a synthetic multi-year store (issue [5/7]).

Full: 500 targets with a 5-minute rollup each for three years (157 M rows) and 2 000
incidents with their contract timers; ``--quick``: 50 targets, one year. It then fills the
per-day summaries as the daily run does (services/summaries.py, from the rollups; timed as
``summarise_s``, part of filling, not of a build; ``--no-summaries`` skips it, so the
reports read the rollups as before). Then it times the monthly report (PDF + XLSX) for the
last month and the annual acceptance pack (PDF + XLSX) for the last full year, both
through the same service as ``hotline-ops report build``. The last output line is one
JSON object: ``monthly_s``, ``annual_s``, ``peak_rss_mb``; ``--profile`` prints the 20
costliest calls of each build to stderr.

    .venv/bin/python bench/reports.py --quick
    .venv/bin/python bench/reports.py              # needs ~25 GB of disk and ~40 min to fill
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hotline_ops.app import build_app  # noqa: E402
from hotline_ops.clock import FixedClock  # noqa: E402
from hotline_ops.core import levels as core_levels  # noqa: E402
from hotline_ops.services import reports, summaries  # noqa: E402
from hotline_ops.settings import load_settings  # noqa: E402
from tests.support.content import write_content  # noqa: E402

FIRST_YEAR = 2024
BUCKET = timedelta(minutes=5)
TS = "%Y-%m-%d %H:%M:%S.%f"


def mix(n: int) -> list[dict]:
    """8 % trunks, 12 % E1 spans, 4 % hosts, 2 ticket probes, the rest services."""
    counts = {"trunk": n * 8 // 100, "span": n * 12 // 100, "host": max(1, n * 4 // 100)}
    targets = []
    for component, count in counts.items():
        for i in range(count):
            name = f"{component}:{component}-{i}" if component != "host" else f"host-{i}"
            segment = {"trunk": "carrier", "span": "gateway", "host": "lan"}[component]
            targets.append(
                {
                    "name": name,
                    "kind": "fake",
                    "labels": {"component": component, "segment": segment},
                }
            )
    targets += [
        {"name": f"ticket-{i}", "kind": "fake", "labels": {"segment": "platform"}} for i in range(2)
    ]
    targets += [
        {"name": f"svc-{i}", "kind": "fake", "labels": {"segment": "platform"}}
        for i in range(n - len(targets))
    ]
    return targets


def site(folder: Path, targets: list[dict]) -> Path:
    root = write_content(
        folder, targets=targets, settings={"paths": {"reports": str(ROOT / "reports")}}
    )
    (root.parent / "probes" / "targets.yaml").write_text(
        yaml.safe_dump({"targets": targets}), encoding="utf-8"
    )
    return root


def peaks_of(target: dict, step: int, rnd: random.Random) -> str:
    component = target["labels"].get("component")
    if component == "span":
        return json.dumps({"b_channels_in_use": rnd.randint(0, 30)})
    if component == "host":
        return json.dumps(
            {"cpu_pct": round(rnd.uniform(5, 70), 1), "disk_pct_root": round(40 + step * 0.0002, 2)}
        )
    if target["name"].startswith("ticket-"):
        return json.dumps(
            {"create_s": round(rnd.uniform(0.5, 3), 2), "query_s": round(rnd.uniform(0.1, 1), 2)}
        )
    return "{}"


def rollup_rows(targets: list[dict], start: datetime, end: datetime, seed: int = 7):
    rnd = random.Random(seed)
    step, at = 0, start
    while at < end:
        bucket = at.strftime(TS)
        for t in targets:
            fails = 1 if rnd.random() < 0.002 else 0
            rtt = 0.01 + rnd.random() * 0.02
            yield (
                t["name"],
                bucket,
                30,
                fails,
                rtt,
                rtt * 1.5,
                rtt * 2,
                peaks_of(t, step, rnd),
                json.dumps({"healthy": 30 - fails}),
            )
        step += 1
        at += BUCKET


def fill_rollups(db: Path, targets, start, end) -> int:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    rows = 0
    batch = []
    sql = (
        "INSERT INTO probe_rollups (target, bucket, count, failures, rtt_p50, rtt_p95, "
        "rtt_max, peaks, classes) VALUES (?,?,?,?,?,?,?,?,?)"
    )
    for row in rollup_rows(targets, start, end):
        batch.append(row)
        if len(batch) == 200_000:
            conn.executemany(sql, batch)
            conn.commit()
            rows += len(batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.commit()
    conn.close()
    return rows + len(batch)


def fill_incidents(app, n: int, start: datetime, end: datetime) -> None:
    """Incidents with their breach deadlines; about 5 % resolve too late."""
    from hotline_ops.store.models import Deadline, Incident

    rnd = random.Random(11)
    span = (end - start).total_seconds()
    policy = app.levels
    with app.store.session() as session:
        for i in range(n):
            opened = start + timedelta(seconds=rnd.uniform(0, span - 86400))
            level = rnd.choice([1, 2, 2, 3, 3, 3])
            ack = opened + timedelta(minutes=rnd.uniform(1, 25))
            resolved = opened + timedelta(
                minutes=rnd.uniform(20, 110 if rnd.random() > 0.05 else 300)
            )
            spec = policy.levels[level]
            inc = Incident(
                dedup_key=f"bench:{i}",
                title=f"bench fault {i}",
                source="bench",
                level=level,
                status="resolved",
                labels={"segment": "carrier"},
                policy=core_levels.snapshot(spec),
                opened_at=opened,
                acknowledged_at=ack,
                resolved_at=resolved,
            )
            session.add(inc)
            session.flush()
            for timer, due in core_levels.deadlines(spec, opened):
                met = ack if timer.kind == "response" else resolved
                session.add(
                    Deadline(
                        incident_id=inc.id,
                        kind=timer.kind,
                        clause=timer.clause,
                        due_at=due,
                        met_at=met,
                        fired_at=due if met > due else None,
                    )
                )


def timed(app, profile: bool = False, **kw) -> float:
    """One build through the service; with ``profile``, the 20 costliest calls to stderr."""
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    reports.build(app, formats=["pdf", "xlsx"], trigger="bench", **kw)
    elapsed = time.perf_counter() - started
    if profiler:
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(20)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="50 targets, one year")
    parser.add_argument("--targets", type=int)
    parser.add_argument("--years", type=int)
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--profile", action="store_true", help="profile the builds (stderr)")
    parser.add_argument(
        "--no-summaries",
        action="store_true",
        help="do not fill the per-day summaries (reports read the rollups, as before)",
    )
    args = parser.parse_args()
    n = args.targets or (50 if args.quick else 500)
    years = args.years or (1 if args.quick else 3)
    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    targets = mix(n)
    start = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    end = datetime(FIRST_YEAR + years, 1, 1, tzinfo=UTC) - timedelta(hours=8)
    clock = FixedClock(end + timedelta(days=1, hours=10))
    app = build_app(load_settings(site(tmp / "site", targets), env={}), clock=clock)
    app.store.upgrade()
    t0 = time.perf_counter()
    rows = fill_rollups(tmp / "site" / "var" / "hotline-ops.db", targets, start, end)
    fill_incidents(app, args.incidents, start, end)
    print(
        f"store: {n} targets, {years} year(s), {rows} rollups, {args.incidents} incidents,"
        f" filled in {time.perf_counter() - t0:.0f}s",
        flush=True,
    )
    summarise_s = None
    if not args.no_summaries:
        # What the 08:30 daily run does for each finished day, by the production code, from
        # the rollups: part of filling the store, not of building a report.
        t1 = time.perf_counter()
        done = summaries.summarise(app, since=date(FIRST_YEAR, 1, 1))
        summarise_s = time.perf_counter() - t1
        print(f"summaries: {len(done)} days in {summarise_s:.0f}s", flush=True)
    last_year = FIRST_YEAR + years - 1
    monthly = timed(app, args.profile, kind="monthly", period=f"{last_year}-12")
    print(f"monthly {last_year}-12 pdf+xlsx: {monthly:.2f}s", flush=True)
    annual = timed(app, args.profile, kind="acceptance", period=str(last_year))
    print(f"annual {last_year} pdf+xlsx: {annual:.2f}s", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    app.close()
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "monthly_s": round(monthly, 2),
                "annual_s": round(annual, 2),
                "peak_rss_mb": round(rss, 1),
                "targets": n,
                "years": years,
                "rollups": rows,
                "incidents": args.incidents,
                "summarise_s": None if summarise_s is None else round(summarise_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
