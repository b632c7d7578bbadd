"""Clause verdicts and completion % (C1), contract timer states, trends (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline_ops.core import evidence, trends
from hotline_ops.core.evidence import MET, MISSED, NO_EVIDENCE, Verdict

DUE = datetime(2027, 5, 20, 4, 0, tzinfo=UTC)


def test_it_counts_a_timer_met_after_its_due_time_as_missed():
    state = evidence.timer_state(DUE, DUE + timedelta(minutes=1), None, None, DUE)
    assert state == MISSED


def test_it_counts_a_fired_timer_as_missed():
    assert evidence.timer_state(DUE, None, DUE, None, DUE) == MISSED


def test_it_counts_an_overdue_unfired_timer_as_missed():
    assert evidence.timer_state(DUE, None, None, None, DUE + timedelta(seconds=1)) == MISSED


def test_it_keeps_a_timer_not_yet_due_pending():
    assert evidence.timer_state(DUE, None, None, None, DUE - timedelta(seconds=1)) == "pending"


def test_it_says_no_evidence_when_nothing_was_counted():
    assert evidence.count_verdict(0, 0, "x", []).status == NO_EVIDENCE


def test_it_never_calls_a_clause_with_a_part_unmeasured_met():
    parts = [Verdict(MET, "a"), Verdict(NO_EVIDENCE, "b")]
    assert evidence.combine(parts, []).status == NO_EVIDENCE


def test_it_computes_completion_as_met_over_all_clauses():
    verdicts = [Verdict(MET, "")] * 2 + [Verdict(MISSED, ""), Verdict(NO_EVIDENCE, "")]
    assert evidence.completion(verdicts) == 50.0


def test_it_fits_a_line_and_gives_the_days_until_full():
    line = trends.fit([(0.0, 50.0), (10.0, 55.0), (20.0, 60.0)])
    assert (line.slope, trends.days_until(line, 20.0, 100.0)) == (0.5, 80.0)


def test_it_gives_relative_growth():
    assert trends.growth(20.0, 30.0) == 0.5
