"""``hotline-ops ticket …``: parse, call the service, print; bad input is one line and
stores nothing."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from hotline_ops.cli.main import cli
from hotline_ops.store.tickets import CallRecord, Ticket, TicketToken
from hotline_ops.tickets import tokens
from tests.tickets.helpers import ticket_site

CREATE = [
    "ticket",
    "create",
    "--caller",
    "13877400000",
    "--title",
    "噪声",
    "--content",
    "夜间施工",
    "--type",
    "complaint",
    "--category",
    "040101",
    "--district",
    "万秀区",
]


@pytest.fixture
def app(tmp_path, make_app):
    return make_app(ticket_site(tmp_path / "site"))


def run(app, *args):
    return CliRunner().invoke(cli, list(args), obj=app)


def _count(app, model):
    with app.store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_it_creates_and_shows_a_ticket_as_json(app):
    run(app, *CREATE)
    result = run(app, "ticket", "show", "1", "--json")
    data = json.loads(result.output)
    assert (data["status"], data["trail"]["verified"]) == ("received", True)


def test_it_walks_accept_and_dispatch_from_the_command_line(app):
    run(app, *CREATE)
    run(app, "ticket", "accept", "1")
    result = run(app, "ticket", "dispatch", "1", "--json")
    assert json.loads(result.output)["lead_unit"] == "wz-env"


def test_it_names_the_bad_option_and_stores_nothing(app):
    result = run(app, *CREATE[:-4], "--category", "04x101", "--district", "万秀区")
    assert (result.exit_code, result.output.startswith("error: --category:")) == (8, True)
    assert _count(app, Ticket) == 0


def test_it_exits_4_for_an_illegal_transition(app):
    run(app, *CREATE)
    assert run(app, "ticket", "archive", "1").exit_code == 4


def test_it_prints_a_new_token_once_and_stores_its_hash(app):
    result = CliRunner().invoke(
        cli, ["ticket", "token", "add", "seat-07", "--role", "seat_agent"], obj=app
    )
    value = result.stdout.strip()
    with app.store.session() as session:
        stored = session.scalar(select(TicketToken.sha256))
    assert stored == tokens.digest(value) and value.startswith("hot_")


def test_it_imports_call_records_from_csv(app, tmp_path):
    path = tmp_path / "cdr.csv"
    path.write_text(
        "call_id,caller,offered_at,answered_at\n"
        "c1,13877400000,2026-03-10T10:00:00+08:00,2026-03-10T10:00:09+08:00\n"
        "c2,13877400001,2026-03-10T10:01:00+08:00,\n",
        encoding="utf-8",
    )
    result = run(app, "ticket", "import-cdr", str(path), "--json")
    assert json.loads(result.output) == {"added": 2, "skipped": 0}


def test_it_names_the_line_and_field_of_a_bad_call_record_and_stores_none(app, tmp_path):
    path = tmp_path / "cdr.csv"
    path.write_text(
        "call_id,caller,offered_at,answered_at\nc1,1,2026-03-10T10:00:00+08:00,\nc2,1,yesterday,\n",
        encoding="utf-8",
    )
    result = run(app, "ticket", "import-cdr", str(path))
    assert result.output.startswith(f"error: {path}: line 3: offered_at:")
    assert _count(app, CallRecord) == 0


def test_it_prints_the_months_kpis_as_json(app):
    result = run(app, "ticket", "kpi", "--period", "2026-11", "--json")
    assert json.loads(result.output)["kpi"]["answer_rate"]["den"] == 0


def test_it_refuses_a_month_that_does_not_exist(app):
    result = run(app, "ticket", "kpi", "--period", "2026-13")
    assert (result.exit_code, result.output.split(":")[0:2]) == (8, ["error", " period"])


def test_it_lists_the_console_popups_as_json(app):
    run(app, *CREATE)
    run(app, "ticket", "accept", "1")
    run(app, "ticket", "dispatch", "1")
    run(app, "ticket", "supervise", "1", "--reason", "请加快办理")
    rows = json.loads(run(app, "ticket", "popups", "--json").output)
    assert [(r["ticket_id"], r["kind"]) for r in rows] == [(1, "supervise")]
