"""The quarterly report's findings (M2.2b): each recommendation is derived from measured
figures and cites them. Thresholds are the vendor's review triggers, not contract figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core import trends
from hotline_ops.core.periods import Period
from hotline_ops.reports import queries, sections

RTT_GROWTH = 0.30  # p95 RTT up 30 % on the previous quarter
DISK_DAYS = 90  # a disk that fills within 90 days at its fitted rate
CPU_BUSY = 85.0  # CPU peak at or above 85 %
AVAILABILITY_FLOOR = 0.999


def rtt_trends(lines: list[dict], before: dict[str, float | None]) -> list[dict]:
    rows = []
    for line in lines:
        was = before.get(line["target"])
        was_ms = None if was is None else was * 1000
        rows.append(
            {
                "target": line["target"],
                "rtt_p95_before_ms": was_ms,
                "rtt_p95_ms": line["rtt_p95_ms"],
                "growth": trends.growth(was_ms, line["rtt_p95_ms"]),
            }
        )
    return rows


def disk_forecasts(app: Any, session: Session, hosts: list[str], period: Period) -> list[dict]:
    """Least-squares line through each disk's daily peak; days until it reaches 100 %."""
    rows = []
    for name in hosts:
        for metric in sections.disk_metrics(app, name):
            points = queries.daily_peaks(session, [name], metric, period.start, period.end)
            series = points.get(name, [])
            rows.append(_forecast(name, metric, series))
    return [r for r in rows if r is not None]


def _forecast(name: str, metric: str, series: list[tuple[int, float]]) -> dict | None:
    if not series:
        return None
    line = trends.fit([(float(d), v) for d, v in series])
    last_day = series[-1][0]
    days = trends.days_until(line, last_day, 100.0) if line else None
    return {
        "target": name,
        "disk": metric.removeprefix("disk_pct_"),
        "first_pct": series[0][1],
        "last_pct": series[-1][1],
        "slope_pct_day": line.slope if line else None,
        "days_to_full": days,
        "points": [[d, v] for d, v in series],
        "fit": [[d, line.at(d)] for d in (series[0][0], last_day)] if line else [],
    }


def recommendations(m: dict, rtt: list[dict], disks: list[dict]) -> list[dict]:
    return [
        *_rtt_recs(rtt),
        *_disk_recs(disks),
        *_line_recs(m["lines"]),
        *_cpu_recs(m["hosts"]),
        *_timer_recs(m["levels"]),
    ]


def _rtt_recs(rows: list[dict]) -> list[dict]:
    return [
        _rec(
            "rtt",
            r["target"],
            before=r["rtt_p95_before_ms"],
            after=r["rtt_p95_ms"],
            growth=r["growth"] * 100,
        )
        for r in rows
        if r["growth"] is not None and r["growth"] >= RTT_GROWTH
    ]


def _disk_recs(rows: list[dict]) -> list[dict]:
    return [
        _rec(
            "disk",
            r["target"],
            disk=r["disk"],
            last=r["last_pct"],
            slope=r["slope_pct_day"],
            days=r["days_to_full"],
        )
        for r in rows
        if r["days_to_full"] is not None and r["days_to_full"] <= DISK_DAYS
    ]


def _line_recs(rows: list[dict]) -> list[dict]:
    found = []
    for r in rows:
        if r["b_share"] is not None and r["b_share"] >= sections.BUSY_SHARE:
            found.append(
                _rec(
                    "channels",
                    r["target"],
                    peak=r["b_peak"],
                    capacity=r["capacity"],
                    share=r["b_share"] * 100,
                )
            )
        if r["availability"] is not None and r["availability"] < AVAILABILITY_FLOOR:
            found.append(
                _rec(
                    "availability",
                    r["target"],
                    value=r["availability"] * 100,
                    failures=r["failures"],
                    checks=r["checks"],
                )
            )
    return found


def _cpu_recs(rows: list[dict]) -> list[dict]:
    peaks = {r["target"]: r["cpu_peak"] for r in rows if r["cpu_peak"] is not None}  # per host
    return [_rec("cpu", t, peak=p) for t, p in peaks.items() if p >= CPU_BUSY]


def _timer_recs(levels: list[dict]) -> list[dict]:
    return [
        _rec("timers", lv["level_label"], missed=lv["timers_missed"], count=lv["count"])
        for lv in levels
        if lv["timers_missed"]
    ]


def _rec(kind: str, subject: str, **figures: Any) -> dict:
    """``kind`` selects the sentence in labels.yaml (rec_<kind>); figures fill it."""
    return {
        "kind": kind,
        "subject": subject,
        "figures": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in figures.items()},
    }


def rtt_chart(rows: list[dict], before: str, after: str) -> dict:
    return {
        "type": "bar",
        "title": "c_rtt",
        "x": [r["target"] for r in rows],
        "series": [
            {"name": before, "values": [r["rtt_p95_before_ms"] for r in rows]},
            {"name": after, "values": [r["rtt_p95_ms"] for r in rows]},
        ],
    }


def disk_chart(rows: list[dict]) -> dict:
    return {
        "type": "scatter_fit",
        "title": "c_disks",
        "x": [],
        "series": [
            {"name": f"{r['target']} {r['disk']}", "points": r["points"], "fit": r["fit"]}
            for r in rows
        ],
    }
