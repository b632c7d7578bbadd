"""Escalation chains, pure: route selection, the snapshot, and the exact time of every run.

Waits count from the incident's opening; repeats every `every` after the step's first run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from hotline_ops.core import escalation as core
from hotline_ops.core.escalation import Chain, Route, Run, Step
from tests.conftest import T0

M = 60
DEFAULT = Chain(
    "default",
    (
        Step(0, ("ops",)),
        Step(10 * M, ("ops",)),
        Step(20 * M, ("ops",), repeat=2, every_s=15 * M),
    ),
)
LEVEL1 = Chain(
    "level1",
    (Step(0, ("ops",)), Step(5 * M, people=("duty-manager",), channels=("ops", "duty"))),
)
ROUTES = (
    Route(LEVEL1, levels=frozenset({1})),
    Route(LEVEL1, match={"component": ("trunk", "span")}),
    Route(DEFAULT),
)


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def walk(chain: Chain, late_by: timedelta = timedelta(0)) -> list[Run]:
    """Fire every run, the timer loop running each one ``late_by`` after it was due."""
    run = core.first_step(chain, T0)
    seen = [run]
    while (
        run := core.next_step(chain, run.step, run.repeat, T0, run.due_at + late_by)
    ) is not None:
        seen.append(run)
    return seen


def test_it_runs_each_step_at_its_offset_from_the_opening():
    assert walk(DEFAULT) == [
        Run(0, 0, at(0)),
        Run(1, 0, at(10)),
        Run(2, 0, at(20)),
        Run(2, 1, at(35)),
        Run(2, 2, at(50)),
    ]


def test_it_keeps_the_schedule_when_the_timer_loop_runs_a_little_late():
    assert [r.due_at for r in walk(DEFAULT, timedelta(minutes=3))] == [
        at(0),
        at(10),
        at(20),
        at(35),
        at(50),
    ]


def test_it_says_the_chain_is_done_after_the_last_run():
    assert core.next_step(DEFAULT, 2, 2, T0, at(50)) is None


def test_it_skips_an_overdue_repeat_when_a_later_run_is_also_due():
    assert core.next_step(DEFAULT, 2, 0, T0, at(55)) == Run(2, 2, at(50))


def test_it_keeps_an_overdue_repeat_when_nothing_after_it_is_due():
    assert core.next_step(DEFAULT, 2, 0, T0, at(40)) == Run(2, 1, at(35))


def test_it_never_skips_the_first_run_of_a_step_however_late():
    assert core.next_step(DEFAULT, 0, 0, T0, at(120)) == Run(1, 0, at(10))
    assert core.next_step(DEFAULT, 1, 0, T0, at(120)) == Run(2, 0, at(20))


def test_it_reads_the_chain_from_its_snapshot():
    assert core.next_step(core.snapshot(DEFAULT), 1, 0, T0, at(10)) == Run(2, 0, at(20))


def test_it_finds_which_repeat_a_due_time_is():
    assert [core.repeat_of(DEFAULT, r.step, r.due_at, T0) for r in walk(DEFAULT)] == [0, 0, 0, 1, 2]


def test_it_round_trips_the_snapshot_through_json():
    data = json.loads(json.dumps(core.snapshot(LEVEL1)))
    assert core.from_snapshot(data) == LEVEL1


def test_it_snapshots_people_roster_and_fallback_channels():
    assert core.snapshot(LEVEL1)["steps"][1] == {
        "wait_s": 300,
        "notify": (),
        "people": ("duty-manager",),
        "roster": None,
        "channels": ("ops", "duty"),
        "repeat": 0,
        "every_s": 0,
    }


def test_it_notifies_its_own_channels_then_the_fallback_once_each():
    step = Step(0, notify=("ops", "sms"), roster="primary", channels=("sms", "duty"))
    assert step.channels_now() == ("ops", "sms", "duty")


@pytest.mark.parametrize(
    ("level", "labels", "chain"),
    [
        (1, {}, "level1"),
        (2, {"component": "span"}, "level1"),
        (2, {"component": "host"}, "default"),
        (3, {}, "default"),
    ],
)
def test_it_selects_the_chain_of_the_first_matching_route(level, labels, chain):
    assert core.select(ROUTES, level, labels).name == chain


def test_it_refuses_to_select_when_no_route_matches():
    with pytest.raises(LookupError, match="no escalation route matches level 3"):
        core.select(ROUTES[:2], 3, {})
