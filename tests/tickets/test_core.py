"""Pure ticket rules: the hash chain and working-day arithmetic."""

from __future__ import annotations

from datetime import date

import pytest

from hotline_ops.core import ticket_rules as rules
from hotline_ops.core.workdays import NoCalendarData, WorkCalendar, add_working_days


def _chain(contents):
    out, prev = [], rules.GENESIS
    for content in contents:
        digest = rules.chain_hash(prev, content)
        out.append((prev, digest, content))
        prev = digest
    return out


def test_it_verifies_an_untouched_chain():
    assert rules.verify_chain(_chain([{"a": 1}, {"b": 2}, {"c": 3}])) is None


def test_it_points_at_the_first_edited_event():
    events = _chain([{"a": 1}, {"b": 2}, {"c": 3}])
    prev, digest, _ = events[1]
    events[1] = (prev, digest, {"b": 20})
    assert rules.verify_chain(events) == 1


def test_it_notices_a_dropped_event():
    events = _chain([{"a": 1}, {"b": 2}, {"c": 3}])
    assert rules.verify_chain([events[0], events[2]]) == 1


def test_it_refuses_a_year_without_calendar_data():
    cal = WorkCalendar(years=frozenset({2026}))
    with pytest.raises(NoCalendarData, match="no holiday data for 2027"):
        add_working_days(cal, date(2026, 12, 31), 1)


def test_it_counts_a_make_up_sunday_and_skips_a_weekday_holiday():
    cal = WorkCalendar(
        frozenset({2026}), off=frozenset({date(2026, 9, 25)}), on=frozenset({date(2026, 9, 20)})
    )
    # Fri 18 Sep → Sun 20 (make-up) → Mon 21.
    assert add_working_days(cal, date(2026, 9, 18), 2) == date(2026, 9, 21)


def test_it_names_the_allowed_states_when_refusing():
    with pytest.raises(Exception, match="allowed from: reviewed"):
        rules.next_state(rules.HANDLING, "close")
