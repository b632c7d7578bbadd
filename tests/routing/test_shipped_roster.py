"""The roster shipped in incidents/roster.yaml loads against the shipped channels and covers
every minute of December 2026 (M2.1a, R1.1), through the same check `oncall check` runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hotline_ops.content import load_channels
from hotline_ops.core import roster as core
from hotline_ops.roster_content import load_roster

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")


def shipped() -> core.RosterPolicy:
    channels = load_channels(ROOT / "incidents" / "channels.yaml", {})
    return load_roster(ROOT / "incidents" / "roster.yaml", channels, TZ)


def test_it_covers_every_roster_of_the_shipped_example_through_december():
    pol = shipped()
    start, end = datetime(2026, 12, 1, tzinfo=TZ), datetime(2027, 1, 1, tzinfo=TZ)
    assert {name: core.gaps(pol, name, start, end) for name in pol.rosters} == {
        "ops-primary": [],
        "ops-secondary": [],
    }


def test_it_puts_the_override_on_call_on_new_years_eve():
    at = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)  # 20:00 in Wuzhou
    assert core.on_call(shipped(), "ops-primary", at).person == "wang-qiang"
