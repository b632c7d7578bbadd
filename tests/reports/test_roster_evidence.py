"""The roster clauses of the acceptance pack (M2.1a, R1.1, C4): 7×24 coverage over the year
from the roster file plus stored overrides; a year without calendar data is no evidence."""

from __future__ import annotations

import pytest

from hotline_ops.app import build_app
from hotline_ops.services import oncall
from hotline_ops.settings import load_settings
from tests.reports import fixture
from tests.reports.test_evidence import clause, pack
from tests.support.roster import ROSTER, write_roster

OPS_ONLY = ROSTER.replace("[pager, backup]", "[ops]").replace("[pager]", "[ops]")
# A made-up 2027 calendar: New Year's Day off, no make-up working day.
CAL_2027 = "calendar:\n  2027:\n    holidays: [2027-01-01]\n    workdays: []\n"
ALL_DAYS = OPS_ONLY.replace(
    "members: [wang-qiang], days: workdays}", "members: [wang-qiang], days: all}"
)


def roster_app(tmp_path, clock, text: str):
    root = fixture.site(tmp_path)
    write_roster(root, text)
    clock.set(fixture.local(2027, 1, 1))
    app = build_app(load_settings(root), clock=clock)
    app.store.upgrade()
    return app


@pytest.fixture
def make(tmp_path, clock):
    apps = []

    def build(text: str):
        apps.append(roster_app(tmp_path / str(len(apps)), clock, text))
        clock.set(fixture.local(2028, 1, 2, 10))
        return apps[-1]

    yield build
    for app in apps:
        app.close()


def test_a_roster_without_gaps_meets_7x24_and_names_the_after_sales_manager(make):
    ctx = pack(make(ALL_DAYS + CAL_2027))
    rows = [(clause(ctx, c)["status"], clause(ctx, c)["figure"]) for c in ("M2.1a", "R1.1", "C4")]
    assert rows == [
        ("met", "8760/8760 小时有人值班"),
        ("met", "8760/8760 小时有人值班"),
        ("met", "8760/8760 小时有人值班；售后经理 赵敏"),
    ]


def test_every_weekend_uncovered_by_the_secondary_roster_is_a_gap(make):
    # ops-secondary covers working days only: 2027 starts on a Friday (holiday) and has 52
    # Saturdays; Fri 1 Jan 09:00 → Mon 4 Jan 09:00 (72 h), then 51 weekends of 48 h.
    row = clause(pack(make(OPS_ONLY + CAL_2027)), "R1.1")
    assert (row["status"], row["figure"]) == (
        "missed",
        "52 处值班空档，共 2520.0 小时（首个 2027-01-01 09:00）",
    )


def test_a_stored_override_fills_a_gap(make, clock):
    app = make(OPS_ONLY + CAL_2027)
    oncall.add_override(
        app,
        roster="ops-secondary",
        person="zhao-min",
        start=fixture.local(2027, 1, 1, 9),
        end=fixture.local(2027, 1, 4, 9),
        actor="sun",
        reason="元旦值班",
    )
    row = clause(pack(app), "R1.1")
    assert row["figure"] == "51 处值班空档，共 2448.0 小时（首个 2027-01-09 09:00）"


def test_without_the_years_calendar_the_roster_is_no_evidence(make):
    row = clause(pack(make(OPS_ONLY)), "M2.1a")
    assert (row["status"], row["evidence"]) == ("no_evidence", "值班表缺少 2027 年节假日数据")
