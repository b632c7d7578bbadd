"""The ticket KPI export (CONTRACT.md P8.3 daily/weekly/monthly reports in Excel and PDF;
R3.2 call volume, 接通率, 办结率): one context per day, ISO week or month, rendered by the
same HTML/PDF/XLSX writers as every other report and filed in the same register.

Figures come from store.ticket_kpi (the queries the ticket API serves), so the export, the
API and the acceptance pack cannot disagree. Each KPI carries its clause, target and
verdict; a KPI without a denominator is "无证据", never met.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hotline_ops.core.evidence import MET, MISSED, NO_EVIDENCE
from hotline_ops.core.periods import Period
from hotline_ops.reports import sections
from hotline_ops.store import ticket_kpi

TITLE = "工单服务指标报表"
NO_TARGET = "—"
# (key of core.kpi.compute, clause, zh-CN name, en name, target text, limit; None: no target)
KPIS: list[tuple[str, str, str, str, str, float | None]] = [
    ("answer_rate", "R3.2", "接通率", "Answer rate", "≥ 95 %（GB/T 33358）", 0.95),
    (
        "answer_15s_rate",
        "R3.2",
        "15 秒接听率",
        "Answered within 15 s",
        "≥ 80 %（GB/T 33358）",
        0.80,
    ),
    ("dispatch_on_time", "P3.1", "按时派单率", "Dispatch on time", "100 %（≤ 30 分钟）", 1.0),
    (
        "first_response_on_time",
        "P4.1",
        "紧急工单按时首次响应率",
        "Urgent first response on time",
        "100 %（≤ 5 分钟）",
        1.0,
    ),
    ("completion_on_time", "R3.1", "按时办结率", "Completed on time", "100 %（工作日时限）", 1.0),
    ("completion_rate", "R3.2", "办结率", "Completion rate", NO_TARGET, None),
    ("closing_pass_rate", "P5.2", "办结审核通过率", "Closing check pass rate", "≥ 98 %", 0.98),
    ("evaluation_coverage", "P6.1", "评价覆盖率", "Evaluation coverage", "≥ 90 %", 0.90),
    (
        "callback_on_time",
        "P7.1",
        "按时回访率",
        "Callback on time",
        "100 %（24 小时 / 1 小时）",
        1.0,
    ),
    ("return_rate", "P3.2", "退回率", "Return rate", NO_TARGET, None),
    ("repeat_call_rate", "R4.3", "重复来电率", "Repeat-call rate", NO_TARGET, None),
]
DIMENSIONS = {"attitude": ("服务态度", "Attitude"), "efficiency": ("办理效率", "Efficiency")}
DIMENSIONS["result"] = ("办理结果", "Result")
KPI_COLUMNS = [
    ["clause", "text"],
    ["kpi", "text"],
    ["goal", "text"],
    ["value", "pct"],
    ["num", "int"],
    ["den", "int"],
    ["status", "status"],
]
VOLUME_COLUMNS = [["clause", "text"], ["kpi", "text"], ["count", "int"]]
SATISFACTION_COLUMNS = [
    ["clause", "text"],
    ["dimension", "text"],
    ["value", "pct"],
    ["num", "int"],
    ["den", "int"],
]
DAY_KPIS = (
    "answer_rate",
    "answer_15s_rate",
    "dispatch_on_time",
    "completion_rate",
    "closing_pass_rate",
    "evaluation_coverage",
    "callback_on_time",
)
DAY_COLUMNS = [
    ["day", "text"],
    ["calls_offered", "int"],
    ["tickets_created", "int"],
    *[[k, "pct"] for k in DAY_KPIS],
]


def _name(names: tuple[str, str], lang: str) -> str:
    return names[0] if lang == "zh-CN" else names[1]


def verdict(value: float | None, limit: float | None) -> str:
    """met / missed against the target; no denominator is no evidence; no target: "—"."""
    if value is None:
        return NO_EVIDENCE
    if limit is None:
        return NO_TARGET
    return MET if value >= limit else MISSED


def kpi_rows(figures: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """One row per KPI with a target (and the reported ones without), for any report."""
    rows = []
    for key, clause, zh, en, target, limit in KPIS:
        r = figures[key]
        rows.append(
            {
                "key": key,
                "clause": clause,
                "kpi": _name((zh, en), lang),
                "goal": target,
                "value": r["value"],
                "num": r["num"],
                "den": r["den"],
                "status": verdict(r["value"], limit),
            }
        )
    return rows


def kpi_table(session: Session, start: datetime, end: datetime, lang: str) -> dict[str, Any]:
    """The KPI table of [start, end) (the monthly report's section on tickets)."""
    return table(
        "t_ticket_kpis", KPI_COLUMNS, kpi_rows(ticket_kpi.measure(session, start, end), lang)
    )


def satisfaction_rows(figures: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    return [
        {
            "clause": "P6.2",
            "dimension": _name(DIMENSIONS.get(name, (name, name)), lang),
            **r,
        }
        for name, r in figures["satisfaction"].items()
    ]


def volume_rows(figures: dict[str, Any], created: int, lang: str) -> list[dict[str, Any]]:
    answer, close = figures["answer_rate"], figures["completion_rate"]
    names = [
        ("话务量（呼入）", "Calls offered", answer["den"]),
        ("接通量", "Calls answered", answer["num"]),
        ("受理工单", "Tickets taken in", created),
        ("已办结工单", "Tickets closed", close["num"]),
    ]
    return [{"clause": "R3.2", "kpi": _name((zh, en), lang), "count": n} for zh, en, n in names]


def days_of(period: Period) -> list[datetime]:
    assert period.start is not None
    return [period.start + timedelta(days=i) for i in range(period.days)]


def day_rows(session: Session, period: Period, tz: Any) -> list[dict[str, Any]]:
    """Per local day of a week or a month (a day's export has the one row)."""
    rows = []
    for day in days_of(period):
        # Aware arithmetic keeps the wall clock: each day runs local midnight to midnight.
        figures = ticket_kpi.measure(session, day, day + timedelta(days=1))
        rows.append(
            {
                "day": f"{day.astimezone(tz):%Y-%m-%d}",
                "calls_offered": figures["answer_rate"]["den"],
                "tickets_created": figures["completion_rate"]["den"],
                **{k: figures[k]["value"] for k in DAY_KPIS},
            }
        )
    return rows


def table(title: str, columns: list[list[str]], rows: list[dict]) -> dict[str, Any]:
    return {"title": title, "columns": columns, "rows": rows}


def context(app: Any, session: Session, period: Period, now: datetime, lang: str, **_: Any):
    assert period.start is not None and period.end is not None
    ctx = sections.base(app, period, now, lang, TITLE)
    figures = ticket_kpi.measure(session, period.start, period.end)
    created = figures["completion_rate"]["den"]
    rows = kpi_rows(figures, lang)
    ctx["summary"] = {
        "calls_offered": figures["answer_rate"]["den"],
        "tickets_created": created,
        "met": sum(1 for r in rows if r["status"] == MET),
        "missed": sum(1 for r in rows if r["status"] == MISSED),
        "no_evidence": sum(1 for r in rows if r["status"] == NO_EVIDENCE),
    }
    ctx["tables"] = {
        "volume": table("t_ticket_volume", VOLUME_COLUMNS, volume_rows(figures, created, lang)),
        "kpis": table("t_ticket_kpis", KPI_COLUMNS, rows),
        "satisfaction": table(
            "t_satisfaction", SATISFACTION_COLUMNS, satisfaction_rows(figures, lang)
        ),
        "days": table("t_ticket_days", DAY_COLUMNS, day_rows(session, period, app.settings.tz)),
    }
    return ctx
