"""HostProbe on this machine's real figures, with thresholds chosen to pass or to fail."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pydantic
import pytest

from hotline_ops.probes.base import ProbeResult
from hotline_ops.probes.host import HostProbe, disk_metric


def _check(params: dict[str, Any], timeout: float = 5.0) -> ProbeResult:
    return asyncio.run(HostProbe(params).check(timeout))


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A `sleep` with a command line no other process has."""
    seconds = f"30.{secrets.randbelow(10**6):06d}"
    proc = subprocess.Popen(["sleep", seconds])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _cmdline(proc: subprocess.Popen[bytes]) -> str:
    return " ".join(str(arg) for arg in proc.args)  # type: ignore[union-attr]


def test_it_passes_within_generous_thresholds() -> None:
    params = {"cpu_max_pct": 100, "memory_max_pct": 100, "load_max": 1000, "disks": {"/": 100}}
    result = _check(params)
    m = result.metrics
    assert sorted(m) == ["cpu_pct", "disk_pct_root", "load1", "memory_pct"]
    assert (result.ok, result.detail) == (
        True,
        f"cpu {m['cpu_pct']:.1f}%, memory {m['memory_pct']:.1f}%, load {m['load1']:.2f}, "
        f"disk / {m['disk_pct_root']:.1f}%",
    )


def test_it_reports_the_real_figures() -> None:
    result = _check({"disks": {"/": 100}})
    m = result.metrics
    assert m["disk_pct_root"] == pytest.approx(psutil.disk_usage("/").percent, abs=1.0)
    assert m["memory_pct"] == pytest.approx(psutil.virtual_memory().percent, abs=5.0)
    assert 0.0 <= m["cpu_pct"] <= 100.0
    assert m["load1"] >= 0.0
    assert result.latency_s is not None and 0 < result.latency_s < 5.0


def test_it_fails_when_a_disk_is_fuller_than_its_limit() -> None:
    result = _check({"disks": {"/": 0.0001}})
    used = result.metrics["disk_pct_root"]
    assert (result.ok, result.detail) == (False, f"disk / {used:.1f}% over 0.0001%")


def test_it_reports_a_disk_path_that_does_not_exist() -> None:
    result = _check({"disks": {"/no/such/mount": 100}})
    assert (result.ok, result.detail) == (False, "disk /no/such/mount: No such file or directory")
    assert "disk_pct_no_such_mount" not in result.metrics


def test_it_fails_when_memory_is_over_its_limit() -> None:
    result = _check({"memory_max_pct": 0.0001})
    used = result.metrics["memory_pct"]
    assert (result.ok, result.detail) == (False, f"memory {used:.1f}% over 0.0001%")


def test_it_fails_when_cpu_is_over_its_limit() -> None:
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.1)  # let it get going before the sampling window opens
        result = _check({"cpu_max_pct": 0.0001})
    finally:
        burner.kill()
        burner.wait()
    used = result.metrics["cpu_pct"]
    assert (result.ok, result.detail) == (False, f"cpu {used:.1f}% over 0.0001%")
    assert used >= 100 / psutil.cpu_count() * 0.5  # one core kept busy shows up


def test_it_finds_a_running_process_by_command_line(sleeper: subprocess.Popen[bytes]) -> None:
    result = _check({"processes": [_cmdline(sleeper)]})
    assert (result.ok, result.detail) == (True, "1 process running")
    assert result.metrics["processes_missing"] == 0.0


def test_it_fails_once_the_process_has_gone(sleeper: subprocess.Popen[bytes]) -> None:
    probe = HostProbe({"processes": [_cmdline(sleeper)]})
    assert asyncio.run(probe.check(5.0)).ok
    sleeper.kill()
    sleeper.wait()
    result = asyncio.run(probe.check(5.0))
    assert (result.ok, result.detail) == (False, f"process '{_cmdline(sleeper)}' not running")
    assert result.metrics["processes_missing"] == 1.0


def test_it_finds_a_process_by_name_alone(tmp_path: Path) -> None:
    # The executable's name becomes the process name; argv[0] shows something else entirely.
    name = f"hlp{secrets.token_hex(4)}"
    program = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", program)
    proc = subprocess.Popen(["disguised", "30"], executable=program)
    try:
        assert name not in " ".join(psutil.Process(proc.pid).cmdline())
        result = _check({"processes": [name]})
    finally:
        proc.kill()
        proc.wait()
    assert (result.ok, result.detail) == (True, "1 process running")


def test_it_names_every_missing_process(sleeper: subprocess.Popen[bytes]) -> None:
    wanted = ["hotline-no-such-daemon-1", _cmdline(sleeper), "hotline-no-such-daemon-2"]
    result = _check({"processes": wanted})
    assert (result.ok, result.detail) == (
        False,
        "process 'hotline-no-such-daemon-1' not running; "
        "process 'hotline-no-such-daemon-2' not running",
    )
    assert result.metrics["processes_missing"] == 2.0


def test_it_does_not_count_its_own_process(monkeypatch) -> None:
    # The process running the probe always matches its own command line; that proves nothing.
    own = " ".join(psutil.Process().cmdline())
    # Only this process is listed: a parallel test worker runs the very same command line.
    listed = psutil.process_iter
    monkeypatch.setattr(
        psutil, "process_iter", lambda attrs: (p for p in listed(attrs) if p.pid == os.getpid())
    )
    result = _check({"processes": [own]})
    assert (result.ok, result.detail) == (False, f"process '{own}' not running")


def test_it_lists_every_failed_threshold() -> None:
    result = _check({"memory_max_pct": 0.0001, "disks": {"/": 0.0001}, "processes": ["hl-none"]})
    m = result.metrics
    assert result.detail == (
        f"memory {m['memory_pct']:.1f}% over 0.0001%; disk / {m['disk_pct_root']:.1f}% over "
        "0.0001%; process 'hl-none' not running"
    )


def test_it_averages_cpu_since_the_previous_check() -> None:
    probe = HostProbe({"cpu_max_pct": 100})
    started = time.monotonic()
    asyncio.run(probe.check(5.0))
    first = time.monotonic() - started
    time.sleep(0.3)
    started = time.monotonic()
    asyncio.run(probe.check(5.0))
    second = time.monotonic() - started
    assert first >= 0.2  # the first check samples its own window
    assert second < 0.15  # later ones use the time since the previous check


@pytest.mark.parametrize(
    ("path", "metric"),
    [
        ("/", "disk_pct_root"),
        ("/var/log", "disk_pct_var_log"),
        ("/srv/Data-1/", "disk_pct_srv_data_1"),
    ],
)
def test_it_names_disk_metrics_after_the_path(path: str, metric: str) -> None:
    assert disk_metric(path) == metric


def test_it_rejects_disks_whose_metric_names_collide() -> None:
    with pytest.raises(pydantic.ValidationError, match="both map to disk_pct_var_log"):
        HostProbe({"disks": {"/var/log": 90, "/var-log": 90}})


def test_it_rejects_a_percentage_over_100() -> None:
    with pytest.raises(pydantic.ValidationError, match="memory_max_pct\n  Input should be less"):
        HostProbe({"memory_max_pct": 101})


def test_it_rejects_a_probe_with_nothing_to_check() -> None:
    with pytest.raises(pydantic.ValidationError, match="nothing to check"):
        HostProbe({})


def test_it_rejects_an_unknown_param() -> None:
    with pytest.raises(pydantic.ValidationError, match="disk\n  Extra inputs"):
        HostProbe({"disk": {"/": 90}})
