"""``report`` CLI: builds with --json, the register listing, and one-line errors that name
the bad argument without touching the store."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hotline_ops.cli.main import cli
from hotline_ops.services import reports


def invoke(app, *args):
    return CliRunner().invoke(cli, list(args), obj=app)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weekly", "--period", "2027-03"], "error: KIND: unknown report kind 'weekly'"),
        (["monthly", "--period", "2027-13"], "error: --period: '2027-13' is not a month"),
        (["quarterly", "--period", "2027-Q5"], "error: --period: '2027-Q5' is not a quarter"),
        (["monthly", "--period", "2027-03", "--format", "pdf,doc"], "error: --format: 'pdf,doc'"),
        (["monthly", "--period", "2027-03", "--lang", "fr"], "error: --lang: 'fr' is not one"),
    ],
)
def test_it_refuses_a_bad_argument_in_one_line_naming_it(year_app, args, message):
    result = invoke(year_app, "report", "build", *args)
    lines = result.output.strip().splitlines()
    assert (result.exit_code, len(lines), lines[0].startswith(message)) == (8, 1, True)


def test_it_stores_nothing_for_a_refused_build(year_app):
    invoke(year_app, "report", "build", "monthly", "--period", "2027-13")
    assert reports.get_all(year_app) == []


def test_it_builds_and_prints_the_register_row_as_json(year_app):
    result = invoke(
        year_app,
        "report",
        "build",
        "monthly",
        "--period",
        "2027-03",
        "--format",
        "xlsx",
        "--json",
    )
    row = json.loads(result.output)
    assert (result.exit_code, row["kind"], row["period"], row["version"], list(row["files"])) == (
        0,
        "monthly",
        "2027-03",
        1,
        ["xlsx"],
    )


def test_it_lists_the_register_as_json(year_app):
    reports.build(year_app, kind="incident", period="4", formats=["html"])
    rows = json.loads(invoke(year_app, "report", "list", "--json").output)
    assert [(r["kind"], r["period"], r["filed_at"]) for r in rows] == [("incident", "4", None)]


def test_it_says_a_missing_report_is_not_found(year_app):
    result = invoke(year_app, "report", "verify", "99")
    assert (result.exit_code, result.output.strip()) == (3, "error: report #99 does not exist")
