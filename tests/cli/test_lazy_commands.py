"""The CLI imports only what a command uses: ``--help`` and the everyday commands start
without the report, migration, server or runbook libraries, and the command table that
lets ``--help`` list commands without importing them says what the commands say."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hotline_ops.cli.main import COMMANDS, cli
from tests.support.content import write_content

# Libraries only reports, `db upgrade`/`init`, `serve` and `runbook run` need.
HEAVY = [
    "matplotlib",
    "weasyprint",
    "openpyxl",
    "alembic",
    "fastapi",
    "starlette",
    "uvicorn",
    "apscheduler",
    "ansible_runner",
]

# Runs the CLI in-process in a fresh interpreter and prints which HEAVY modules it loaded.
PROBE = """\
import json, sys
from hotline_ops.cli.main import cli
code = None
try:
    cli.main(sys.argv[2:], prog_name="hotline-ops")
except SystemExit as exc:
    code = exc.code
loaded = [m for m in json.loads(sys.argv[1]) if m in sys.modules]
print(json.dumps({"code": code, "loaded": loaded}))
"""


def loaded_by(*args: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_OPS_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def real(name: str) -> click.Command:
    module, attr, _help = COMMANDS[name]
    return getattr(importlib.import_module(module), attr)


def test_help_imports_no_command_and_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_by("--help", cwd=tmp_path) == {"code": 0, "loaded": []}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised store with one incident, made by the real console script."""
    config = write_content(tmp_path_factory.mktemp("lazy") / "site")
    script = Path(sys.executable).parent / "hotline-ops"
    for args in (["init"], ["incident", "open", "--title", "t", "--actor", "t"]):
        subprocess.run([str(script), "--config", str(config), *args], check=True, timeout=60)
    return config


@pytest.mark.parametrize(
    "args",
    [
        ["incident", "list"],
        ["incident", "show", "1"],
        ["probe", "list"],
        ["silence", "list"],
        ["report", "list"],
        ["incident", "--help"],
        ["ticket", "--help"],
    ],
    ids=" ".join,
)
def test_everyday_commands_load_no_heavy_library(site: Path, args: list[str]) -> None:
    assert loaded_by("--config", str(site), *args, cwd=site.parent) == {"code": 0, "loaded": []}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_tables_short_help_is_the_commands_own(name: str) -> None:
    command = real(name)
    assert (COMMANDS[name][2], command.hidden) == (command.get_short_help_str(10**6), False)


@pytest.mark.parametrize("width", [40, 80, 200])
def test_help_lists_the_commands_as_click_would_with_the_real_ones(width: int) -> None:
    eager = click.Group(commands={name: real(name) for name in COMMANDS})
    listings = []
    for group in (cli, eager):
        formatter = click.HelpFormatter(width=width)
        group.format_commands(click.Context(group), formatter)
        listings.append(formatter.getvalue())
    assert listings[0] == listings[1]
    assert listings[0].count("\n") == len(COMMANDS) + 1


def test_an_unknown_command_is_refused_as_before() -> None:
    result = CliRunner().invoke(cli, ["nope"])
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2,
        "Error: No such command 'nope'.",
    )
