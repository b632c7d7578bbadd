"""Loading incidents/roster.yaml: a person nobody can reach is an error at load time, naming
file:line, and so is every dangling reference."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.roster_content import load_roster
from tests.support.roster import ROSTER

TZ = ZoneInfo("Asia/Shanghai")


class Stub:
    """A configured channel as the loader sees it: only its kind matters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


CHANNELS = {
    "pager": Stub("fake"),
    "backup": Stub("fake"),
    "sms": Stub("sms"),
    "mail": Stub("email"),
}


def load(tmp_path, text: str, channels=None):
    path = tmp_path / "roster.yaml"
    path.write_text(text, encoding="utf-8")
    return load_roster(path, CHANNELS if channels is None else channels, TZ)


def error(tmp_path, text: str, channels=None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, channels)
    return str(info.value).split("roster.yaml:", 1)[1]


def test_it_loads_the_people_and_their_channels_in_order(tmp_path):
    pol = load(tmp_path, ROSTER)
    assert pol.people["zhang-wei"].channels == ("pager", "backup")
    assert pol.person("after-sales-manager").name == "赵敏"


def test_it_refuses_a_person_without_channels(tmp_path):
    text = ROSTER.replace(
        'phone: "13800001003"\n    channels: [pager]', 'phone: "13800001003"\n    channels: []'
    )
    assert error(tmp_path, text) == "14: people.wang-qiang.channels: no channel to reach wang-qiang"


def test_it_refuses_sms_for_a_person_without_a_phone(tmp_path):
    text = ROSTER.replace(
        '    phone: "13800001002"\n    channels: [pager, backup]', "    channels: [sms, backup]"
    )
    assert error(tmp_path, text) == (
        "9: people.li-na.channels.0: channel 'sms' (sms) needs phone, li-na has none"
    )


def test_it_refuses_email_for_a_person_without_an_address(tmp_path):
    text = ROSTER.replace("channels: [pager]\n  chen-jing", "channels: [pager, mail]\n  chen-jing")
    assert error(tmp_path, text) == (
        "14: people.wang-qiang.channels.1: channel 'mail' (email) needs email, wang-qiang has none"
    )


def test_it_honours_a_channels_own_recipient_fields(tmp_path):
    robot = Stub("robot")
    robot.recipient_fields = ("dingtalk_id",)
    channels = {**CHANNELS, "pager": robot}
    assert error(tmp_path, ROSTER, channels) == (
        "6: people.zhang-wei.channels.0: channel 'pager' (robot) needs dingtalk_id, "
        "zhang-wei has none"
    )


def test_it_refuses_an_unknown_channel(tmp_path):
    text = ROSTER.replace("channels: [pager]\n  chen-jing", "channels: [wecom]\n  chen-jing")
    assert error(tmp_path, text) == "14: people.wang-qiang.channels.0: unknown channel 'wecom'"


def test_it_requires_the_after_sales_manager(tmp_path):
    text = ROSTER.replace("  after-sales-manager: zhao-min\n", "  duty-manager: zhao-min\n")
    assert error(tmp_path, text) == "24: roles.after-sales-manager: required (CONTRACT C4)"


def test_it_refuses_an_unknown_rotation_member(tmp_path):
    text = ROSTER.replace("members: [wang-qiang]", "members: [wang-gang]")
    assert error(tmp_path, text) == (
        "36: rosters.ops-secondary.layers.0.members.0: unknown person 'wang-gang'"
    )


def test_it_reads_an_unquoted_evening_handoff_as_a_time(tmp_path):
    # YAML 1.1 reads 22:00 as the sexagesimal integer 1320.
    text = ROSTER.replace(
        'handoff: "09:00", start: 2026-01-05', "handoff: 22:00, start: 2026-01-05"
    )
    assert load(tmp_path, text).rosters["ops-primary"].layers[0].handoff == time(22, 0)


def test_it_refuses_an_override_that_ends_before_it_starts(tmp_path):
    text = ROSTER + (
        "overrides:\n"
        '  - {roster: ops-primary, person: li-na,\n'
        '     from: "2026-12-02 09:00", to: "2026-12-01 09:00"}\n'
    )
    assert error(tmp_path, text) == "38: overrides.0: 'to' must be after 'from'"


def test_it_refuses_a_swap_without_whom_it_replaces(tmp_path):
    text = ROSTER + (
        "swaps:\n"
        '  - {roster: ops-primary, person: li-na,\n'
        '     from: "2026-12-01 09:00", to: "2026-12-02 09:00"}\n'
    )
    assert error(tmp_path, text) == "38: swaps.0.replaces: a swap names whom it replaces"


def test_it_takes_a_later_years_calendar_from_the_file(tmp_path):
    text = ROSTER + "calendar:\n  2027:\n    holidays: [2027-01-01]\n    workdays: [2027-01-09]\n"
    cal = load(tmp_path, text).calendar
    assert (2027 in cal.years, cal.is_day_off(date(2027, 1, 9))) == (True, False)
