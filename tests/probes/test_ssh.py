"""SshProbe against a private OpenSSH server on 127.0.0.1, started by this module."""

from __future__ import annotations

import asyncio
import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.ssh import SshProbe
from tests.support.process import free_port

SSHD = "/usr/sbin/sshd"
USER = pwd.getpwuid(os.getuid()).pw_name


@dataclass(frozen=True)
class Sshd:
    port: int
    host_key_line: str  # "ssh-ed25519 AAAA… comment", the server's public key
    known_hosts: Path  # holds the server's real key for [127.0.0.1]:port
    client_key: Path  # authorized
    stranger_key: Path  # valid key, not authorized
    folder: Path


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
        check=True, capture_output=True,
    )  # fmt: skip
    return path.with_suffix(".pub").read_text().strip()


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"sshd exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"sshd not answering on port {port}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    folder = tmp_path_factory.mktemp("sshd")
    host_pub = _keygen(folder / "host_key")
    client_pub = _keygen(folder / "client_key")
    _keygen(folder / "stranger_key")
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
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation dir
    log = folder / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=out)
    try:
        _wait_for_banner(port, proc, log)
        yield Sshd(
            port, host_pub, folder / "known_hosts", folder / "client_key",
            folder / "stranger_key", folder,
        )  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _params(sshd: Sshd, **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sshd.port,
        "user": USER,
        "key_file": str(sshd.client_key),
        "known_hosts": str(sshd.known_hosts),
        "command": "echo active",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def _check(params: dict[str, Any], timeout: float = 10.0) -> ProbeResult:
    return asyncio.run(SshProbe(params).check(timeout))


def test_it_runs_the_command_and_reports_exit_0(sshd: Sshd) -> None:
    result = _check(_params(sshd, expect_regex="^active$"))
    assert (result.ok, result.detail, result.metrics) == (True, "exit 0", {"exit_code": 0.0})


def test_it_measures_latency_of_the_whole_session(sshd: Sshd) -> None:
    result = _check(_params(sshd))
    assert result.latency_s is not None and 0 < result.latency_s < 10.0


def test_it_fails_on_an_unexpected_exit_code(sshd: Sshd) -> None:
    result = _check(_params(sshd, command="exit 3"))
    assert (result.ok, result.detail, result.metrics) == (
        False, "exit 3 (expected 0)", {"exit_code": 3.0},
    )  # fmt: skip
    assert result.latency_s is not None


def test_it_accepts_the_exit_code_it_expects(sshd: Sshd) -> None:
    result = _check(_params(sshd, command="exit 3", expect_exit=3))
    assert (result.ok, result.detail, result.metrics) == (True, "exit 3", {"exit_code": 3.0})


def test_it_fails_when_the_output_does_not_match(sshd: Sshd) -> None:
    result = _check(_params(sshd, command="echo failed", expect_regex="^active$"))
    assert (result.ok, result.detail, result.metrics) == (
        False, "output did not match '^active$'", {"exit_code": 0.0},
    )  # fmt: skip


def test_it_matches_the_regex_on_stdout_only(sshd: Sshd) -> None:
    result = _check(_params(sshd, command="echo active >&2; echo failed", expect_regex="active"))
    assert (result.ok, result.detail) == (False, "output did not match 'active'")


def test_it_caps_the_output_at_max_output_bytes(sshd: Sshd) -> None:
    params = _params(sshd, command="printf 0123456789active", expect_regex="active")
    assert _check({**params, "max_output_bytes": 10}).detail == "output did not match 'active'"
    assert _check({**params, "max_output_bytes": 16}).detail == "exit 0"


def test_it_drains_a_command_that_writes_more_than_the_ssh_window(sshd: Sshd) -> None:
    # 3 MB on each stream exceeds paramiko's 2 MB window: unread stderr would stall the command.
    command = "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2; echo; echo done"
    result = _check(_params(sshd, command=command, max_output_bytes=100), timeout=10.0)
    assert (result.ok, result.detail) == (True, "exit 0")


def test_it_rejects_a_changed_host_key_before_running_the_command(
    sshd: Sshd, tmp_path: Path
) -> None:
    impostor_line = _keygen(tmp_path / "impostor_key")
    wrong_known_hosts = tmp_path / "known_hosts"
    wrong_known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {impostor_line}\n")
    marker = tmp_path / "command-ran"
    command = f"touch {marker}"
    result = _check(_params(sshd, command=command, known_hosts=str(wrong_known_hosts)))
    assert (result.ok, result.latency_s, result.detail) == (
        False, None, f"host key mismatch for 127.0.0.1:{sshd.port}",
    )  # fmt: skip
    assert not marker.exists()
    # Control: the same command does create the file once the host key is right.
    assert _check(_params(sshd, command=command)).detail == "exit 0"
    assert marker.exists()


def test_it_rejects_a_host_missing_from_known_hosts(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    marker = tmp_path / "command-ran"
    result = _check(_params(sshd, command=f"touch {marker}", known_hosts=str(empty)))
    assert (result.ok, result.detail) == (False, f"host key for 127.0.0.1:{sshd.port} is not known")
    assert not marker.exists()


def test_it_accepts_a_pinned_host_key_instead_of_known_hosts(sshd: Sshd) -> None:
    result = _check(_params(sshd, known_hosts=None, host_key=sshd.host_key_line))
    assert (result.ok, result.detail) == (True, "exit 0")


def test_it_rejects_a_pinned_host_key_that_differs(sshd: Sshd, tmp_path: Path) -> None:
    other = _keygen(tmp_path / "other_key")
    result = _check(_params(sshd, known_hosts=None, host_key=other))
    assert (result.ok, result.detail) == (False, f"host key mismatch for 127.0.0.1:{sshd.port}")


def test_it_reports_failed_authentication(sshd: Sshd) -> None:
    result = _check(_params(sshd, key_file=str(sshd.stranger_key)))
    assert (result.ok, result.latency_s, result.detail) == (False, None, "authentication failed")


def test_it_reports_an_unreadable_key_file(sshd: Sshd, tmp_path: Path) -> None:
    missing = tmp_path / "missing_key"
    result = _check(_params(sshd, key_file=str(missing)))
    assert (result.ok, result.detail) == (
        False, f"cannot read key_file '{missing}': No such file or directory",
    )  # fmt: skip


def test_it_reports_an_unset_password_variable(sshd: Sshd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOTLINE_TEST_SSH_PASSWORD", raising=False)
    params = _params(sshd, key_file=None, password_env="HOTLINE_TEST_SSH_PASSWORD")
    result = _check(params)
    assert (result.ok, result.detail) == (
        False, "environment variable HOTLINE_TEST_SSH_PASSWORD is not set",
    )  # fmt: skip


def test_it_reports_a_refused_connection_quickly(sshd: Sshd) -> None:
    started = time.monotonic()
    result = _check(_params(sshd, port=free_port()), timeout=5.0)
    elapsed = time.monotonic() - started
    assert (result.ok, result.latency_s, result.detail) == (False, None, "connect refused")
    assert elapsed < 1.0


def test_it_times_out_a_slow_command_and_frees_the_worker(sshd: Sshd) -> None:
    started = time.monotonic()
    result = _check(_params(sshd, command="sleep 5"), timeout=1.0)
    elapsed = time.monotonic() - started  # asyncio.run also waits for the worker thread
    assert (result.ok, result.latency_s, result.detail) == (False, None, "timeout after 1.0s")
    assert 1.0 <= elapsed < 2.0


def test_it_requires_known_hosts_or_a_host_key(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="give exactly one of known_hosts or host"):
        SshProbe(_params(sshd, known_hosts=None))


def test_it_rejects_both_known_hosts_and_a_host_key(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="give exactly one of known_hosts or host"):
        SshProbe(_params(sshd, host_key=sshd.host_key_line))


def test_it_requires_a_key_file_or_a_password_variable(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="give key_file or password_env"):
        SshProbe(_params(sshd, key_file=None))


def test_it_rejects_a_malformed_host_key(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="host_key is not a valid ssh-ed25519"):
        SshProbe(_params(sshd, known_hosts=None, host_key="ssh-ed25519 AAAAnotakey"))


def test_it_rejects_a_password_variable_that_is_not_a_name(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="password_env must name an environment"):
        SshProbe(_params(sshd, key_file=None, password_env="hunter2!"))


def test_it_rejects_a_regex_that_does_not_compile(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="expect_regex does not compile"):
        SshProbe(_params(sshd, expect_regex="(unclosed"))


def test_it_rejects_an_unknown_param(sshd: Sshd) -> None:
    with pytest.raises(pydantic.ValidationError, match="hostname\n  Extra inputs"):
        SshProbe(_params(sshd, hostname="x"))
