"""Soft/hard health state: only ``attempts`` consecutive failures flip a target DOWN."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline_ops.core.health import Flip, HealthPolicy, HealthState, Status, observe
from tests.conftest import T0

STEP = timedelta(seconds=30)


def run(outcomes, policy, state=None):
    """Feed outcomes one per 30 s starting at T0; return the final state and every flip."""
    state = state or HealthState()
    flips = []
    for i, ok in enumerate(outcomes):
        state, flip = observe(state, ok, T0 + i * STEP, policy)
        flips.append(flip)
    return state, flips


def test_it_keeps_soft_failures_below_attempts_from_flipping():
    up = HealthState(status=Status.UP, changed_at=T0 - STEP)
    state, flips = run([False, False], HealthPolicy(attempts=3), up)
    assert flips == [None, None]
    assert (state.status, state.fails, state.soft_failing) == (Status.UP, 2, True)


def test_it_flips_hard_down_exactly_at_the_attempts_th_consecutive_failure():
    up = HealthState(status=Status.UP, changed_at=T0 - STEP)
    _, flips = run([False, False, False], HealthPolicy(attempts=3), up)
    assert flips == [None, None, Flip(old=Status.UP, new=Status.DOWN, at=T0 + 2 * STEP)]


def test_it_resets_the_failure_count_on_a_success_in_between():
    up = HealthState(status=Status.UP, changed_at=T0 - STEP)
    state, flips = run([False, False, True, False, False], HealthPolicy(attempts=3), up)
    assert flips == [None] * 5
    assert (state.status, state.fails, state.oks) == (Status.UP, 2, 0)


def test_it_needs_rise_successes_in_a_row_to_go_back_up():
    down = HealthState(status=Status.DOWN, fails=3, changed_at=T0 - STEP)
    _, flips = run([True, True], HealthPolicy(attempts=3, rise=2), down)
    assert flips == [None, Flip(old=Status.DOWN, new=Status.UP, at=T0 + STEP)]


def test_it_restarts_the_rise_count_after_a_failure():
    down = HealthState(status=Status.DOWN, fails=3, changed_at=T0 - STEP)
    state, flips = run([True, False, True], HealthPolicy(attempts=3, rise=2), down)
    assert flips == [None, None, None]
    assert (state.status, state.oks) == (Status.DOWN, 1)


def test_it_flips_unknown_to_up_on_the_first_success():
    state, flip = observe(HealthState(), True, T0, HealthPolicy())
    assert flip == Flip(old=Status.UNKNOWN, new=Status.UP, at=T0)
    assert state == HealthState(status=Status.UP, fails=0, oks=1, changed_at=T0, checked_at=T0)


def test_it_does_not_flip_again_while_staying_down():
    _, flips = run([False] * 6, HealthPolicy(attempts=3))
    assert [f is not None for f in flips] == [False, False, True, False, False, False]


def test_it_keeps_changed_at_at_the_flip_and_moves_checked_at_with_every_probe():
    state, _ = run([False] * 5, HealthPolicy(attempts=3))
    assert (state.changed_at, state.checked_at) == (T0 + 2 * STEP, T0 + 4 * STEP)


def test_it_rejects_attempts_below_one():
    with pytest.raises(ValueError, match=r"^attempts and rise must be >= 1$"):
        HealthPolicy(attempts=0)


def test_it_gives_a_steady_up_target_the_same_verdict_as_the_full_fold():
    # assess() short-cuts hard UP with a full window of successes; the short cut must
    # agree field for field with observe() + history + flap score.
    from dataclasses import replace

    from hotline_ops.core.health import Verdict, assess

    policy = HealthPolicy(attempts=3, rise=2)
    steady = HealthState(Status.UP, 0, 40, T0, T0, "1" * policy.flap_window, False)
    later = T0 + timedelta(seconds=10)
    state, flip = observe(steady, True, later, policy)
    full = Verdict(replace(state, history=state.history[-policy.flap_window :]), flip, None)
    assert assess(steady, True, later, policy) == full
    assert full.state == HealthState(Status.UP, 0, 41, T0, later, "1" * 21, False)


def test_it_leaves_the_steady_short_cut_on_the_first_failure():
    from hotline_ops.core.health import assess

    policy = HealthPolicy(attempts=3)
    steady = HealthState(Status.UP, 0, 40, T0, T0, "1" * policy.flap_window, False)
    verdict = assess(steady, False, T0 + timedelta(seconds=10), policy)
    assert (verdict.state.fails, verdict.state.history[-1], verdict.flip) == (1, "0", None)
