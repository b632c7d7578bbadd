"""The real console script on broken config: one line on stderr, exit 2, the store untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.content import write_content
from tests.support.migrations import HEAD

SCRIPT = Path(sys.executable).parent / "hotline-ops"
COMMANDS = [["init"], ["db", "upgrade"], ["incident", "list"], ["probe", "list"]]

# Line 3 is the time zone.
BROKEN_ROOT = """\
site:
  name: 测试热线
timezone: Nowhere/X
data_dir: var
"""
# Line 4 is the attempts.
BROKEN_TARGETS = """\
targets:
  - name: fake-ok
    kind: fake
    attempts: 0
"""


def script(config: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``hotline-ops --config CONFIG ARGS`` with no HOTLINE_OPS_* from the outer env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
    return subprocess.run(
        [str(SCRIPT), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=60,
        check=False,
    )


def hotline_ops(root: Path, *args: str) -> subprocess.CompletedProcess:
    return script(root / "hotline-ops.yaml", *args)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def db_file(root: Path) -> Path:
    return root / "var" / "hotline-ops.db"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid content folder, initialised, with one incident opened through the CLI."""
    root = write_content(tmp_path_factory.mktemp("initialised") / "site").parent
    for args in (["init"], ["incident", "open", "--title", "before", "--actor", "t"]):
        done = hotline_ops(root, *args)
        assert done.returncode == 0, done.stderr
    return root


@pytest.fixture
def site_copy(initialised: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(initialised, tmp_path / "site"))


def test_it_initialises_a_store_for_a_valid_folder(tmp_path: Path) -> None:
    root = write_content(tmp_path / "site").parent
    done = hotline_ops(root, "init")
    assert (done.returncode, done.stdout, db_file(root).is_file()) == (
        0,
        f"store sqlite:///{db_file(root)} at revision {HEAD}; 1 targets configured\n",
        True,
    )


def test_it_lists_the_incident_opened_through_the_script(site_copy: Path) -> None:
    done = hotline_ops(site_copy, "incident", "list", "--json")
    rows = json.loads(done.stdout)
    assert (done.returncode, [(r["id"], r["title"]) for r in rows]) == (0, [(1, "before")])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_it_prints_one_line_naming_the_bad_time_zone(site_copy: Path, command: list[str]) -> None:
    config = site_copy / "hotline-ops.yaml"
    config.write_text(BROKEN_ROOT, encoding="utf-8")
    done = hotline_ops(site_copy, *command)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"error: {config}:3: timezone: unknown time zone 'Nowhere/X'\n",
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_it_leaves_the_store_untouched_on_a_bad_root_file(
    site_copy: Path, command: list[str]
) -> None:
    before = sha256(db_file(site_copy))
    (site_copy / "hotline-ops.yaml").write_text(BROKEN_ROOT, encoding="utf-8")
    hotline_ops(site_copy, *command)
    assert sha256(db_file(site_copy)) == before


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_it_prints_one_line_naming_the_bad_target_field(
    site_copy: Path, command: list[str]
) -> None:
    targets = site_copy / "probes" / "targets.yaml"
    targets.write_text(BROKEN_TARGETS, encoding="utf-8")
    done = hotline_ops(site_copy, *command)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"error: {targets}:4: targets.0.attempts: Input should be greater than or equal to 1\n",
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_it_leaves_the_store_untouched_on_a_bad_targets_file(
    site_copy: Path, command: list[str]
) -> None:
    before = sha256(db_file(site_copy))
    (site_copy / "probes" / "targets.yaml").write_text(BROKEN_TARGETS, encoding="utf-8")
    hotline_ops(site_copy, *command)
    assert sha256(db_file(site_copy)) == before


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_it_creates_no_data_folder_for_a_bad_root_file(tmp_path: Path, command: list[str]) -> None:
    root = write_content(tmp_path / "site").parent
    (root / "hotline-ops.yaml").write_text(BROKEN_ROOT, encoding="utf-8")
    hotline_ops(root, *command)
    assert (root / "var").exists() is False


def test_it_keeps_the_incident_after_a_broken_run_is_fixed(
    site_copy: Path,
) -> None:
    config = site_copy / "hotline-ops.yaml"
    good = config.read_text(encoding="utf-8")
    config.write_text(BROKEN_ROOT, encoding="utf-8")
    hotline_ops(site_copy, "db", "upgrade")
    config.write_text(good, encoding="utf-8")
    rows = json.loads(hotline_ops(site_copy, "incident", "list", "--json").stdout)
    assert [(r["id"], r["title"]) for r in rows] == [(1, "before")]


def test_it_exits_2_for_a_missing_config_file() -> None:
    done = script(Path("/nonexistent.yaml"), "probe", "list")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "error: /nonexistent.yaml: cannot read: No such file or directory\n",
    )
