"""Runbook runs against localhost (connection local) through ansible-runner: the timeline,
check mode, failures, timeout, cancel, and the playbooks shipped in playbooks/."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import time
from datetime import date, timedelta
from pathlib import Path

from hotline_ops.services import runbooks as service
from hotline_ops.store.runbooks import RunbookRun
from tests.runbooks.conftest import open_incident, run, runbook_text, timeline
from tests.support.process import free_port


def _one_step(playbook: str, **vars_) -> dict[str, str]:
    return {"rb": runbook_text([{"text": "先看一眼"}, {"playbook": playbook, "vars": vars_}])}


def test_it_streams_the_runs_events_onto_the_timeline_in_order(
    build, tmp_path: Path, store_url: str
) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "marker")), url=store_url)
    incident_id = open_incident(app)
    [done] = run(app, "rb", incident_id)
    kinds = [kind for kind, _ in timeline(app, incident_id)]
    assert kinds == [
        "opened",
        "runbook.started",
        "playbook.started",
        "playbook.task.start",
        "playbook.task.ok",
        "playbook.task.start",
        "playbook.task.changed",
        "playbook.task.start",
        "playbook.task.skipped",
        "playbook.task.start",
        "playbook.task.skipped",
        "playbook.finished",
        "runbook.finished",
    ]
    assert timeline(app, incident_id)[6] == ("playbook.task.changed", "local: second")
    assert (done.status, done.rc, done.failed_task) == ("successful", 0, "")


def test_it_writes_each_event_while_the_playbook_still_runs(build, tmp_path: Path) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "marker"), sleep_s=3))
    incident_id = open_incident(app)
    seen_during_run: list[list[str]] = []

    def watch() -> None:
        # Another reader, as `incident show` in a second terminal: the change of "second"
        # must be visible while the "slow" task still sleeps.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            kinds = [k for k, _ in timeline(app, incident_id)]
            if "playbook.task.changed" in kinds:
                seen_during_run.append(kinds)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run(app, "rb", incident_id)
    watcher.join()
    assert seen_during_run and "playbook.finished" not in seen_during_run[0]


def test_it_marks_the_run_failed_and_names_the_failing_task(build, tmp_path: Path) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "marker"), fail_third=True))
    incident_id = open_incident(app)
    [done] = run(app, "rb", incident_id)
    assert (done.status, done.failed_task, done.failed_host, done.message) == (
        "failed",
        "third",
        "local",
        "third failed on purpose",
    )
    events = timeline(app, incident_id)
    assert ("playbook.task.failed", "local: third: third failed on purpose") in events
    assert events[-2] == ("playbook.finished", "test.yml: failed at task 'third' on local")
    assert events[-1] == ("runbook.finished", "rb: failed")


def test_it_stops_at_the_first_failing_playbook_step(build, tmp_path: Path) -> None:
    steps = [
        {"playbook": "test", "vars": {"marker": str(tmp_path / "a"), "fail_third": True}},
        {"playbook": "test", "vars": {"marker": str(tmp_path / "b")}},
    ]
    app = build({"rb": runbook_text(steps)})
    done = run(app, "rb", open_incident(app))
    assert [r.status for r in done] == ["failed"]
    assert not (tmp_path / "b").exists()


def test_it_stores_the_run_record(build, tmp_path: Path, clock) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "marker")))
    incident_id = open_incident(app)
    run(app, "rb", incident_id, check=True)
    with app.store.session() as session:
        row = session.get(RunbookRun, 1)
        record = (
            row.runbook,
            row.step,
            row.playbook,
            row.incident_id,
            row.status,
            row.check_mode,
            row.started_at,
            row.finished_at,
        )
    assert record == (
        "rb",
        2,
        "test.yml",
        incident_id,
        "successful",
        True,
        clock.now(),
        clock.now(),
    )


def test_it_changes_nothing_in_check_mode(build, tmp_path: Path) -> None:
    old, new = _cleanup_files(tmp_path)
    app = build(
        _one_step(
            "disk-cleanup",
            target_hosts="local",
            recordings_root="/nonexistent",
            cleanup_rules=[{"path": str(tmp_path / "logs"), "age": "30d"}],
        )
    )
    [done] = run(app, "rb", check=True)
    assert done.status == "successful"
    assert (old.exists(), new.exists()) == (True, True)


def test_it_deletes_only_expired_files_without_check_mode(build, tmp_path: Path) -> None:
    old, new = _cleanup_files(tmp_path)
    app = build(
        _one_step(
            "disk-cleanup",
            target_hosts="local",
            recordings_root="/nonexistent",
            cleanup_rules=[{"path": str(tmp_path / "logs"), "age": "30d"}],
        )
    )
    [done] = run(app, "rb")
    assert done.status == "successful"
    assert (old.exists(), new.exists()) == (False, True)


def test_it_refuses_a_cleanup_rule_inside_the_recordings(build, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    (recordings / "2020").mkdir(parents=True)
    old = recordings / "2020" / "call.wav"
    old.write_text("x")
    os.utime(old, (time.time() - 90 * 86400,) * 2)
    app = build(
        _one_step(
            "disk-cleanup",
            target_hosts="local",
            recordings_root=str(recordings),
            cleanup_rules=[{"path": str(recordings / "2020"), "age": "30d"}],
        )
    )
    [done] = run(app, "rb")
    assert (done.status, done.failed_task) == (
        "failed",
        "检查规则不涉及录音目录 (rules spare the recordings, P7.2)",
    )
    assert old.exists()


def _cleanup_files(tmp_path: Path) -> tuple[Path, Path]:
    logs = tmp_path / "logs"
    logs.mkdir()
    old, new = logs / "old.log.gz", logs / "new.log.gz"
    old.write_text("old")
    new.write_text("new")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    return old, new


def test_it_times_out_a_long_playbook(build, tmp_path: Path) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "m"), sleep_s=60))
    started = time.monotonic()
    [done] = run(app, "rb", timeout_s=3)
    assert done.status == "timeout"
    assert time.monotonic() - started < 30


def test_it_cancels_a_run_asked_from_another_process(build, tmp_path: Path) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "m"), sleep_s=60))

    def cancel_when_running() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = service.get_runs(app)
            if runs and runs[0].status == "running":
                service.cancel(app, run_id=runs[0].id)
                return
            time.sleep(0.1)

    helper = threading.Thread(target=cancel_when_running)
    helper.start()
    started = time.monotonic()
    [done] = run(app, "rb")
    helper.join()
    assert done.status == "canceled"
    assert time.monotonic() - started < 30


def test_it_saves_a_diagnostics_bundle_per_host(build) -> None:
    app = build(_one_step("diagnostics", target_hosts="local", log_files=["/etc/hostname"]))
    [done] = run(app, "rb")
    bundle = Path(done.artifacts) / "output" / "local-diagnostics.txt"
    assert done.status == "successful"
    assert "## disk" in bundle.read_text() and "## processes" in bundle.read_text()


def test_it_restarts_a_service_when_it_is_healthy_after(build, tmp_path: Path) -> None:
    up = tmp_path / "up"
    app = build(
        _one_step(
            "restart-service",
            target_hosts="local",
            service_name="demo",
            health_cmd=f"test -f {up}",
            restart_cmd=f"touch {up}",
            health_retries=1,
            health_delay=0,
        )
    )
    [done] = run(app, "rb")
    assert (done.status, up.exists()) == ("successful", True)


def test_it_does_not_restart_in_check_mode(build, tmp_path: Path) -> None:
    restarted = tmp_path / "restarted"
    app = build(
        _one_step(
            "restart-service",
            target_hosts="local",
            service_name="demo",
            health_cmd="true",
            restart_cmd=f"touch {restarted}",
        )
    )
    [done] = run(app, "rb", check=True)
    assert (done.status, restarted.exists()) == ("successful", False)


def test_it_fails_a_restart_that_does_not_come_back_healthy(build, tmp_path: Path) -> None:
    app = build(
        _one_step(
            "restart-service",
            target_hosts="local",
            service_name="demo",
            health_cmd=f"test -f {tmp_path / 'never'}",
            restart_cmd="true",
            health_retries=1,
            health_delay=0,
        )
    )
    [done] = run(app, "rb")
    assert (done.status, done.failed_task) == ("failed", "重启后健康检查 (health after restart)")


def test_it_refuses_a_restart_when_the_config_test_fails(build, tmp_path: Path) -> None:
    restarted = tmp_path / "restarted"
    app = build(
        _one_step(
            "restart-service",
            target_hosts="local",
            service_name="demo",
            health_cmd="true",
            pre_check_cmd="false",
            restart_cmd=f"touch {restarted}",
        )
    )
    [done] = run(app, "rb")
    assert (done.failed_task, restarted.exists()) == (
        "配置检查 (config test before restart)",
        False,
    )


def _day_folders(root: Path, first: date, last: date, skip: date | None = None) -> None:
    day = first
    while day < last:
        if day != skip:
            folder = root / day.strftime("%Y/%m/%d")
            folder.mkdir(parents=True)
            (folder / "call-0001.wav").write_text("RIFF")
        day += timedelta(days=1)


def test_it_passes_recording_retention_with_every_day_kept(build, tmp_path: Path) -> None:
    today = date(2026, 11, 28)
    _day_folders(tmp_path / "rec", date(2026, 11, 1), today)
    app = build(
        _one_step(
            "recording-retention",
            target_hosts="local",
            recordings_root=str(tmp_path / "rec"),
            service_started="2026-11-01",
            today=today.isoformat(),
        )
    )
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, kind="recording_retention")
    assert done.status == "successful"
    assert (fact["facts"]["oldest_day"], fact["facts"]["missing_days"]) == ("2026-11-01", 0)


def test_it_fails_recording_retention_on_a_missing_day(build, tmp_path: Path) -> None:
    today = date(2026, 11, 28)
    _day_folders(tmp_path / "rec", date(2026, 11, 1), today, skip=date(2026, 11, 10))
    app = build(
        _one_step(
            "recording-retention",
            target_hosts="local",
            recordings_root=str(tmp_path / "rec"),
            service_started="2026-11-01",
            today=today.isoformat(),
        )
    )
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, kind="recording_retention")
    assert (done.status, done.failed_task) == ("failed", "录音保存不满足 P7.2 (retention not met)")
    assert fact["facts"]["missing"] == ["2026-11-10"]


def test_it_fails_recording_retention_younger_than_three_years(build, tmp_path: Path) -> None:
    today = date(2026, 11, 28)
    _day_folders(tmp_path / "rec", date(2026, 11, 1), today)
    app = build(
        _one_step(
            "recording-retention",
            target_hosts="local",
            recordings_root=str(tmp_path / "rec"),
            service_started="2023-01-01",
            today=today.isoformat(),
        )
    )
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, kind="recording_retention")
    assert done.status == "failed"
    assert (fact["facts"]["required_from"], fact["facts"]["oldest_day"]) == (
        "2023-11-28",
        "2026-11-01",
    )


def _backup(folder: Path, content: bytes, checksum: bytes | None = None) -> None:
    folder.mkdir()
    (folder / "db-20261128.dump").write_bytes(content)
    digest = hashlib.sha256(checksum if checksum is not None else content).hexdigest()
    (folder / "db-20261128.dump.sha256").write_text(f"{digest}  db-20261128.dump\n")


def test_it_verifies_a_fresh_backup_with_its_checksum(build, tmp_path: Path) -> None:
    _backup(tmp_path / "bak", b"x" * 2048)
    app = build(
        _one_step(
            "backup-verify",
            target_hosts="local",
            backup_dir=str(tmp_path / "bak"),
            min_size_bytes=1024,
        )
    )
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, kind="backup")
    assert done.status == "successful"
    assert (fact["facts"]["size_bytes"], fact["facts"]["checksum_ok"]) == (2048, True)


def test_it_fails_a_backup_whose_checksum_differs(build, tmp_path: Path) -> None:
    _backup(tmp_path / "bak", b"x" * 2048, checksum=b"other")
    app = build(
        _one_step(
            "backup-verify",
            target_hosts="local",
            backup_dir=str(tmp_path / "bak"),
            min_size_bytes=1024,
        )
    )
    [done] = run(app, "rb")
    assert (done.status, done.failed_task) == ("failed", "备份检查未通过 (backup check failed)")
    assert "校验和不一致" in done.message


def test_it_records_certificate_expiry_in_the_monthly_facts(build, tmp_path: Path) -> None:
    cert = tmp_path / "platform.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(tmp_path / "key.pem"), "-out", str(cert), "-days", "30",
         "-subj", "/CN=12345.wz.invalid"],
        check=True, capture_output=True,
    )  # fmt: skip
    step = _one_step("monthly-inspection", target_hosts="local", certificates=[str(cert)])
    app = build(step)
    [done] = run(app, "rb")
    [fact] = service.get_facts(app, month="2026-11", kind="monthly_inspection")
    [checked] = fact["facts"]["certificates"]
    assert (done.status, checked["subject"], checked["days_left"]) == (
        "successful",
        "CN = 12345.wz.invalid",
        29,
    )


def test_it_lists_every_unreachable_gateway_port(build) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        open_port = listening.getsockname()[1]
        closed_port = free_port()
        gateways = {
            "gw": {
                "hosts": {
                    "gw-up": {"ansible_host": "127.0.0.1", "reach_ports": [open_port]},
                    "gw-down": {"ansible_host": "127.0.0.1", "reach_ports": [closed_port]},
                }
            }
        }
        app = build(_one_step("check-reachability", reach_group="gw"), groups=gateways)
        [done] = run(app, "rb")
    assert (done.status, done.failed_task, done.message) == (
        "failed",
        "有不可达的网关/主机 (something is unreachable)",
        f"不可达: gw-down:{closed_port}",
    )


def test_it_keeps_the_runs_artifacts_private(build, tmp_path: Path) -> None:
    app = build(_one_step("test", marker=str(tmp_path / "m")))
    [done] = run(app, "rb")
    assert oct(Path(done.artifacts).stat().st_mode & 0o777) == "0o700"
