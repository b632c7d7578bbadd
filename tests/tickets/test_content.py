"""tickets/ content: the shipped files load; bad ones fail with file:line and field."""

from __future__ import annotations

import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.ticket_content import load_tickets
from tests.tickets.helpers import ROOT, ticket_site


def test_it_loads_the_shipped_tickets_folder_against_the_shipped_channels():
    content = load_tickets(ROOT / "tickets", channels={"ops-webhook"})
    assert content.deadlines.working_days["consultation"] == 2


def test_it_refuses_a_review_chain_of_one_level_naming_file_and_line(tmp_path):
    ticket_site(tmp_path / "site")
    path = tmp_path / "site" / "tickets" / "review.yaml"
    path.write_text('chains:\n  "*": [热线中心审核]\n', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"review\.yaml:2: chains\.\*: List should have at least 2 items"
    ):
        load_tickets(path.parent)


def test_it_refuses_an_unknown_warning_channel(tmp_path):
    ticket_site(tmp_path / "site")
    with pytest.raises(ConfigError, match=r"deadlines\.yaml:\d+: warning_channel: unknown"):
        load_tickets(tmp_path / "site" / "tickets", channels={"other"})


def test_it_refuses_a_catalogue_rule_with_an_unknown_unit(tmp_path):
    ticket_site(tmp_path / "site")
    path = tmp_path / "site" / "tickets" / "catalogue.yaml"
    text = path.read_text(encoding="utf-8").replace("lead: wz-hrss", "lead: nobody")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"catalogue\.yaml:\d+: .*unknown unit 'nobody'"):
        load_tickets(path.parent)


def test_it_refuses_a_calendar_day_outside_its_year(tmp_path):
    ticket_site(tmp_path / "site")
    path = tmp_path / "site" / "tickets" / "calendar.yaml"
    path.write_text("years:\n  2027:\n    holidays: [2028-01-03]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"calendar\.yaml:2: years.2027.0: 2028-01-03"):
        load_tickets(path.parent)
