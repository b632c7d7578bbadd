"""The real `hotline-ops runbook run` console script in a child process: Ctrl-C (SIGINT)
cancels the playbook through ansible-runner's cancel_callback and the run is recorded so."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.runbooks.conftest import runbook_text, write_site
from tests.support.process import HOTLINE_OPS, _env, run_cli, wait_for


def test_it_cancels_the_playbook_on_ctrl_c(tmp_path: Path) -> None:
    steps = [{"playbook": "test", "vars": {"marker": str(tmp_path / "m"), "sleep_s": 60}}]
    config = write_site(tmp_path / "site", runbooks={"rb": runbook_text(steps)})
    assert run_cli(config, "init").returncode == 0
    proc = subprocess.Popen(
        [HOTLINE_OPS, "--config", str(config), "runbook", "run", "rb"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    try:
        # "second" has changed the marker: the playbook is running its 60 s task now.
        assert wait_for(lambda: (tmp_path / "m").exists(), within_s=60)
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    [run] = json.loads(run_cli(config, "runbook", "runs", "--json").stdout)
    assert (proc.returncode, run["status"]) == (1, "canceled")
    assert time.monotonic() - started < 20
    assert "run #1 test.yml: canceled" in out
