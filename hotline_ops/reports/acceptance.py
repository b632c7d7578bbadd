"""The annual acceptance evidence pack (CONTRACT.md C1): every clause of the contract with
its figure, target, verdict and the evidence behind it, and the completion %.

The clause list is content (``reports/clauses.yaml``), so the pack always lists every clause;
each clause names how it is measured. No data means "no evidence" (无证据), never "met".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from hotline_ops import yamlfile
from hotline_ops.core import periods
from hotline_ops.core import roster as roster_core
from hotline_ops.core.evidence import (
    MET,
    MISSED,
    NO_EVIDENCE,
    Verdict,
    combine,
    completion,
    count_verdict,
    no_evidence,
    threshold_verdict,
)
from hotline_ops.core.periods import Period
from hotline_ops.reports import builders, queries, sections
from hotline_ops.store.evidence import evidence_docs, file_sha256
from hotline_ops.store.routing import stored_overrides

Measure = Literal[
    "timer",
    "inspection",
    "filed",
    "filing",
    "budget",
    "ticket_probe",
    "report_time",
    "availability",
    "resolved",
    "ticket",
    "acceptance",
    "record",
    "roster",
    "probe_pass",
]
REPORT_TIME_LIMIT_S = 300.0  # P9.2: statistics produced within 5 minutes
ACCEPT_BY = (1, 15)  # C1: the acceptance of year N happens before 15 January N+1


class ClauseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    requirement: str
    target: str
    measure: Measure
    report_kind: Literal["monthly", "quarterly"] | None = None
    key: str | None = None
    limit: float | None = None
    at_least: bool = True
    probe_kind: str | None = None


class ClausesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clauses: list[ClauseSpec] = Field(min_length=1)


def load_clauses(path: Path) -> list[ClauseSpec]:
    doc = yamlfile.load(path)
    return yamlfile.validate(ClausesFile, doc).clauses


class Evidence:
    """What the judges of one year look at, gathered once."""

    def __init__(self, app: Any, session: Session, period: Period, now: datetime, m: dict):
        self.app, self.session, self.period, self.now, self.m = app, session, period, now, m
        self.register = queries.register(session)
        self.ended = min(now, period.end)  # a draft judges only the part of the year gone by


def _timer(ev: Evidence, c: ClauseSpec) -> Verdict:
    counts = ev.m["clause_timers"].get(c.id, {"met": 0, "missed": 0})
    return count_verdict(
        counts["met"], counts["missed"], "个计时达标", [f"故障计时记录（deadlines，{c.id}）"]
    )


def _inspection(ev: Evidence, c: ClauseSpec) -> Verdict:
    tz = ev.app.settings.tz
    days = queries.inspection_days(ev.session, ev.period.start, ev.ended, tz)
    expected = max(0, (ev.ended.astimezone(tz).date() - ev.period.start.astimezone(tz).date()).days)
    if not days:
        return no_evidence("无每日线路巡检记录")
    status = MET if len(days) >= expected else MISSED
    return Verdict(
        status, f"{len(days)}/{expected} 天有巡检记录", ["每日线路巡检记录（inspections）"]
    )


def _periods_in_year(kind: str, ev: Evidence) -> list[str]:
    """Keys of the ``kind`` periods of the year that ended by now."""
    tz = ev.app.settings.tz
    year = ev.period.key
    keys = (
        [f"{year}-{m:02d}" for m in range(1, 13)]
        if kind == "monthly"
        else [f"{year}-Q{q}" for q in range(1, 5)]
    )
    return [k for k in keys if periods.parse(kind, k, tz).end <= ev.now]


def _filed(ev: Evidence, c: ClauseSpec) -> Verdict:
    expected = _periods_in_year(c.report_kind or "monthly", ev)
    filed = {r.period for r in ev.register if r.kind == c.report_kind and r.filed_at}
    if not expected:
        return no_evidence("本年度尚无已结束的报告周期")
    done = [k for k in expected if k in filed]
    status = MET if len(done) == len(expected) else MISSED
    missing = [k for k in expected if k not in filed]
    evidence = ["报告备案登记（report_register）"] + (
        [f"未备案：{', '.join(missing)}"] if missing else []
    )
    return Verdict(status, f"{len(done)}/{len(expected)} 期已备案", evidence)


def _filing(ev: Evidence, c: ClauseSpec) -> Verdict:
    filed = [r for r in ev.register if r.filed_at and ev.period.start <= r.filed_at < ev.period.end]
    if not filed:
        return no_evidence("本年度无备案报告")
    complete = [r for r in filed if r.sha256 and r.receipt]
    status = MET if len(complete) == len(filed) else MISSED
    return Verdict(
        status,
        f"{len(complete)}/{len(filed)} 份备案含校验值与回执",
        ["报告备案登记：sha256、备案时间、回执"],
    )


def _budget(ev: Evidence, c: ClauseSpec) -> Verdict:
    b = sections.budget(ev.app, ev.session, ev.period.start, ev.period.end, ev.now)
    checks = sum(t["checks"] for t in ev.m["totals"].values())
    if not checks:
        return no_evidence("本年度无监测数据")
    ok = b["count"] <= b["allowed"] and b["too_long"] == 0
    figure = f"{b['count']} 次系统故障，{b['too_long']} 次超过 {b['max_duration_min']:g} 分钟"
    return Verdict(MET if ok else MISSED, figure, [f"一级故障记录；全年探测 {checks} 次"])


def _worst(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _ticket_probe(ev: Evidence, c: ClauseSpec) -> Verdict:
    """P9.1: creation ≤ 20 s and query ≤ 2 s from the synthetic probe; dispatch ≤ 30 min
    from the ticket service's stored tickets."""
    probes = ev.m["tickets"]["probes"]
    create = _worst([p["create_max_s"] for p in probes])
    query = _worst([p["query_max_s"] for p in probes])
    dispatch = (ev.m["tickets"]["kpis"] or {}).get("dispatch_max_min")
    src = ["工单服务拨测（ticket_service）"]
    parts = [
        threshold_verdict(
            create,
            20,
            at_least=False,
            shown=f"创建最长 {create or 0:.2f} 秒",
            evidence=src,
            unmeasured="创建 无证据",
        ),
        threshold_verdict(
            dispatch,
            30,
            at_least=False,
            shown=f"派单最长 {dispatch} 分钟",
            evidence=src,
            unmeasured="派单 无证据",
        ),
        threshold_verdict(
            query,
            2,
            at_least=False,
            shown=f"查询最长 {query or 0:.2f} 秒",
            evidence=src,
            unmeasured="查询 无证据",
        ),
    ]
    return combine(parts, src + (["工单记录（派单时间）"] if dispatch is not None else []))


def _report_time(ev: Evidence, c: ClauseSpec) -> Verdict:
    mine = [r for r in ev.register if ev.period.start <= r.generated_at < ev.period.end]
    if not mine:
        return no_evidence("本年度无报表生成记录")
    worst = max(r.build_s for r in mine)
    return threshold_verdict(
        worst,
        REPORT_TIME_LIMIT_S,
        at_least=False,
        shown=f"{len(mine)} 份报表，最长 {worst:.1f} 秒",
        evidence=["报告备案登记：生成耗时"],
    )


def _availability(ev: Evidence, c: ClauseSpec) -> Verdict:
    lines = [r for r in ev.m["lines"] if r["checks"]]
    checks = sum(r["checks"] for r in lines)
    value = (checks - sum(r["failures"] for r in lines)) / checks if checks else None
    shown = "—" if value is None else f"{value * 100:.3f} %（{len(lines)} 条线路）"
    return threshold_verdict(
        value, c.limit or 0.999, at_least=True, shown=shown, evidence=["中继/E1 拨测 5 分钟汇总"]
    )


def _resolved(ev: Evidence, c: ClauseSpec) -> Verdict:
    rows = ev.m["incidents"]
    done = sum(1 for r in rows if r["resolved_at"] != "—")
    return count_verdict(done, len(rows) - done, "个故障已解决", ["故障记录（incidents）"])


RATE_KEYS = ("closure_pass_rate", "evaluation_coverage")
UNITS = {
    "dispatch_max_min": " 分钟",
    "urgent_response_max_min": " 分钟",
    "callback_late": " 次超时",
    "warning_late": " 次迟发",
}


def _ticket(ev: Evidence, c: ClauseSpec) -> Verdict:
    kpis = ev.m["tickets"]["kpis"]
    if kpis is None:
        return no_evidence("本年度工单服务无工单与话单记录")
    value = kpis.get(c.key or "")
    if value is None:
        return no_evidence(f"本年度工单服务无 {c.key} 的记录")
    detail = kpis.get("detail", {}).get(c.key or "")
    unit = UNITS.get(c.key or "", "")
    shown = f"{value * 100:.2f} %" if c.key in RATE_KEYS else f"{value:g}{unit}"
    return threshold_verdict(
        value,
        c.limit or 0,
        at_least=c.at_least,
        shown=f"{shown}（{detail}）" if detail else shown,
        evidence=[f"工单服务指标 {c.key}（工单、时限记录）"],
    )


def _probe_pass(ev: Evidence, c: ClauseSpec) -> Verdict:
    names = [n for n, t in ev.app.targets.items() if t.kind == c.probe_kind]
    figs = [ev.m["totals"][n] for n in names if n in ev.m["totals"]]
    checks = sum(f["checks"] for f in figs)
    fails = sum(f["failures"] for f in figs)
    return count_verdict(checks - fails, fails, "次拨测达标", [f"{c.probe_kind} 拨测"])


def _acceptance(ev: Evidence, c: ClauseSpec) -> Verdict:
    deadline = ev.period.end.replace(month=ACCEPT_BY[0], day=ACCEPT_BY[1])
    filed = [
        r
        for r in ev.register
        if r.kind == "acceptance" and r.period == ev.period.key and r.filed_at
    ]
    if not filed:
        return no_evidence("本年度验收材料尚未备案")
    first = min(r.filed_at for r in filed)
    status = MET if first < deadline else MISSED
    return Verdict(
        status, f"{sections.local(first, ev.app.settings.tz)} 备案", ["报告备案登记（acceptance）"]
    )


def _record(ev: Evidence, c: ClauseSpec) -> Verdict:
    """Written documents registered against the clause (``hotline-ops evidence add``) whose
    file still matches its sha256; a clause with ``limit`` sums their quantities (M2.4:
    training hours)."""
    tz = ev.app.settings.tz
    docs = evidence_docs(
        ev.session,
        c.id,
        ev.period.start.astimezone(tz).date(),
        (ev.ended - timedelta(microseconds=1)).astimezone(tz).date(),  # end is exclusive
    )
    data = ev.app.settings.path(ev.app.settings.data_dir)
    intact = [d for d in docs if file_sha256(data / d.path) == d.sha256]
    broken = [f"#{d.id}" for d in docs if d not in intact]
    warn = [f"文件校验失败，不计入：{', '.join(broken)}"] if broken else []
    if not intact:
        why = f"需备案书面记录：本年度未登记（hotline-ops evidence add {c.id}）"
        return Verdict(NO_EVIDENCE, "—", [why, *warn])
    cited = [f"#{d.id} {d.title}（sha256 {d.sha256[:12]}）" for d in intact] + warn
    if c.limit is None:
        return Verdict(MET, f"{len(intact)} 份书面记录", cited)
    total = sum(d.quantity or 0 for d in intact)
    status = MET if total >= c.limit else MISSED
    return Verdict(status, f"{total:g} / {c.limit:g}（{len(intact)} 份书面记录）", cited)


def _roster(ev: Evidence, c: ClauseSpec) -> Verdict:
    """7×24 coverage of every roster over the year gone by (M2.1a, R1.1), computed from the
    roster file and the overrides stored from the CLI; C4 also needs the after-sales manager.
    The file is today's: the evidence line says so, and a year without statutory calendar
    data is no evidence rather than a guessed Mon–Fri."""
    policy = getattr(ev.app.content, "roster", None)
    if policy is None:
        return no_evidence("未配置值班表（incidents/roster.yaml）")
    start, end = ev.period.start, ev.ended
    unknown = policy.missing_years(start, end - timedelta(microseconds=1))
    if unknown:
        return no_evidence(f"值班表缺少 {', '.join(map(str, unknown))} 年节假日数据")
    full = policy.with_overrides(stored_overrides(ev.session))
    holes = [g for name in full.rosters for g in roster_core.gaps(full, name, start, end)]
    hours = sum((g.end - g.start).total_seconds() for g in holes) / 3600
    total = (end - start).total_seconds() / 3600
    evidence = [f"值班表 incidents/roster.yaml（当前版本）及调班记录，{len(full.rosters)} 个班组"]
    if holes:
        first = sections.local(holes[0].start, ev.app.settings.tz)
        figure = f"{len(holes)} 处值班空档，共 {hours:.1f} 小时（首个 {first}）"
        return Verdict(MISSED, figure, evidence)
    figure = f"{total:.0f}/{total:.0f} 小时有人值班"
    if c.id == "C4":  # the roster file cannot load without this role (roster_content)
        figure += f"；售后经理 {full.person('after-sales-manager').name}"
    return Verdict(MET, figure, evidence)


JUDGES = {
    "timer": _timer,
    "inspection": _inspection,
    "filed": _filed,
    "filing": _filing,
    "budget": _budget,
    "ticket_probe": _ticket_probe,
    "report_time": _report_time,
    "availability": _availability,
    "resolved": _resolved,
    "ticket": _ticket,
    "acceptance": _acceptance,
    "record": _record,
    "roster": _roster,
    "probe_pass": _probe_pass,
}


def judge(ev: Evidence, clauses: list[ClauseSpec]) -> list[dict]:
    rows = []
    for c in clauses:
        v = JUDGES[c.measure](ev, c)
        rows.append(
            {
                "id": c.id,
                "requirement": c.requirement,
                "target": c.target,
                "figure": v.figure,
                "status": v.status,
                "evidence": "；".join(v.evidence),
                "_verdict": v,
            }
        )
    return rows


def build_pack(app, session, period: Period, now: datetime, ctx: dict, m: dict, **extra: Any):
    clauses = extra.get("clauses") or load_clauses(reports_dir(app) / "clauses.yaml")
    rows = judge(Evidence(app, session, period, now, m), clauses)
    verdicts = [r.pop("_verdict") for r in rows]
    ctx["completion_pct"] = completion(verdicts)
    ctx["counts"] = {
        s: sum(1 for v in verdicts if v.status == s) for s in (MET, MISSED, NO_EVIDENCE)
    }
    ctx["draft"] = now < period.end + timedelta(days=1)
    ctx["summary"] = {"lines": len(m["lines"]), "incidents": len(m["incidents"])}
    ctx["budget"] = sections.budget(app, session, period.start, period.end, now)
    ctx["tables"] = {
        "clauses": {
            "title": "t_clauses",
            "columns": [
                ["id", "text"],
                ["requirement", "text"],
                ["target", "text"],
                ["figure", "text"],
                ["status", "status"],
                ["evidence", "text"],
            ],
            "rows": rows,
        },
        "timers": {
            "title": "t_clause_timers",
            "columns": [["clause", "text"], ["met", "int"], ["missed", "int"], ["pending", "int"]],
            "rows": [{"clause": k, **v} for k, v in sorted(m["clause_timers"].items())],
        },
        "levels": {"title": "t_levels", "columns": builders.LEVEL_COLUMNS, "rows": m["levels"]},
        "register": {
            "title": "t_register",
            "columns": [
                ["kind", "text"],
                ["period", "text"],
                ["version", "int"],
                ["filed_at", "text"],
                ["sha256", "text"],
            ],
            "rows": [
                {
                    "kind": r.kind,
                    "period": r.period,
                    "version": r.version,
                    "filed_at": sections.local(r.filed_at, app.settings.tz),
                    "sha256": r.sha256[:16],
                }
                for r in queries.register(session)
                if r.filed_at
            ],
        },
        "lines": {"title": "t_lines", "columns": builders.LINE_COLUMNS, "rows": m["lines"]},
    }
    return ctx


def reports_dir(app: Any) -> Path:
    return app.settings.path(app.settings.paths.reports)
