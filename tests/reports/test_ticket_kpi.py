"""Ticket KPIs in the reports (issues [6/7]): the monthly report and the acceptance pack judge
the ticket clauses from the stored tickets, and the ``ticket-kpi`` report exports a day, an
ISO week or a month in XLSX and PDF (P8.3, R3.2). Figures from tests/reports/ticket_fixture."""

from __future__ import annotations

import io
import subprocess
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from hotline_ops.cli.main import cli
from hotline_ops.core import periods
from hotline_ops.reports import builders, output
from hotline_ops.services import reports
from tests.reports import ticket_fixture
from tests.reports.fixture import REPORTS

TICKET_CLAUSES = ("P3.1", "P4.1", "P5.2", "P6.1", "P7.1", "P8.2", "P9.1", "P9.3", "R3.2")


@pytest.fixture
def app(tmp_path, clock):
    app = ticket_fixture.ticket_app(tmp_path, clock)
    yield app
    app.close()


@pytest.fixture
def app_any(tmp_path, clock, store_url):
    app = ticket_fixture.ticket_app(tmp_path, clock, store_url)
    yield app
    app.close()


@pytest.fixture
def empty(tmp_path, clock):
    app = ticket_fixture.empty_app(tmp_path / "empty", clock)
    clock.set(ticket_fixture.NOW)
    yield app
    app.close()


def build(app, kind: str, key: str, lang: str = "zh-CN") -> dict:
    return builders.build(app, periods.parse(kind, key, app.settings.tz), ticket_fixture.NOW, lang)


def statuses(table: dict) -> dict[str, tuple]:
    return {r["key"]: (r["value"], r["num"], r["den"], r["status"]) for r in table["rows"]}


def clauses(ctx: dict) -> dict[str, tuple[str, str]]:
    rows = ctx["tables"]["clauses"]["rows"]
    return {r["id"]: (r["status"], r["figure"]) for r in rows if r["id"] in TICKET_CLAUSES}


def pdf_text(path, *options: str) -> str:
    return subprocess.run(
        ["pdftotext", *options, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


# -- A: the monthly report and the acceptance pack -------------------------------------------


def test_it_gives_the_monthly_report_the_months_ticket_figures(app_any):
    kpis = build(app_any, "monthly", "2026-10")["tickets"]["kpis"]
    assert {k: v for k, v in kpis.items() if k != "detail"} == {
        "dispatch_max_min": 31.0,
        "urgent_response_max_min": None,  # no urgent ticket: P4.1 stays no evidence
        "closure_pass_rate": 1.0,
        "evaluation_coverage": 0.5,
        "callback_late": 1,
        "warning_late": 0,
        "concurrent_users_peak": None,
        "seats_online_peak": None,
        "tickets": 2,
    }


def test_it_judges_each_ticket_kpi_of_the_month_against_its_target(app):
    table = build(app, "monthly", "2026-10")["tables"]["ticket_kpis"]
    assert statuses(table) == {
        "answer_rate": (0.75, 3, 4, "missed"),
        "answer_15s_rate": (0.6667, 2, 3, "missed"),
        "dispatch_on_time": (0.5, 1, 2, "missed"),
        "first_response_on_time": (None, 0, 0, "no_evidence"),
        "completion_on_time": (1.0, 2, 2, "met"),
        "completion_rate": (1.0, 2, 2, "—"),
        "closing_pass_rate": (1.0, 2, 2, "met"),
        "evaluation_coverage": (0.5, 1, 2, "missed"),
        "callback_on_time": (0.5, 1, 2, "missed"),
        "return_rate": (0.0, 0, 2, "—"),
        "repeat_call_rate": (0.5, 1, 2, "—"),
    }


def test_it_shows_no_ticket_evidence_for_a_month_without_tickets_or_calls(app):
    ctx = build(app, "monthly", "2026-09")
    assert (
        ctx["tickets"]["kpis"],
        {r["status"] for r in ctx["tables"]["ticket_kpis"]["rows"]},
    ) == (
        None,
        {"no_evidence"},
    )


def test_it_judges_the_ticket_clauses_of_the_acceptance_pack(app):
    assert clauses(build(app, "acceptance", "2026")) == {
        "P3.1": ("missed", "31 分钟（2 张已派单工单）"),
        "P4.1": ("no_evidence", "—"),
        "P5.2": ("met", "100.00 %（2/2 次办结审核通过）"),
        "P6.1": ("missed", "50.00 %（1/2 张办结工单已评价）"),
        "P7.1": ("missed", "1 次超时（1/2 次回访按时）"),
        "P8.2": ("met", "0 次迟发（2 次预警已发出）"),
        "P9.1": ("missed", "创建 无证据; 派单最长 31.0 分钟; 查询 无证据"),
        "P9.3": ("no_evidence", "—"),
        "R3.2": ("met", "2（2 张工单）"),
    }


def test_it_says_no_evidence_for_every_ticket_clause_without_tickets(empty):
    assert {s for s, _ in clauses(build(empty, "acceptance", "2026")).values()} == {"no_evidence"}


def test_it_raises_the_completion_by_the_three_ticket_clauses_met(app, empty):
    with_tickets, without = build(app, "acceptance", "2026"), build(empty, "acceptance", "2026")
    total = len(with_tickets["tables"]["clauses"]["rows"])
    met = without["counts"]["met"]
    assert (with_tickets["counts"]["met"], with_tickets["completion_pct"]) == (
        met + 3,
        round(100 * (met + 3) / total, 2),
    )


def test_it_prints_the_ticket_figures_in_the_acceptance_pdf(app, tmp_path):
    row = reports.build(app, kind="acceptance", period="2026", formats=["pdf"])
    # Narrow table cells wrap: read cell by cell (no -layout) and drop the line breaks.
    text = "".join(pdf_text(reports.path_of(app, row, "pdf")).split())
    wanted = [
        "P6.1满意度评价覆盖率",
        "50.00%（1/2张办结工单已评价）未达标",
        "31分钟（2张已派单工单）",
    ]
    assert [w for w in wanted if w not in text] == []


def test_it_prints_the_ticket_kpi_table_in_the_monthly_pdf(app):
    row = reports.build(app, kind="monthly", period="2026-10", formats=["pdf"])
    text = pdf_text(reports.path_of(app, row, "pdf"))
    wanted = ["工单服务指标（P3–P7、R3.2）", "评价覆盖率", "≥ 90 %", "50.00%", "75.00%"]
    assert [w for w in wanted if w not in text] == []


# -- B: the ticket-kpi export ----------------------------------------------------------------


def test_it_exports_a_week_with_a_row_per_day(app):
    ctx = build(app, "ticket-kpi", "2026-W43")
    days = ctx["tables"]["days"]["rows"]
    assert (
        ctx["period"]["label"],
        [d["day"] for d in days],
        [(d["calls_offered"], d["tickets_created"], d["dispatch_on_time"]) for d in days[:3]],
        ctx["summary"],
    ) == (
        "2026年第43周（10-19—10-25）",
        [f"2026-10-{d}" for d in range(19, 26)],
        [(4, 1, 1.0), (0, 1, 0.0), (0, 0, None)],
        {"calls_offered": 4, "tickets_created": 2, "met": 2, "missed": 5, "no_evidence": 1},
    )


def test_it_exports_a_month_with_31_days_and_the_satisfaction_per_dimension(app):
    ctx = build(app, "ticket-kpi", "2026-10")
    sat = [(r["dimension"], r["value"], r["den"]) for r in ctx["tables"]["satisfaction"]["rows"]]
    assert (len(ctx["tables"]["days"]["rows"]), sat) == (
        31,
        [("服务态度", 1.0, 1), ("办理效率", 1.0, 1), ("办理结果", 1.0, 1)],
    )


def test_it_exports_a_single_day(app):
    ctx = build(app, "ticket-kpi", "2026-10-20")
    rows = statuses(ctx["tables"]["kpis"])
    assert (
        [r["day"] for r in ctx["tables"]["days"]["rows"]],
        rows["dispatch_on_time"],
        rows["answer_rate"],
    ) == (["2026-10-20"], (0.0, 0, 1, "missed"), (None, 0, 0, "no_evidence"))


def test_it_writes_the_week_to_xlsx_with_exact_cells(app):
    book = load_workbook(io.BytesIO(output.xlsx(build(app, "ticket-kpi", "2026-W43"), REPORTS)))
    kpis, days, volume = (
        book["工单服务指标（P3–P7、R3.2）"],
        book["逐日指标"],
        book["话务量与工单量（R3.2）"],
    )
    assert (
        book.sheetnames,
        [c.value for c in kpis[1]],
        [c.value for c in kpis[8]],
        kpis["D2"].number_format,
        [c.value for c in days[2]][:5],
        [[c.value for c in r] for r in volume.iter_rows(min_row=2)],
    ) == (
        [
            "封面",
            "话务量与工单量（R3.2）",
            "工单服务指标（P3–P7、R3.2）",
            "满意度评价（P6.2）",
            "逐日指标",
        ],
        ["条款", "指标", "目标", "实测值", "分子", "分母", "状态"],
        ["P5.2", "办结审核通过率", "≥ 98 %", 1.0, 2, 2, "达标"],
        "0.00%",
        ["2026-10-19", 4, 1, 0.75, 0.6667],
        [
            ["R3.2", "话务量（呼入）", 4],
            ["R3.2", "接通量", 3],
            ["R3.2", "受理工单", 2],
            ["R3.2", "已办结工单", 2],
        ],
    )


def test_it_builds_and_registers_the_month_in_pdf_and_xlsx(app):
    row = reports.build(app, kind="ticket-kpi", period="2026-10", formats=["pdf", "xlsx"])
    text = pdf_text(reports.path_of(app, row, "pdf"))
    wanted = [
        "工单服务指标报表",
        "2026年10月",
        "接通率",
        "15 秒接听率",
        "75.00%",
        "66.67%",
        "未达标",
    ]
    assert (
        (row.kind, row.period, sorted(row.files)),
        [w for w in wanted if w not in text],
    ) == (("ticket-kpi", "2026-10", ["pdf", "xlsx"]), [])


def test_it_renders_the_export_in_english(app):
    page = output.html(build(app, "ticket-kpi", "2026-W43", "en"), REPORTS)
    wanted = ["Ticket service KPIs", "Answer rate", "Evaluation coverage", "75.00%", "missed"]
    assert [w for w in wanted if w not in page] == []


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-W54", "error: --period: '2026-W54' is not a day (YYYY-MM-DD), an ISO week"),
        ("2026-13", "error: --period: '2026-13' is not a day (YYYY-MM-DD), an ISO week"),
        ("2026/10", "error: --period: '2026/10' is not a day (YYYY-MM-DD), an ISO week"),
    ],
)
def test_it_refuses_a_bad_period_naming_it(app, period, message):
    result = CliRunner().invoke(cli, ["report", "build", "ticket-kpi", "--period", period], obj=app)
    assert (result.exit_code, result.output.startswith(message)) == (8, True)


def test_it_builds_the_week_from_the_cli_into_the_register(app):
    result = CliRunner().invoke(
        cli,
        ["report", "build", "ticket-kpi", "--period", "2026-w43", "--format", "xlsx", "--json"],
        obj=app,
    )
    assert (result.exit_code, [(r.kind, r.period) for r in reports.get_all(app)]) == (
        0,
        [("ticket-kpi", "2026-W43")],
    )


@pytest.mark.parametrize(
    ("text", "key", "start", "days"),
    [
        ("2026-10-20", "2026-10-20", "2026-10-20", 1),
        ("2026-w01", "2026-W01", "2025-12-29", 7),  # ISO week 1 starts in the year before
        ("2026-W53", "2026-W53", "2026-12-28", 7),
        ("2026-02", "2026-02", "2026-02-01", 28),
    ],
)
def test_it_cuts_a_day_an_iso_week_or_a_month_in_the_site_zone(text, key, start, days):
    p = periods.parse("ticket-kpi", text, ZoneInfo("Asia/Shanghai"))
    assert (p.key, p.start.date().isoformat(), p.start.hour, p.days) == (key, start, 0, days)


@pytest.mark.parametrize(
    ("text", "why"),
    [("2026-W00", "Invalid week: 0"), ("2025-W53", "Invalid week: 53"), ("2026-00", "month")],
)
def test_it_names_the_bad_period_and_why(text, why):
    with pytest.raises(periods.PeriodError) as exc:
        periods.parse("ticket-kpi", text, ZoneInfo("Asia/Shanghai"))
    assert (str(exc.value).startswith(f"'{text}' is not a day"), why in str(exc.value)) == (
        True,
        True,
    )
