"""Runbook runs over SSH against a private sshd on 127.0.0.1: the key (with a passphrase)
reaches ansible-runner only through env/ssh_key and env/passwords, and nothing secret is
left in any artifact, on the timeline or in the run record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hotline_ops.services import runbooks as service
from tests.runbooks.conftest import (
    BECOME,
    PASSPHRASE,
    SECRET_VAR,
    all_files_text,
    open_incident,
    run,
    runbook_text,
    timeline,
)


def _key_lines(sshd) -> list[str]:
    """The private key's base64 body lines: none may appear anywhere."""
    return [
        line
        for line in sshd.client_key.read_text().splitlines()
        if line and not line.startswith("-----")
    ]


@pytest.fixture(scope="module")
def secret_run(module_build, sshd):
    steps = [
        {
            "playbook": "echo-secret",
            "vars": {"target_hosts": "sshbox", "db_password": {"secret": "db_password"}},
        }
    ]
    app = module_build({"rb": runbook_text(steps)}, sshd)
    incident_id = open_incident(app)
    [done] = run(app, "rb", incident_id)
    return app, incident_id, done


def test_it_runs_a_playbook_over_ssh_with_a_passphrase_protected_key(build, sshd, tmp_path):
    steps = [
        {"playbook": "test", "vars": {"target_hosts": "sshbox", "marker": str(tmp_path / "m")}}
    ]
    app = build({"rb": runbook_text(steps)}, sshd)
    incident_id = open_incident(app)
    [done] = run(app, "rb", incident_id)
    assert (done.status, (tmp_path / "m").exists()) == ("successful", True)
    assert ("playbook.task.changed", "sshbox: second") in timeline(app, incident_id)


def test_it_gathers_monthly_inspection_facts_over_ssh(build, sshd, clock) -> None:
    steps = [
        {"playbook": "monthly-inspection", "vars": {"target_hosts": "sshbox", "mounts": ["/"]}}
    ]
    app = build({"rb": runbook_text(steps)}, sshd)
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, month="2026-11")
    assert (done.status, fact["kind"], fact["host"], fact["run"]) == (
        "successful",
        "monthly_inspection",
        "sshbox",
        done.id,
    )
    assert [d["mount"] for d in fact["facts"]["disks"]] == ["/"]


def test_it_reaches_the_play_with_the_secret_var(secret_run) -> None:
    _app, _incident_id, done = secret_run
    # The playbook fails on purpose at its third task, quoting the secret.
    assert (done.status, done.failed_task, done.failed_host) == (
        "failed",
        "fail quoting it",
        "sshbox",
    )
    assert done.message == "failing with ***"


def test_it_leaves_no_secret_in_any_artifact(secret_run, sshd) -> None:
    _app, _incident_id, done = secret_run
    folder = Path(done.artifacts)
    files = [p for p in folder.rglob("*") if p.is_file()]
    text = all_files_text(folder)
    assert len(files) > 10  # stdout, command, job_events/…: the scan saw the whole run
    assert "failing with ***" in text  # the secret was there and has been replaced
    leaks = [s for s in (SECRET_VAR, PASSPHRASE, BECOME, *_key_lines(sshd)) if s in text]
    assert leaks == []


def test_it_removes_the_key_file_after_the_run(secret_run) -> None:
    _app, _incident_id, done = secret_run
    assert [p.name for p in Path(done.artifacts).rglob("ssh_key*")] == []


def test_it_keeps_secrets_out_of_the_child_environment(secret_run) -> None:
    _app, _incident_id, done = secret_run
    [command] = Path(done.artifacts).rglob("command")
    recorded = json.loads(command.read_text())
    env = recorded["env"]
    # The become password was asked for (and answered from env/passwords), not passed.
    assert "--ask-become-pass" in recorded["command"][-1]
    assert [k for k in env if k.startswith("HOTLINE_OPS_")] == []
    assert env["PATH"].split(":")[0].endswith("/.venv/bin")


def test_it_leaves_no_secret_on_the_timeline_or_the_run_record(secret_run, sshd) -> None:
    app, incident_id, _done = secret_run
    runs = [(r.message, r.failed_task, r.stats) for r in service.get_runs(app)]
    stored = json.dumps([timeline(app, incident_id), runs], ensure_ascii=False)
    assert "failing with ***" in stored
    assert [s for s in (SECRET_VAR, PASSPHRASE, BECOME, *_key_lines(sshd)) if s in stored] == []
