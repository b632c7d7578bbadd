"""A site with the repository's playbooks and a test inventory (a `local` host with
connection local; an `sshbox` on a private sshd on 127.0.0.1), an App on SQLite with the
runner's secrets, and a private OpenSSH server whose client key has a passphrase."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotline_ops.app import App, build_app
from hotline_ops.clock import FixedClock
from hotline_ops.services import incidents
from hotline_ops.services import runbooks as service
from hotline_ops.settings import load_settings
from tests.conftest import T0
from tests.probes.test_ssh import SSHD, _wait_for_banner
from tests.support.content import write_content
from tests.support.process import free_port

ROOT = Path(__file__).resolve().parents[2]
USER = pwd.getpwuid(os.getuid()).pw_name
# Distinctive values: a test greps every artifact for them.
PASSPHRASE = "Pp-hotline-7f3a9c-passphrase"
SECRET_VAR = "Sv-hotline-51d2e8-secretvar"
BECOME = "Bc-hotline-9e04b1-become"
TEST_PLAYBOOK = """
- name: test play
  hosts: "{{ target_hosts | default('local') }}"
  gather_facts: false
  tasks:
    - name: first
      ansible.builtin.command: echo one
      changed_when: false
    - name: second
      ansible.builtin.file: {path: "{{ marker }}", state: touch}
    - name: third
      ansible.builtin.fail: {msg: "third failed on purpose"}
      when: fail_third | default(false) | bool
    - name: slow
      ansible.builtin.command: sleep {{ sleep_s | default(0) }}
      changed_when: false
      when: (sleep_s | default(0) | int) > 0
"""
ECHO_SECRET = """
- name: echo a secret
  hosts: "{{ target_hosts | default('local') }}"
  gather_facts: false
  tasks:
    - name: print the secret var
      ansible.builtin.debug: {msg: "the secret is {{ db_password }}"}
    - name: run a command with it
      ansible.builtin.command: echo {{ db_password }}
      changed_when: false
    - name: fail quoting it
      ansible.builtin.fail: {msg: "failing with {{ db_password }}"}
"""


@dataclass(frozen=True)
class Sshd:
    port: int
    known_hosts: Path
    client_key: Path  # passphrase-protected, authorized


def _keygen(path: Path, passphrase: str = "") -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", path.name, "-f", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """The pattern of tests/probes/test_ssh.py, with a passphrase on the client key."""
    folder = tmp_path_factory.mktemp("rb-sshd")
    host_pub = _keygen(folder / "host_key")
    client_pub = _keygen(folder / "client_key", PASSPHRASE)
    (folder / "authorized_keys").write_text(client_pub + "\n")
    port = free_port()
    key_type, key_data = host_pub.split()[:2]
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = folder / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
    try:
        _wait_for_banner(port, proc, log)
        yield Sshd(port, folder / "known_hosts", folder / "client_key")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_site(
    root: Path,
    sshd: Sshd | None = None,
    runbooks: dict[str, str] | None = None,
    groups: dict[str, Any] | None = None,
):
    config = write_content(root)
    playbooks = root / "playbooks"
    shutil.copytree(ROOT / "playbooks" / "project", playbooks / "project")
    (playbooks / "project" / "test.yml").write_text(TEST_PLAYBOOK)
    (playbooks / "project" / "echo-secret.yml").write_text(ECHO_SECRET)
    hosts: dict[str, Any] = {
        "local": {
            "ansible_connection": "local",
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        }
    }
    runner: dict[str, Any] = {"ssh_args": "-o ControlMaster=no -o ControlPersist=no"}
    if sshd is not None:
        # The system Python: root's login shell here may put a pyenv shim first on PATH.
        hosts["sshbox"] = {"ansible_host": "127.0.0.1", "ansible_port": sshd.port,
                           "ansible_user": USER,
                           "ansible_python_interpreter": "/usr/bin/python3"}  # fmt: skip
        runner.update(ssh_key="test_ssh_key", known_hosts=str(sshd.known_hosts),
                      passwords={"key_passphrase": "test_key_passphrase",
                                 "become": "test_become"})  # fmt: skip
    (playbooks / "inventory").mkdir()
    inventory = {"all": {"hosts": hosts, "children": groups or {}}}
    _yaml(playbooks / "inventory" / "hosts.yml", inventory)
    _yaml(playbooks / "runner.yaml", runner)
    (root / "runbooks").mkdir()
    for name, text in (runbooks or {}).items():
        (root / "runbooks" / f"{name}.md").write_text(text, encoding="utf-8")
    return config


def _yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def runbook_text(steps: list[dict], applies_to: list | None = None, **front: Any) -> str:
    data = {"title": "测试手册", **front, "applies_to": applies_to or [], "steps": steps}
    return f"---\n{yaml.safe_dump(data, allow_unicode=True, sort_keys=False)}---\n# body\n"


@pytest.fixture
def build(tmp_path: Path, clock) -> Iterator:
    with _builder(tmp_path, clock) as make:
        yield make


@contextmanager
def _builder(folder: Path, clock: FixedClock) -> Iterator:
    apps: list[App] = []

    def make(
        runbooks: dict[str, str],
        sshd: Sshd | None = None,
        url: str | None = None,
        groups: dict[str, Any] | None = None,
    ) -> App:
        config = write_site(folder / f"site{len(apps)}", sshd, runbooks, groups)
        env = {"HOTLINE_OPS_SECRET_DB_PASSWORD": SECRET_VAR}
        if url:
            env["HOTLINE_OPS_DATABASE_URL"] = url
        if sshd is not None:
            env["HOTLINE_OPS_SECRET_TEST_SSH_KEY_FILE"] = str(sshd.client_key)
            env["HOTLINE_OPS_SECRET_TEST_KEY_PASSPHRASE"] = PASSPHRASE
            env["HOTLINE_OPS_SECRET_TEST_BECOME"] = BECOME
        app = build_app(load_settings(config, env=env), clock=clock)
        app.store.upgrade()
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in apps:
            app.close()


@pytest.fixture(scope="module")
def module_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """For a run several tests read (each asserting one thing about it)."""
    with _builder(tmp_path_factory.mktemp("rb-site"), FixedClock(T0)) as make:
        yield make


def open_incident(app: App, labels: dict[str, str] | None = None) -> int:
    inc, _ = incidents.create(app, title="测试故障", actor="tester", labels=labels or {})
    return inc.id


def run(app: App, name: str, incident_id: int | None = None, **kwargs: Any):
    return service.run(
        app, service.RunRequest(name=name, actor="tester", incident_id=incident_id, **kwargs)
    )


def timeline(app: App, incident_id: int) -> list[tuple[str, str]]:
    with app.store.session() as session:
        return [(e.kind, e.reason) for e in incidents.events_of(session, incident_id)]


def all_files_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()
    )


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
