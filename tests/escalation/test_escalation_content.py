"""Loading incidents/escalation.yaml: the example loads, and every mistake is refused with
file:line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_ops.core.escalation import Chain, Step
from hotline_ops.errors import ConfigError
from hotline_ops.escalation_content import load_escalation

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = {"ops", "duty"}

GOOD = """\
chains:
  default:
    steps:
      - {wait: 0m, notify: [ops]}
      - {wait: 10m, notify: [ops]}
      - {wait: 20m, notify: [ops], repeat: 2, every: 15m}
  level1:
    steps:
      - {wait: 0, notify: [ops]}
      - {wait: 5m, people: [duty-manager], roster: primary, channels: [duty]}
routes:
  - {match: {level: 1}, chain: level1}
  - {match: {component: [trunk, span], env: 1}, chain: level1}
  - {chain: default}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "escalation.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_escalation(path, CHANNELS)
    return str(exc.value).removeprefix(f"{path}:")


def test_it_loads_the_repository_example():
    policy = load_escalation(ROOT / "incidents" / "escalation.yaml", {"ops-webhook"})
    assert policy.select(2, {}) == Chain(
        "default",
        (
            Step(600, ("ops-webhook",)),
            Step(1200, ("ops-webhook",), repeat=2, every_s=900),
        ),
    )
    assert policy.select(1, {}).name == "level1"


def test_it_loads_steps_people_and_routes(tmp_path):
    policy = load_escalation(write(tmp_path, GOOD), CHANNELS)
    assert policy.chains["level1"].steps == (
        Step(0, ("ops",)),
        Step(300, people=("duty-manager",), roster="primary", channels=("duty",)),
    )
    assert [r.levels for r in policy.routes] == [frozenset({1}), frozenset(), frozenset()]
    assert policy.routes[1].match == {"component": ("trunk", "span"), "env": ("1",)}


def test_it_names_the_line_of_an_unknown_channel(tmp_path):
    text = GOOD.replace("- {wait: 10m, notify: [ops]}", "- {wait: 10m, notify: [pager]}")
    assert error(tmp_path, text) == "5: chains.default.steps.1.notify.0: unknown channel 'pager'"


def test_it_names_the_line_of_an_unknown_fallback_channel(tmp_path):
    text = GOOD.replace("channels: [duty]", "channels: [sms]")
    assert error(tmp_path, text) == "10: chains.level1.steps.1.channels.0: unknown channel 'sms'"


def test_it_names_the_line_of_an_unknown_chain_in_a_route(tmp_path):
    text = GOOD.replace("{match: {level: 1}, chain: level1}", "{match: {level: 1}, chain: lvl1}")
    assert error(tmp_path, text) == (
        "12: routes.0.chain: unknown chain 'lvl1' (known: default, level1)"
    )


def test_it_names_the_line_of_a_bad_duration(tmp_path):
    text = GOOD.replace("every: 15m", "every: soon")
    assert error(tmp_path, text) == (
        "6: chains.default.steps.2.every: not a duration: 'soon' (use e.g. 30s, 5m, 2h, 1h30m)"
    )


def test_it_refuses_a_negative_wait(tmp_path):
    text = GOOD.replace("{wait: 10m,", "{wait: -10m,")
    assert error(tmp_path, text).startswith("5: chains.default.steps.1.wait: not a duration")


def test_it_refuses_routes_without_a_catch_all(tmp_path):
    text = GOOD.replace("  - {chain: default}\n", "")
    assert error(tmp_path, text) == (
        "11: routes: no catch-all route; end with one without match, e.g. - {chain: default}"
    )


def test_it_refuses_a_route_after_the_catch_all(tmp_path):
    text = GOOD + "  - {match: {level: 3}, chain: default}\n"
    assert error(tmp_path, text) == (
        "15: routes.3: unreachable, routes.2 before it matches every incident"
    )


def test_it_refuses_a_step_that_starts_before_the_previous_ones_last_run(tmp_path):
    text = GOOD.replace("every: 15m}", "every: 15m}\n      - {wait: 45m, notify: [ops]}")
    assert error(tmp_path, text) == (
        "7: chains.default.steps.3.wait: must be after 3000s, the last run of step 2 "
        "(waits count from the incident's opening)"
    )


def test_it_refuses_people_without_a_roster_or_fallback_channels(tmp_path):
    text = GOOD.replace(", channels: [duty]", "")
    assert error(tmp_path, text) == (
        "10: chains.level1.steps.1.people: no incidents/roster.yaml to resolve "
        "people/roster; add it, or a fallback `channels` list"
    )


def test_it_refuses_repeat_without_every(tmp_path):
    text = GOOD.replace(", every: 15m", "")
    assert error(tmp_path, text) == (
        "6: chains.default.steps.2: repeat needs every (the gap between runs)"
    )


def test_it_refuses_a_level_that_is_not_a_number(tmp_path):
    text = GOOD.replace("{level: 1}", "{level: one}")
    assert error(tmp_path, text) == "12: routes.0.match.level: 'one' is not a level number"


def test_it_refuses_an_unknown_key(tmp_path):
    text = GOOD.replace("{wait: 0m, notify: [ops]}", "{wait: 0m, notfy: [ops]}")
    assert error(tmp_path, text).startswith("4: chains.default.steps.0.notfy: Extra inputs")
