"""The annual acceptance evidence pack over the fixture year (C1): every clause listed, one
breached level-2 timer marks M2.3b missed, and the completion % drops by exactly one clause."""

from __future__ import annotations

from hotline_ops.core import periods
from hotline_ops.reports import builders
from hotline_ops.reports.acceptance import load_clauses
from tests.reports import fixture
from tests.reports.make_examples import NOW


def pack(app) -> dict:
    return builders.build(app, periods.parse("acceptance", "2027", app.settings.tz), NOW)


def clause(ctx: dict, clause_id: str) -> dict:
    return next(r for r in ctx["tables"]["clauses"]["rows"] if r["id"] == clause_id)


def test_it_lists_every_clause_of_the_contract_once():
    ids = [c.id for c in load_clauses(fixture.REPORTS / "clauses.yaml")]
    assert (len(ids), len(set(ids)), ids[0], ids[-1]) == (54, 54, "M1.1", "C5")


def test_it_marks_m2_3b_missed_with_the_breached_timer(year_app_any):
    row = clause(pack(year_app_any), "M2.3b")
    assert (row["status"], row["figure"]) == ("missed", "1/2 个计时达标")


def test_it_marks_m2_3b_met_when_both_level_2_faults_were_resolved_in_time(year_app_no_breach):
    row = clause(pack(year_app_no_breach), "M2.3b")
    assert (row["status"], row["figure"]) == ("met", "2/2 个计时达标")


def test_it_drops_the_completion_by_one_clause_for_the_breach(year_app, year_app_no_breach):
    with_breach, without = pack(year_app), pack(year_app_no_breach)
    assert (without["completion_pct"], with_breach["completion_pct"]) == (12.96, 11.11)
    assert (without["counts"]["met"], with_breach["counts"]["met"]) == (7, 6)


def test_it_says_no_evidence_for_a_clause_without_data(year_app):
    row = clause(pack(year_app), "P6.1")
    assert (row["status"], row["figure"]) == ("no_evidence", "—")


def test_it_says_no_evidence_for_ticket_dispatch_without_tickets(year_app):
    row = clause(pack(year_app), "P9.1")
    assert (row["status"], row["figure"]) == (
        "no_evidence",
        "创建最长 1.50 秒; 派单 无证据; 查询最长 0.40 秒",
    )


def test_it_judges_the_fault_budget_from_the_years_system_faults(year_app):
    row = clause(pack(year_app), "P9.4")
    assert (row["status"], row["figure"]) == ("met", "1 次系统故障，0 次超过 60 分钟")


def test_it_judges_line_availability_from_the_rollups(year_app):
    # 365 days × 2 lines × 288 checks; 3 failures a day in March on the trunk.
    row = clause(pack(year_app), "R1.5")
    assert (row["status"], row["figure"]) == ("met", "99.956 %（2 条线路）")
