"""Sections shared by the report kinds, each a plain dict built from the store.

Every figure is measured (rollups, state changes, incidents, deadlines, the register); a
figure the store cannot give is ``None`` and shows as "无证据" (no evidence), never as good.
Times are shown in the site's zone; ``now`` is passed in by the service that read the clock.
"""

from __future__ import annotations

from datetime import datetime
from statistics import mean
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core.evidence import timer_state
from hotline_ops.core.periods import Period
from hotline_ops.probes.host import disk_metric
from hotline_ops.reports import queries
from hotline_ops.reports.tickets import ticket_kpis

LINE_COMPONENTS = ("trunk", "span")
LEVEL_LABELS = {1: "一级", 2: "二级", 3: "三级"}
TIMER_LABELS = {
    "response": "响应",
    "plan": "启动应急预案",
    "resolve": "故障解决",
    "remote_resolve": "远程解决",
    "onsite_resolve": "现场解决",
}
# Cut-offs the report flags (not contract figures): a line near its channel capacity.
BUSY_SHARE = 0.8


def local(at: datetime | None, tz: Any) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else "—"


def base(app: Any, period: Period, now: datetime, lang: str, title: str) -> dict[str, Any]:
    tz = app.settings.tz
    return {
        "site": app.settings.site.name,
        "site_code": app.settings.site.code,
        "kind": period.kind,
        "title": title,
        "lang": lang,
        "period": {
            "key": period.key,
            "label": period.label,
            "start": local(period.start, tz) if period.start else "",
            "end": local(period.end, tz) if period.end else "",
        },
        "generated_at": local(now, tz),
        "timezone": app.settings.timezone,
        "tables": {},
        "charts": {},
    }


def role(target: Any | None, name: str) -> str:
    """line | host | ticket | service — what a target is, from content or its name."""
    labels = target.labels if target else {}
    component = labels.get("component") or name.partition(":")[0]
    if component in LINE_COMPONENTS:
        return "line"
    kind = target.kind if target else ""
    if component == "host" or kind in ("host", "ssh"):
        return "host"
    return "ticket" if kind == "ticket_service" else "service"


def by_role(app: Any, names: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"line": [], "host": [], "ticket": [], "service": []}
    for name in sorted(names):
        out[role(app.targets.get(name), name)].append(name)
    return out


def segment_of(app: Any, name: str) -> str:
    target = app.targets.get(name)
    return (target.labels.get("segment") if target else None) or "other"


def lines(app: Any, session: Session, names: list[str], totals: dict, start, end) -> list[dict]:
    """Availability, RTT and B-channel peak per trunk and E1 span (M1.2, R1.5)."""
    p95 = queries.rtt_p95(session, names, start, end)
    busy = queries.peaks(session, names, "b_channels_in_use", start, end)
    inv = app.content.inventory
    rows = []
    for name in names:
        kind, _, short = name.partition(":")
        spec = (inv.trunks if kind == "trunk" else inv.spans).get(short)
        capacity = getattr(spec, "channels", None)
        peak = busy.get(name)
        rows.append(
            {
                "target": name,
                "segment": segment_of(app, name),
                "owner": getattr(spec, "carrier", None) or getattr(spec, "gateway", None) or "",
                **totals.get(name, {"checks": 0, "failures": 0, "availability": None}),
                "rtt_p95_ms": None if p95.get(name) is None else p95[name] * 1000,
                "b_peak": peak,
                "capacity": capacity,
                "b_share": peak / capacity if peak is not None and capacity else None,
            }
        )
    return rows


def segments(app: Any, totals: dict[str, dict]) -> list[dict]:
    """Availability per segment (carrier / gateway / lan / …): checks pooled over targets."""
    pooled: dict[str, list[int]] = {}
    for name, fig in totals.items():
        acc = pooled.setdefault(segment_of(app, name), [0, 0, 0])
        acc[0] += fig["checks"]
        acc[1] += fig["failures"]
        acc[2] += 1
    return [
        {
            "segment": seg,
            "targets": n,
            "checks": checks,
            "failures": fails,
            "availability": (checks - fails) / checks if checks else None,
        }
        for seg, (checks, fails, n) in sorted(pooled.items())
    ]


def platform(app: Any, names: list[str], totals: dict[str, dict]) -> list[dict]:
    return [{"target": n, "segment": segment_of(app, n), **totals[n]} for n in names if n in totals]


def timers_of(deadlines: list[Any], now: datetime, tz: Any) -> list[dict]:
    return [
        {
            "kind": d.kind,
            "label": TIMER_LABELS.get(d.kind, d.kind),
            "clause": d.clause,
            "due": local(d.due_at, tz),
            "state": timer_state(d.due_at, d.met_at, d.fired_at, d.cancelled_at, now),
        }
        for d in deadlines
    ]


def incident_rows(session: Session, start, end, now: datetime, tz: Any) -> list[dict]:
    rows = queries.incidents(session, start, end)
    timers = queries.breach_deadlines(session, [i.id for i in rows])
    return [incident_row(i, timers.get(i.id, []), now, tz) for i in rows]


def _minutes(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds() / 60


def incident_row(inc: Any, deadlines: list[Any], now: datetime, tz: Any) -> dict:
    timers = timers_of(deadlines, now, tz)
    return {
        "id": inc.id,
        "level": inc.level,
        "level_label": LEVEL_LABELS.get(inc.level, str(inc.level)),
        "title": inc.title,
        "status": inc.status,
        "segment": (inc.labels or {}).get("segment", "other"),
        "handling": inc.handling,
        "opened_at": local(inc.opened_at, tz),
        "acknowledged_at": local(inc.acknowledged_at, tz),
        "resolved_at": local(inc.resolved_at, tz),
        "tta_min": _minutes(inc.opened_at, inc.acknowledged_at),
        "ttr_min": _minutes(inc.opened_at, inc.resolved_at),
        "timers": timers,
        "timers_text": "；".join(f"{t['clause']} {t['label']} {t['state']}" for t in timers),
        "missed": sum(1 for t in timers if t["state"] == "missed"),
    }


def incident_summary(rows: list[dict]) -> list[dict]:
    """Per level: count, MTTA and MTTR in minutes, timers met and missed."""
    out = []
    for level in sorted({r["level"] for r in rows}):
        mine = [r for r in rows if r["level"] == level]
        states = [t["state"] for r in mine for t in r["timers"]]
        tta = [r["tta_min"] for r in mine if r["tta_min"] is not None]
        ttr = [r["ttr_min"] for r in mine if r["ttr_min"] is not None]
        out.append(
            {
                "level": level,
                "level_label": LEVEL_LABELS.get(level, str(level)),
                "count": len(mine),
                "mtta_min": mean(tta) if tta else None,
                "mttr_min": mean(ttr) if ttr else None,
                "timers_met": states.count("met"),
                "timers_missed": states.count("missed"),
            }
        )
    return out


def clause_timers(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Per contract clause (M2.1b, M2.3b, …): how many of its timers were met and missed."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        for t in row["timers"]:
            acc = out.setdefault(t["clause"], {"met": 0, "missed": 0, "pending": 0})
            if t["state"] in acc:
                acc[t["state"]] += 1
    return out


def budget(app: Any, session: Session, year_start, year_end, now: datetime) -> dict:
    """P9.4 over the contract year holding the period: system faults and their durations."""
    policy = app.levels.budget
    faults = [
        i for i in queries.incidents(session, year_start, year_end) if i.level == policy.level
    ]
    tz = app.settings.tz
    rows = []
    for inc in faults:
        duration = ((inc.resolved_at or now) - inc.opened_at).total_seconds()
        rows.append(
            {
                "id": inc.id,
                "title": inc.title,
                "opened_at": local(inc.opened_at, tz),
                "duration_min": duration / 60,
                "within": duration <= policy.max_duration_s,
            }
        )
    return {
        "clause": policy.clause,
        "allowed": policy.per_year,
        "max_duration_min": policy.max_duration_s / 60,
        "count": len(rows),
        "too_long": sum(1 for r in rows if not r["within"]),
        "faults": rows,
    }


def ticket_probes(app: Any, session: Session, names: list[str], totals: dict, start, end):
    """P9.1 from the ``ticket_service`` synthetic probe: worst create and query times."""
    create = queries.peaks(session, names, "create_s", start, end)
    query = queries.peaks(session, names, "query_s", start, end)
    rows = [
        {
            "target": n,
            **totals.get(n, {"checks": 0, "failures": 0, "availability": None}),
            "create_max_s": create.get(n),
            "query_max_s": query.get(n),
        }
        for n in names
    ]
    return {"probes": rows, "kpis": ticket_kpis(app, session, start, end)}


def hosts(app: Any, session: Session, names: list[str], start, end) -> list[dict]:
    cpu = queries.peaks(session, names, "cpu_pct", start, end)
    mem = queries.peaks(session, names, "memory_pct", start, end)
    rows = []
    for name in names:
        for metric in disk_metrics(app, name):
            disk = queries.peaks(session, [name], metric, start, end).get(name)
            rows.append(
                {
                    "target": name,
                    "cpu_peak": cpu.get(name),
                    "memory_peak": mem.get(name),
                    "disk": metric.removeprefix("disk_pct_"),
                    "disk_peak": disk,
                }
            )
    return rows


def disk_metrics(app: Any, name: str) -> list[str]:
    target = app.targets.get(name)
    disks = (target.params.get("disks") if target else None) or {"/": None}
    return [disk_metric(path) for path in disks]
