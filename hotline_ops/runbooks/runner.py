"""One playbook run through ansible-runner, with its secrets kept out of the environment
and out of what stays on disk.

Per run a private data dir is built in a fresh 0700 temp folder:

    env/extravars   the step's vars + the incident (never on the command line)
    env/passwords   prompt regex -> secret (ssh key passphrase, become, vault), 0600
    env/ssh_key     the private key, 0600 (ansible-runner feeds it to ssh-agent)
    env/envvars     ANSIBLE_* settings only
    inventory/      copied from playbooks/inventory
    project/        copied from playbooks/project

and removed after the run. The artifacts (stdout, job_events/, command, output/, facts/) go
to a kept folder and are scrubbed of every secret value afterwards. ansible-runner seeds the
child's environment from ours and writes it to ``artifacts/<id>/command``: the environment is
therefore rebuilt from a filtered copy (no HOTLINE_OPS_* variables, nothing that contains a
secret), with the venv's ``bin`` first on PATH so ``ansible-playbook`` is the venv's own
(without it ansible-runner fails with rc 127 and no exception).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hotline_ops.core.runbooks import TaskEvent, scrub_text, task_event

if TYPE_CHECKING:
    from ansible_runner import Runner
    from ansible_runner.config.runner import RunnerConfig as AnsibleRunnerConfig


@dataclass(frozen=True)
class PlaybookRun:
    ident: str
    playbook: str  # file name in project/
    playbooks_dir: Path  # holds inventory/ and project/
    artifacts: Path  # kept: <artifacts>/<ident>/… plus output/ and facts/
    extravars: dict[str, Any] = field(default_factory=dict)
    limit: str = ""
    check: bool = False
    timeout_s: float = 1800.0
    forks: int = 10
    ssh_key: str | None = None
    passwords: dict[str, str] = field(default_factory=dict)  # prompt regex -> value
    cmdline: tuple[str, ...] = ()
    envvars: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # every value to scrub (the key, passwords, secret vars)

    def __repr__(self) -> str:  # never print the key or passwords
        return f"PlaybookRun({self.ident!r}, {self.playbook!r}, check={self.check})"


@dataclass
class Outcome:
    status: str  # successful | failed | timeout | canceled | error
    rc: int | None
    failed_task: str = ""
    failed_host: str = ""
    failed_message: str = ""
    stats: dict[str, Any] = field(default_factory=dict)
    facts: list[dict[str, Any]] = field(default_factory=list)


OnEvent = Callable[[TaskEvent], None]
ShouldCancel = Callable[[], bool]


def run_playbook(run: PlaybookRun, on_event: OnEvent, should_cancel: ShouldCancel) -> Outcome:
    # Diagnostics bundles hold log lines: the run's folder is for the operator account only.
    run.artifacts.mkdir(parents=True, exist_ok=True, mode=0o700)
    run.artifacts.chmod(0o700)
    for sub in ("output", "facts"):
        (run.artifacts / sub).mkdir(exist_ok=True, mode=0o700)
    private = Path(tempfile.mkdtemp(prefix="hotline-ops-run-"))
    try:
        _build_private_dir(private, run)
        outcome = _execute(private, run, on_event, should_cancel)
    except OSError as exc:  # the run record must not stay "running" for a missing folder
        outcome = Outcome("error", None, failed_message=f"cannot prepare the run: {exc}")
    finally:
        # The key and passwords live only here; ansible-runner's own fifo too.
        shutil.rmtree(private, ignore_errors=True)
        (run.artifacts / run.ident / "ssh_key_data").unlink(missing_ok=True)
        scrub_tree(run.artifacts, list(run.secrets))
    outcome.facts = read_facts(run.artifacts / "facts")
    return outcome


def _build_private_dir(private: Path, run: PlaybookRun) -> None:
    env = private / "env"
    env.mkdir(mode=0o700)
    shutil.copytree(run.playbooks_dir / "project", private / "project")
    inventory = run.playbooks_dir / "inventory"
    if inventory.is_dir():
        shutil.copytree(inventory, private / "inventory")
    (private / "tmp").mkdir(mode=0o700)
    extravars = {
        **run.extravars,
        "hotline_output_dir": str(run.artifacts / "output"),
        "hotline_facts_dir": str(run.artifacts / "facts"),
    }
    _private_file(env / "extravars", json.dumps(extravars, ensure_ascii=False))
    if run.passwords:
        _private_file(env / "passwords", yaml.safe_dump(run.passwords))
    if run.ssh_key:
        # OpenSSH refuses a key without its final newline; secret files are read stripped.
        _private_file(env / "ssh_key", run.ssh_key.rstrip("\n") + "\n")


def _private_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _execute(private: Path, run: PlaybookRun, on_event: OnEvent, cancel: ShouldCancel) -> Outcome:
    failure: dict[str, str] = {}

    def handle(event: dict[str, Any]) -> bool:
        shown = task_event(event)
        if shown is not None:
            # A failing task's message can quote a secret var; the timeline never sees it.
            shown = replace(shown, message=scrub_text(shown.message, list(run.secrets)))
            if shown.fails_run and not failure:
                failure.update(task=shown.task, host=shown.host, message=shown.message)
            on_event(shown)
        return True  # keep the event in artifacts/job_events (scrubbed afterwards)

    # ansible-runner is imported here, by the one call that runs a playbook: every command
    # that only lists runbooks or shows an incident (which names its runbook) stays light.
    from ansible_runner import Runner

    try:
        runner = Runner(_config(private, run), event_handler=handle, cancel_callback=cancel)
        status, rc = runner.run()
    except Exception as exc:  # ansible-runner raises for setup problems (bad project, binary …)
        return Outcome("error", None, failed_message=scrub_text(str(exc), list(run.secrets)))
    stats = _stats(runner)
    return Outcome(
        str(status),
        rc,
        failure.get("task", ""),
        failure.get("host", ""),
        failure.get("message", ""),
        stats,
    )


def _config(private: Path, run: PlaybookRun) -> AnsibleRunnerConfig:
    from ansible_runner.config.runner import RunnerConfig as AnsibleRunnerConfig

    cmdline = [*run.cmdline, *(["--check"] if run.check else [])]
    config = AnsibleRunnerConfig(
        private_data_dir=str(private),
        artifact_dir=str(run.artifacts),
        ident=run.ident,
        playbook=run.playbook,
        inventory=str(private / "inventory") if (private / "inventory").is_dir() else None,
        limit=run.limit or None,
        forks=run.forks,
        cmdline=" ".join(cmdline) or None,
        envvars={**run.envvars, "ANSIBLE_LOCAL_TEMP": str(private / "tmp")},
        timeout=max(1, int(run.timeout_s)),
        quiet=True,
        suppress_env_files=True,
    )
    config.prepare()
    config.env = clean_env(config.env, list(run.secrets))
    return config


def clean_env(env: dict[str, str], secrets: list[str]) -> dict[str, str]:
    """The child's environment without our settings and secrets, venv bin first on PATH."""
    kept = {
        k: v
        for k, v in env.items()
        if not k.startswith("HOTLINE_OPS_") and not any(s and s in v for s in secrets)
    }
    venv_bin = str(Path(sys.executable).parent)
    path = [p for p in kept.get("PATH", os.defpath).split(os.pathsep) if p and p != venv_bin]
    kept["PATH"] = os.pathsep.join([venv_bin, *path])
    return kept


def _stats(runner: Runner) -> dict[str, Any]:
    """Per-host counts from the playbook_on_stats event (ok, changed, failures …)."""
    stats: dict[str, Any] = {}
    for name in ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored"):
        counts = (runner.stats or {}).get(name) or {}
        for host, count in counts.items():
            stats.setdefault(host, {})[name] = count
    return stats


def scrub_tree(folder: Path, secrets: list[str]) -> int:
    """Replace every secret in every file under ``folder``; returns files changed."""
    needles = [s.encode() for s in sorted(set(secrets), key=len, reverse=True) if s]
    changed = 0
    if not needles or not folder.exists():
        return changed
    for path in folder.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        cleaned = data
        for needle in needles:
            cleaned = cleaned.replace(needle, b"***")
        if cleaned != data:
            path.write_bytes(cleaned)
            changed += 1
    return changed


def read_facts(folder: Path) -> list[dict[str, Any]]:
    """The JSON fact files a playbook wrote on the controller (see docs/runbooks.md)."""
    facts = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("kind") and data.get("host"):
            facts.append(data)
    return facts
