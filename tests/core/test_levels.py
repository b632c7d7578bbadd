"""Fault levels: which rule classifies a target, and the contract deadlines a level sets."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta

from hotline_ops.core.levels import (
    Level,
    LevelPolicy,
    Rule,
    Timer,
    deadlines,
    from_snapshot,
    snapshot,
    timers_met_by,
)
from tests.conftest import T0

RESPONSE = Timer("response", 1800, "M2.1b", "acknowledged")
PLAN = Timer("plan", 3600, "M2.3a", "plan")
RESOLVE = Timer("resolve", 7200, "M2.3b", "resolved")

L1 = Level(1, "系统瘫痪", (RESPONSE, PLAN), ("ops", "boss"))
L2 = Level(2, "核心功能故障", (RESPONSE, RESOLVE), ("ops",))
L3 = Level(3, "非核心功能故障", (RESPONSE,), ())


def policy(*rules: Rule) -> LevelPolicy:
    return LevelPolicy({1: L1, 2: L2, 3: L3}, rules, default_level=3)


def test_it_applies_a_rule_only_when_all_its_labels_match():
    rule = Rule(1, {"impact": ("system",), "segment": ("lan",)})
    assert policy(rule).classify({"impact": "system", "segment": "wan"}) == L3


def test_it_applies_a_rule_when_all_its_labels_match():
    rule = Rule(1, {"impact": ("system",), "segment": ("lan",)})
    assert policy(rule).classify({"impact": "system", "segment": "lan", "x": "y"}) == L1


def test_it_matches_any_value_of_a_list():
    rule = Rule(2, {"impact": ("core", "system")})
    assert policy(rule).classify({"impact": "system"}) == L2


def test_it_does_not_match_a_missing_label():
    assert policy(Rule(1, {"impact": ("system",)})).classify({"segment": "lan"}) == L3


def test_it_uses_the_first_matching_rule():
    rules = (Rule(2, {"impact": ("core",)}), Rule(1, {"impact": ("core",)}))
    assert policy(*rules).classify({"impact": "core"}) == L2


def test_it_lets_a_matching_rule_win_over_a_level_label():
    rules = (Rule(1, {"impact": ("system",)}),)
    assert policy(*rules).classify({"impact": "system", "level": "3"}) == L1


def test_it_takes_a_level_label_when_no_rule_matches():
    rules = (Rule(1, {"impact": ("system",)}),)
    assert policy(*rules).classify({"impact": "degraded", "level": "2"}) == L2


def test_it_ignores_a_level_label_naming_no_defined_level():
    rules = (Rule(1, {"impact": ("system",)}),)
    assert policy(*rules).classify({"impact": "degraded", "level": "9"}) == L3


def test_it_falls_back_to_the_default_level():
    assert policy(Rule(1, {"impact": ("system",)})).classify({}) == L3


def test_it_turns_each_timer_into_an_exact_due_time():
    assert deadlines(L2, T0) == [
        (RESPONSE, T0 + timedelta(minutes=30)),
        (RESOLVE, T0 + timedelta(hours=2)),
    ]


def test_it_round_trips_a_level_through_its_json_snapshot():
    stored = json.loads(json.dumps(snapshot(L1)))
    assert from_snapshot(stored) == L1


def test_its_snapshot_is_exactly_what_asdict_gives():
    # Built by hand for speed: a field added to Level or Timer must be added there too.
    warned = Level(2, "核心功能故障", (RESPONSE, RESOLVE), ("ops",), warn_at=(0.25,))
    assert [snapshot(level) for level in (L1, L3, warned)] == [asdict(x) for x in (L1, L3, warned)]


def test_it_meets_the_response_timer_on_acknowledge():
    assert timers_met_by(L2, "acknowledged") == ["response"]


def test_it_meets_response_and_resolve_timers_on_resolve():
    assert timers_met_by(L2, "resolved") == ["response", "resolve"]


def test_it_meets_the_plan_timer_only_on_plan():
    assert (timers_met_by(L1, "plan"), timers_met_by(L1, "resolved")) == (["plan"], ["response"])
