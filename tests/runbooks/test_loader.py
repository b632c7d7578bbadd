"""Runbook front matter and runner.yaml: every error names file:line and field; the shipped
runbooks and playbooks load and pass Ansible's syntax check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotline_ops.errors import ConfigError
from hotline_ops.runbooks.loader import load_runbooks, load_runner_config

ROOT = Path(__file__).resolve().parents[2]
GOOD = """---
title: 测试
level: 2
applies_to:
  - match: {component: trunk}
steps:
  - text: 看一眼
  - playbook: diagnostics
    vars: {target_hosts: app}
---
# 正文
"""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    runbooks, playbooks = tmp_path / "runbooks", tmp_path / "playbooks"
    runbooks.mkdir()
    (playbooks / "project").mkdir(parents=True)
    (playbooks / "project" / "diagnostics.yml").write_text("- hosts: all\n  tasks: []\n")
    return runbooks, playbooks


def _error(folders: tuple[Path, Path], text: str) -> str:
    runbooks, playbooks = folders
    (runbooks / "bad.md").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_runbooks(runbooks, playbooks)
    return str(caught.value).replace(str(runbooks) + "/", "")


def test_it_loads_a_runbook_with_its_steps_in_order(folders) -> None:
    runbooks, playbooks = folders
    (runbooks / "trunk.md").write_text(GOOD, encoding="utf-8")
    [rb] = load_runbooks(runbooks, playbooks).values()
    assert (rb.name, rb.level, [s.number for s in rb.steps], rb.steps[1].playbook) == (
        "trunk",
        2,
        [1, 2],
        "diagnostics.yml",
    )
    assert rb.body == "# 正文\n"


def test_it_names_the_line_of_a_step_with_both_text_and_playbook(folders) -> None:
    text = GOOD.replace("  - text: 看一眼\n", "  - text: 看一眼\n    playbook: diagnostics\n")
    assert _error(folders, text) == (
        "bad.md:7: steps.0: a step has either text (for a person) or playbook (for Ansible)"
    )


def test_it_names_the_line_of_a_missing_playbook(folders) -> None:
    text = GOOD.replace("playbook: diagnostics", "playbook: nosuch")
    assert _error(folders, text).startswith("bad.md:8: steps.1.playbook: no playbook 'nosuch'")


def test_it_names_the_line_of_a_bad_matcher(folders) -> None:
    text = GOOD.replace("  - match: {component: trunk}\n", "  - matchers: ['alertname=~\"(x\"']\n")
    message = _error(folders, text)
    assert message.startswith(
        "bad.md:5: applies_to.0.matchers: 'alertname=~\"(x\"': alertname: bad"
    )


def test_it_names_the_line_of_an_unknown_field(folders) -> None:
    text = GOOD.replace("level: 2\n", "level: 2\nowner: 张三\n")
    assert _error(folders, text) == "bad.md:4: owner: Extra inputs are not permitted"


def test_it_refuses_a_level_outside_1_to_3(folders) -> None:
    text = GOOD.replace("level: 2", "level: 4")
    assert _error(folders, text) == "bad.md:3: level: Input should be less than or equal to 3"


def test_it_refuses_a_file_without_front_matter(folders) -> None:
    message = _error(folders, "# just markdown\n")
    assert message == "bad.md:1: front matter: the file must start with a '---' line"


def test_it_refuses_unclosed_front_matter(folders) -> None:
    assert _error(folders, "---\ntitle: x\n") == "bad.md:1: front matter: no closing '---' line"


def test_it_gives_the_file_line_of_a_yaml_syntax_error(folders) -> None:
    text = GOOD.replace("level: 2", "level: [2")
    assert _error(folders, text).startswith("bad.md:4: YAML syntax:")


def test_it_refuses_two_runbooks_with_one_name(folders) -> None:
    runbooks, playbooks = folders
    (runbooks / "a.md").write_text(GOOD.replace("title:", "name: same\ntitle:"), encoding="utf-8")
    (runbooks / "b.md").write_text(GOOD.replace("title:", "name: same\ntitle:"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"b.md:2: name: 'same' already defined at .*a.md:2"):
        load_runbooks(runbooks, playbooks)


def test_it_names_the_line_of_a_bad_runner_timeout(folders) -> None:
    _runbooks, playbooks = folders
    (playbooks / "runner.yaml").write_text("forks: 5\ntimeout: soon\n")
    with pytest.raises(ConfigError, match=r"runner.yaml:2: timeout: not a duration: 'soon'"):
        load_runner_config(playbooks)


def test_it_loads_every_shipped_runbook() -> None:
    found = load_runbooks(ROOT / "runbooks", ROOT / "playbooks")
    assert sorted(found) == [
        "asr-accuracy-low",
        "certificate-expiring",
        "database-down",
        "disk-filling",
        "e1-span-alarm",
        "gateway-unreachable",
        "monthly-inspection",
        "sip-trunk-down",
        "ticket-service-slow",
    ]


def test_it_passes_ansibles_syntax_check_on_every_shipped_playbook() -> None:
    playbooks = sorted(str(p) for p in (ROOT / "playbooks" / "project").glob("*.yml"))
    binary = str(Path(sys.executable).parent / "ansible-playbook")
    inventory = str(ROOT / "playbooks" / "inventory")
    done = subprocess.run(
        [binary, "--syntax-check", "-i", inventory, *playbooks],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, len(playbooks)) == (0, 7), done.stderr
