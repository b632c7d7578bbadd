"""Flap detection: a target whose results keep changing flaps, with hysteresis.

The weighted change over a 21-result window has 20 transitions; transition ``p`` (0 the
oldest, 19 the newest) weighs ``0.8 + 0.4 * p / 19`` and the sum of the changed ones is
divided by 20, however short the history is.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.core.health import Flip, HealthPolicy, HealthState, Status, assess, flap_change
from tests.conftest import T0

STEP = timedelta(seconds=30)


def run(outcomes, policy, state=None):
    """Feed outcomes one per 30 s starting at T0; return every verdict."""
    state = state or HealthState()
    verdicts = []
    for i, ok in enumerate(outcomes):
        verdict = assess(state, ok, T0 + i * STEP, policy)
        verdicts.append(verdict)
        state = verdict.state
    return verdicts


def alternating(n):
    """True, False, True, ... (n results)."""
    return [i % 2 == 0 for i in range(n)]


def test_it_never_flaps_on_a_steady_target():
    verdicts = run([True] * 40, HealthPolicy())
    assert [v.flap for v in verdicts] == [None] * 40
    assert verdicts[-1].state.flapping is False


def test_it_weighs_a_fully_alternating_window_by_position():
    change = flap_change("010101010101010101010", 21)
    assert change == sum(0.8 + 0.4 * p / 19 for p in range(20)) / 20


def test_it_divides_a_short_history_by_the_full_window():
    # 4 changes, the newest transitions 16..19: (3.2 + 0.4 * 70 / 19) / 20 = 0.2337
    assert flap_change("01010", 21) == sum(0.8 + 0.4 * p / 19 for p in range(16, 20)) / 20


def test_it_does_not_flap_on_a_short_history_even_if_every_result_changes():
    # 9 results, 8 changes at positions 12..19: (6.4 + 0.4 * 124 / 19) / 20 = 0.4505 <= 0.5
    verdicts = run(alternating(9), HealthPolicy())
    assert [v.flap for v in verdicts] == [None] * 9
    assert verdicts[-1].state.flapping is False


def test_it_starts_flapping_at_the_first_result_whose_change_exceeds_flap_high():
    # result 8: 8 changes at 12..19 -> (6.4 + 0.4 * 124 / 19) / 20 = 0.4505
    # result 9: 9 changes at 11..19 -> (7.2 + 0.4 * 135 / 19) / 20 = 0.5021 > 0.5
    verdicts = run(alternating(10), HealthPolicy())
    assert [v.flap for v in verdicts] == [None] * 9 + ["start"]
    assert (verdicts[8].state.flapping, verdicts[9].state.flapping) == (False, True)


def test_it_reports_start_only_once_while_the_target_keeps_flapping():
    verdicts = run(alternating(21), HealthPolicy())
    assert [v.flap for v in verdicts[10:]] == [None] * 11
    assert all(v.state.flapping for v in verdicts[9:])


def test_it_keeps_flapping_below_flap_high_while_the_change_stays_at_or_above_flap_low():
    # After 21 alternating results, s steady ones leave r = 20 - s changes at positions
    # 0..r-1: (0.8 r + 0.2 r (r - 1) / 19) / 20. s = 10: (8 + 0.2 * 90 / 19) / 20 = 0.4474
    # (below 0.5), s = 14: (4.8 + 0.2 * 30 / 19) / 20 = 0.2558 (still >= 0.25).
    verdicts = run(alternating(21) + [True] * 14, HealthPolicy())
    assert [v.flap for v in verdicts[21:]] == [None] * 14
    assert verdicts[30].state.flapping is True
    assert verdicts[34].state.flapping is True


def test_it_stops_flapping_exactly_when_the_change_falls_below_flap_low():
    # s = 15 steady results: r = 5 changes, (4 + 0.2 * 20 / 19) / 20 = 0.2105 < 0.25
    verdicts = run(alternating(21) + [True] * 16, HealthPolicy())
    assert [v.flap for v in verdicts[21:]] == [None] * 14 + ["stop", None]
    assert (verdicts[34].state.flapping, verdicts[35].state.flapping) == (True, False)


def test_it_keeps_only_the_last_flap_window_results_in_the_history():
    outcomes = [True, True, False, True, False, False, True, True]  # "11010011"
    verdicts = run(outcomes, HealthPolicy(flap_window=5))
    assert [v.state.history for v in verdicts[3:]] == ["1101", "11010", "10100", "01001", "10011"]


def test_it_reports_a_flip_and_the_flap_start_in_the_same_verdict():
    # attempts = rise = 1: every result flips; result 9 (a failure) also starts flapping
    verdict = run(alternating(10), HealthPolicy(attempts=1, rise=1))[9]
    assert verdict.flip == Flip(old=Status.UP, new=Status.DOWN, at=T0 + 9 * STEP)
    assert verdict.flap == "start"


def test_it_rejects_flap_low_above_flap_high():
    with pytest.raises(ValueError, match=r"^need flap_window >= 3 and 0 <= flap_low <= flap_high"):
        HealthPolicy(flap_high=0.3, flap_low=0.4)


def test_it_rejects_a_flap_window_below_three():
    with pytest.raises(ValueError, match=r"^need flap_window >= 3 and 0 <= flap_low <= flap_high"):
        HealthPolicy(flap_window=2)
