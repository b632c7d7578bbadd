"""Context builders: one per report kind, each turning the store into a plain dict that the
templates and the XLSX writer render (templates never query).

``tables`` holds every table as ``{"title": label key, "columns": [[key, format], …],
"rows": [dict, …]}``; the HTML macros and the XLSX sheets are both made from it, so the two
always agree. ``charts`` holds series for matplotlib.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core import periods
from hotline_ops.core.periods import Period
from hotline_ops.errors import NotFound
from hotline_ops.reports import queries, recommend, sections, ticket_kpi
from hotline_ops.store.models import Incident, IncidentEvent

TITLES = {
    "daily": "线路日常巡检报告",
    "monthly": "月度系统巡检报告",
    "quarterly": "季度性能优化报告",
    "incident": "故障报告",
    "acceptance": "年度验收履约证据",
    "ticket-kpi": ticket_kpi.TITLE,
}
LINE_COLUMNS = [
    ["target", "text"],
    ["owner", "text"],
    ["segment", "text"],
    ["checks", "int"],
    ["failures", "int"],
    ["availability", "pct"],
    ["rtt_p95_ms", "ms"],
    ["b_peak", "num"],
    ["capacity", "int"],
    ["b_share", "pct"],
]
SEGMENT_COLUMNS = [
    ["segment", "text"],
    ["targets", "int"],
    ["checks", "int"],
    ["failures", "int"],
    ["availability", "pct"],
]
INCIDENT_COLUMNS = [
    ["id", "int"],
    ["level_label", "text"],
    ["title", "text"],
    ["segment", "text"],
    ["opened_at", "text"],
    ["acknowledged_at", "text"],
    ["resolved_at", "text"],
    ["tta_min", "min"],
    ["ttr_min", "min"],
    ["timers_text", "text"],
]
LEVEL_COLUMNS = [
    ["level_label", "text"],
    ["count", "int"],
    ["mtta_min", "min"],
    ["mttr_min", "min"],
    ["timers_met", "int"],
    ["timers_missed", "int"],
]
HOST_COLUMNS = [
    ["target", "text"],
    ["cpu_peak", "num"],
    ["memory_peak", "num"],
    ["disk", "text"],
    ["disk_peak", "num"],
]
TICKET_COLUMNS = [
    ["target", "text"],
    ["checks", "int"],
    ["failures", "int"],
    ["availability", "pct"],
    ["create_max_s", "sec"],
    ["query_max_s", "sec"],
]
PLATFORM_COLUMNS = [
    ["target", "text"],
    ["segment", "text"],
    ["checks", "int"],
    ["failures", "int"],
    ["availability", "pct"],
]


def table(title: str, columns: list[list[str]], rows: list[dict]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows}


def build(app: Any, period: Period, now: datetime, lang: str = "zh-CN", **extra: Any) -> dict:
    builder = {
        "daily": daily,
        "monthly": monthly,
        "quarterly": quarterly,
        "incident": incident,
        "acceptance": acceptance_context,
        "ticket-kpi": ticket_kpi.context,
    }[period.kind]
    with app.store.session() as session:
        return builder(app, session, period, now, lang, **extra)


# -- daily line inspection (M1.2) -------------------------------------------------------


def daily(app: Any, session: Session, period: Period, now: datetime, lang: str, **_: Any):
    """From the stored daily line inspection record (services/inspection.py)."""
    record = queries.latest_inspection(session, period.key)
    if record is None:
        raise NotFound(f"no line inspection record for {period.key}: run 'inspect lines'")
    return daily_from_record(app, record.data, record.id, period, now, lang)


def daily_from_record(app, data: dict, record_id: int, period: Period, now, lang) -> dict:
    ctx = sections.base(app, period, now, lang, TITLES["daily"])
    trunks = [_line_entry(n, v, "carrier") for n, v in sorted(data["trunks"].items())]
    spans = [_line_entry(n, v, "gateway") for n, v in sorted(data["spans"].items())]
    numbers = [
        {"number": n, **{k: v[k] for k in ("name", "lines_up_now", "lines", "status")}}
        for n, v in sorted(data["numbers"].items())
    ]
    segs = [
        {"segment": s, "count": v["count"], "by_level": _levels_text(v["by_level"])}
        for s, v in sorted(data["incidents_by_segment"].items())
    ]
    ctx.update(
        record_id=record_id,
        inspected_at=sections.local(datetime.fromisoformat(data["inspected_at"]), app.settings.tz),
    )
    ctx["tables"] = {
        "numbers": table(
            "t_numbers",
            [
                ["number", "text"],
                ["name", "text"],
                ["lines_up_now", "int"],
                ["lines", "int"],
                ["status", "text"],
            ],
            numbers,
        ),
        "lines": table(
            "t_lines", [*LINE_COLUMNS, ["down_min", "min"], ["now", "text"]], trunks + spans
        ),
        "incidents": table(
            "t_incidents_by_segment",
            [["segment", "text"], ["count", "int"], ["by_level", "text"]],
            segs,
        ),
    }
    ctx["summary"] = {
        "lines": len(trunks) + len(spans),
        "lines_down_now": sum(1 for r in trunks + spans if r["now"] == "DOWN"),
        "incidents": sum(v["count"] for v in data["incidents_by_segment"].values()),
        "worst": _worst(trunks + spans),
    }
    return ctx


def _line_entry(name: str, v: dict, owner_key: str) -> dict:
    live = v.get("live")
    peak = (v.get("peaks") or {}).get("b_channels_in_use")
    cap = v.get("capacity")
    return {
        "target": name,
        "owner": v.get(owner_key, ""),
        "segment": v.get("segment", ""),
        "checks": v.get("checks", 0),
        "failures": v.get("failures", 0),
        "availability": v.get("availability"),
        "rtt_p95_ms": None if v.get("rtt_p95_s") is None else v["rtt_p95_s"] * 1000,
        "b_peak": peak,
        "capacity": cap,
        "b_share": peak / cap if peak and cap else None,
        "down_min": v.get("down_s", 0) / 60,
        "now": "—" if not live else ("UP" if live["ok"] else "DOWN"),
    }


def _worst(rows: list[dict]) -> dict | None:
    known = [r for r in rows if r["availability"] is not None]
    return min(known, key=lambda r: r["availability"]) if known else None


def _levels_text(by_level: dict) -> str:
    return "，".join(
        f"{sections.LEVEL_LABELS.get(int(k), k)} {n}" for k, n in sorted(by_level.items())
    )


# -- monthly system inspection (M2.2a) --------------------------------------------------


def measured(app: Any, session: Session, start, end, now: datetime) -> dict[str, Any]:
    """Everything the monthly, quarterly and acceptance reports share for one period."""
    tz = app.settings.tz
    totals = queries.totals(session, start, end)
    roles = sections.by_role(app, list(totals))
    incidents = sections.incident_rows(session, start, end, now, tz)
    return {
        "totals": totals,
        "roles": roles,
        "lines": sections.lines(app, session, roles["line"], totals, start, end),
        "segments": sections.segments(app, totals),
        "platform": sections.platform(app, roles["service"] + roles["host"], totals),
        "incidents": incidents,
        "levels": sections.incident_summary(incidents),
        "clause_timers": sections.clause_timers(incidents),
        "tickets": sections.ticket_probes(app, session, roles["ticket"], totals, start, end),
        "hosts": sections.hosts(app, session, roles["host"], start, end),
    }


def _year_of(app: Any, period: Period) -> Period:
    year = period.start.astimezone(app.settings.tz).year
    return periods.parse("acceptance", str(year), app.settings.tz)


def monthly(app: Any, session: Session, period: Period, now: datetime, lang: str, **_: Any):
    ctx = sections.base(app, period, now, lang, TITLES["monthly"])
    m = measured(app, session, period.start, period.end, now)
    year = _year_of(app, period)
    ctx["budget"] = sections.budget(app, session, year.start, year.end, now)
    ctx["tickets"] = m["tickets"]
    ctx["summary"] = _summary(m)
    ctx["tables"] = _period_tables(m)
    # The month's ticket KPIs with clause, target and verdict (P3–P7, R3.2).
    ctx["tables"]["ticket_kpis"] = ticket_kpi.kpi_table(session, period.start, period.end, lang)
    ctx["charts"] = {
        "b_channels": _daily_chart(
            app, session, m["roles"]["line"], "b_channels_in_use", period, "c_b_channels"
        )
    }
    return ctx


def _summary(m: dict) -> dict[str, Any]:
    lines = [r for r in m["lines"] if r["checks"]]
    checks = sum(r["checks"] for r in lines)
    fails = sum(r["failures"] for r in lines)
    states = [t["state"] for r in m["incidents"] for t in r["timers"]]
    return {
        "line_availability": (checks - fails) / checks if checks else None,
        "lines": len(m["lines"]),
        "targets": len(m["totals"]),
        "incidents": len(m["incidents"]),
        "timers_met": states.count("met"),
        "timers_missed": states.count("missed"),
        "worst": _worst(m["lines"]),
    }


def _period_tables(m: dict) -> dict[str, dict]:
    return {
        "lines": table("t_lines", LINE_COLUMNS, m["lines"]),
        "segments": table("t_segments", SEGMENT_COLUMNS, m["segments"]),
        "levels": table("t_levels", LEVEL_COLUMNS, m["levels"]),
        "incidents": table("t_incidents", INCIDENT_COLUMNS, m["incidents"]),
        "tickets": table("t_ticket_probes", TICKET_COLUMNS, m["tickets"]["probes"]),
        "hosts": table("t_hosts", HOST_COLUMNS, m["hosts"]),
        "platform": table("t_platform", PLATFORM_COLUMNS, m["platform"]),
        # The PDF shows the lowest; the XLSX sheet above carries every target.
        "platform_worst": table("t_platform_worst", PLATFORM_COLUMNS, _lowest(m["platform"])),
    }


PDF_PLATFORM_ROWS = 20


def _lowest(rows: list[dict]) -> list[dict]:
    known = [r for r in rows if r["availability"] is not None]
    return sorted(known, key=lambda r: (r["availability"], r["target"]))[:PDF_PLATFORM_ROWS]


def _daily_chart(app, session, names: list[str], metric: str, period: Period, title: str):
    series = queries.daily_peaks(session, names, metric, period.start, period.end)
    first = _day_number(period.start.astimezone(app.settings.tz).date())
    days = list(range(first, first + period.days))
    return {
        "title": title,
        "x": [_day_label(d) for d in days],
        "series": [
            {"name": name, "values": [dict(points).get(d) for d in days]}
            for name, points in sorted(series.items())
        ],
    }


def _day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _day_label(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=number)).strftime("%m-%d")


# -- quarterly performance optimization (M2.2b) -----------------------------------------


def quarterly(app: Any, session: Session, period: Period, now: datetime, lang: str, **_: Any):
    ctx = sections.base(app, period, now, lang, TITLES["quarterly"])
    tz = app.settings.tz
    before = periods.previous(period, tz)
    m = measured(app, session, period.start, period.end, now)
    prev_p95 = queries.rtt_p95(session, m["roles"]["line"], before.start, before.end)
    trends = recommend.rtt_trends(m["lines"], prev_p95)
    disks = recommend.disk_forecasts(app, session, m["roles"]["host"], period)
    ctx["previous"] = before.label
    ctx["summary"] = _summary(m)
    ctx["recommendations"] = recommend.recommendations(m, trends, disks)
    ctx["tables"] = {
        "rtt": table(
            "t_rtt_trend",
            [
                ["target", "text"],
                ["rtt_p95_before_ms", "ms"],
                ["rtt_p95_ms", "ms"],
                ["growth", "pct"],
            ],
            trends,
        ),
        "disks": table(
            "t_disk_forecast",
            [
                ["target", "text"],
                ["disk", "text"],
                ["first_pct", "num"],
                ["last_pct", "num"],
                ["slope_pct_day", "num2"],
                ["days_to_full", "num"],
            ],
            disks,
        ),
        **_period_tables(m),
    }
    ctx["charts"] = {
        "rtt": recommend.rtt_chart(trends, before.label, period.label),
        "disks": recommend.disk_chart(disks),
    }
    return ctx


# -- incident report (each L1/L2) -------------------------------------------------------


def incident(app: Any, session: Session, period: Period, now: datetime, lang: str, **_: Any):
    inc = session.get(Incident, int(period.key))
    if inc is None:
        raise NotFound(f"incident #{period.key} does not exist")
    tz = app.settings.tz
    ctx = sections.base(app, period, now, lang, TITLES["incident"])
    row = sections.incident_row(
        inc, queries.breach_deadlines(session, [inc.id]).get(inc.id, []), now, tz
    )
    events = (
        session.query(IncidentEvent)
        .filter_by(incident_id=inc.id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    ctx["incident"] = {
        **row,
        "postmortem": inc.postmortem or "",
        "level_name": (inc.policy or {}).get("name", ""),
        "target": inc.target or "—",
        "plan_started_at": sections.local(inc.plan_started_at, tz),
        "closed_at": sections.local(inc.closed_at, tz),
    }
    ctx["tables"] = {
        "timers": table(
            "t_timers",
            [["clause", "text"], ["label", "text"], ["due", "text"], ["state", "status"]],
            row["timers"],
        ),
        "timeline": table(
            "t_timeline",
            [["at", "text"], ["actor", "text"], ["kind", "text"], ["reason", "text"]],
            [
                {
                    "at": sections.local(e.at, tz),
                    "actor": e.actor,
                    "kind": e.kind,
                    "reason": e.reason,
                }
                for e in events
            ],
        ),
    }
    return ctx


def acceptance_context(app, session, period, now, lang, **extra: Any):
    from hotline_ops.reports.acceptance import build_pack

    ctx = sections.base(app, period, now, lang, TITLES["acceptance"])
    m = measured(app, session, period.start, period.end, now)
    return build_pack(app, session, period, now, ctx, m, **extra)
