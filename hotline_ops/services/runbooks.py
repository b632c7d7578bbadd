"""Runbook use cases: list, show, which runbook applies to an incident, run one (its playbook
steps through ansible-runner, events live on the incident timeline), cancel, and the
inspection facts playbooks gather for the monthly report (M2.2a).

A run is long: each Ansible event is written in its own short transaction as it arrives so
that ``incident show`` in another terminal sees it at once, and each is stamped with the
clock at that moment (the one place a service reads the clock more than once: the events
happen at different times).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hotline_ops.core.runbooks import Runbook, Step, TaskEvent, applicable
from hotline_ops.errors import BadRequest, ConfigError, IllegalTransition, NotFound
from hotline_ops.runbooks import loader
from hotline_ops.runbooks.runner import Outcome, PlaybookRun, run_playbook
from hotline_ops.services import incidents
from hotline_ops.store.models import Incident
from hotline_ops.store.runbooks import InspectionFact, RunbookRun

CANCEL_POLL_S = 1.0  # how often a run looks for `runbook cancel` from another process


def folders(app: Any) -> tuple[Path, Path]:
    paths = app.settings.paths
    return app.settings.path(paths.runbooks), app.settings.path(paths.playbooks)


def get_all(app: Any) -> dict[str, Runbook]:
    runbooks, playbooks = folders(app)
    return loader.load_runbooks(runbooks, playbooks)


def get(app: Any, *, name: str) -> Runbook:
    found = get_all(app).get(name)
    if found is None:
        raise NotFound(f"runbook '{name}' does not exist (hotline-ops runbook list)")
    return found


def for_incident(app: Any, incident: Incident) -> list[Runbook]:
    labels = {str(k): str(v) for k, v in (incident.labels or {}).items()}
    return applicable(get_all(app), labels, incident.level)


def names_for_incident(app: Any, incident: Incident) -> dict[str, Any]:
    """For ``incident show``: the runbook that applies (and any others), never raising for a
    broken runbooks/ folder: the incident must stay readable during the fault."""
    try:
        found = for_incident(app, incident)
    except ConfigError as exc:
        return {"runbook": None, "others": [], "error": str(exc)}
    names = [rb.name for rb in found]
    return {"runbook": names[0] if names else None, "others": names[1:], "error": None}


@dataclass
class RunRequest:
    name: str
    actor: str
    incident_id: int | None = None
    check: bool = False
    timeout_s: float | None = None
    step: int | None = None  # only this step (1-based)
    extra_vars: dict[str, Any] = field(default_factory=dict)  # override every step's vars
    limit: str = ""  # override every step's host pattern
    on_event: Callable[[TaskEvent], None] = lambda _e: None
    on_text: Callable[[Step], None] = lambda _s: None
    on_playbook: Callable[[Step, RunbookRun], None] = lambda _s, _r: None
    cancel: threading.Event = field(default_factory=threading.Event)


def run(app: Any, request: RunRequest) -> list[RunbookRun]:
    """Walk the runbook's steps in order: a text step goes to ``on_text`` (the person does
    it), a playbook step runs; the first playbook that does not succeed stops the walk."""
    runbook = get(app, name=request.name)
    steps = _chosen_steps(runbook, request.step)
    config = loader.load_runner_config(folders(app)[1])
    secrets = _resolve_secrets(app, config)
    incident = _incident(app, request.incident_id)
    # Every step's vars (and the secrets they name) resolve before anything is written.
    step_vars = {s.number: _vars(app, s, incident) for s in steps if s.automated}
    _timeline(app, incident, request.actor, "runbook.started", runbook.title, {
        "runbook": runbook.name, "check": request.check, "step": request.step,
    })  # fmt: skip
    runs: list[RunbookRun] = []
    for step in steps:
        if not step.automated:
            request.on_text(step)
            continue
        prepared = (config, secrets, step_vars[step.number])
        done = _run_step(app, request, runbook, step, incident, prepared)
        runs.append(done)
        if done.status != "successful":
            break
    status = runs[-1].status if runs else "successful"
    _timeline(app, incident, request.actor, "runbook.finished", f"{runbook.name}: {status}", {
        "runbook": runbook.name, "status": status, "runs": [r.id for r in runs],
    })  # fmt: skip
    return runs


def _chosen_steps(runbook: Runbook, number: int | None) -> tuple[Step, ...]:
    if number is None:
        return runbook.steps
    if not 1 <= number <= len(runbook.steps):
        raise BadRequest(f"--step: runbook '{runbook.name}' has steps 1-{len(runbook.steps)}")
    return (runbook.steps[number - 1],)


def _incident(app: Any, incident_id: int | None) -> Incident | None:
    if incident_id is None:
        return None
    with app.store.session() as session:
        return incidents.get(session, incident_id=incident_id)


@dataclass(frozen=True)
class Secrets:
    ssh_key: str | None
    passwords: dict[str, str]  # prompt regex -> value
    cmdline: tuple[str, ...]
    values: tuple[str, ...]  # every secret value the settings know, for scrubbing

    def __repr__(self) -> str:  # a traceback or log line never shows the key or passwords
        return f"Secrets(ssh_key={'***' if self.ssh_key else None}, prompts={len(self.passwords)})"


def _resolve_secrets(app: Any, config: loader.RunnerConfig) -> Secrets:
    values: dict[str, str] = {}
    for what, name in config.secret_names().items():
        value = app.settings.secret(name.lower())
        if not value:
            raise ConfigError(
                f"{config.where.get(what, 'playbooks/runner.yaml')}: {what}: secret '{name}' "
                f"is not set (HOTLINE_OPS_SECRET_{name.upper()} or …_FILE)"
            )
        values[what] = value
    passwords, cmdline = {}, []
    for what, (prompt, flags) in loader.PROMPTS.items():
        if what in values:
            passwords[prompt] = values[what]
            cmdline.extend(flags)
    every = tuple(app.settings.secret_values())
    return Secrets(values.get("ssh_key"), passwords, tuple(cmdline), every)


def _run_step(
    app: Any,
    request: RunRequest,
    runbook: Runbook,
    step: Step,
    incident: Incident | None,
    prepared: tuple[loader.RunnerConfig, Secrets, tuple[dict[str, Any], list[str]]],
) -> RunbookRun:
    config, secrets, (step_vars, var_secrets) = prepared
    extravars = {**step_vars, **request.extra_vars}
    record = _start_record(app, request, runbook, step, incident)
    spec = config.spec
    playbook_run = PlaybookRun(
        ident=record.ident,
        playbook=step.playbook,
        playbooks_dir=folders(app)[1],
        artifacts=Path(record.artifacts),
        extravars=extravars,
        limit=request.limit or step.limit,
        check=request.check,
        timeout_s=request.timeout_s or spec.timeout,
        forks=spec.forks,
        ssh_key=secrets.ssh_key,
        passwords=secrets.passwords,
        cmdline=secrets.cmdline,
        envvars=_envvars(spec),
        secrets=(*secrets.values, *var_secrets),
    )
    request.on_playbook(step, record)
    _timeline(app, incident, request.actor, "playbook.started", step.playbook, {
        "run": record.id, "step": step.number, "check": request.check,
    })  # fmt: skip

    def on_event(event: TaskEvent) -> None:
        _task_event(app, incident, record, event)
        request.on_event(event)

    outcome = run_playbook(playbook_run, on_event, _canceller(app, record.id, request.cancel))
    return _finish(app, request, incident, record, outcome)


def _vars(app: Any, step: Step, incident: Incident | None) -> tuple[dict[str, Any], list[str]]:
    """The step's vars, ``{secret: NAME}`` values resolved, plus the incident."""
    out: dict[str, Any] = {}
    found: list[str] = []
    for key, value in step.vars.items():
        if isinstance(value, dict) and set(value) == {"secret"}:
            secret = app.settings.secret(str(value["secret"]).lower())
            if not secret:
                raise ConfigError(f"step {step.number} vars.{key}: secret '{value['secret']}' "
                                  "is not set")  # fmt: skip
            found.append(secret)
            value = secret
        out[key] = value
    if incident is not None:
        out["hotline_incident"] = {
            "id": incident.id, "level": incident.level, "title": incident.title,
            "target": incident.target or "", "labels": incident.labels or {},
        }  # fmt: skip
    return out, found


def _envvars(spec: loader.RunnerSpec) -> dict[str, str]:
    ssh_args = spec.ssh_args
    if spec.known_hosts:
        ssh_args = f"{ssh_args} -o UserKnownHostsFile={spec.known_hosts}"
    return {
        "ANSIBLE_SSH_ARGS": ssh_args,
        "ANSIBLE_HOST_KEY_CHECKING": str(spec.host_key_checking),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
    }


def _start_record(app, request, runbook, step, incident) -> RunbookRun:
    now = app.clock.now()
    ident = uuid.uuid4().hex
    root = app.settings.path(app.settings.data_dir) / "runbook-runs"
    with app.store.session() as session:
        record = RunbookRun(
            ident=ident, runbook=runbook.name, step=step.number, playbook=step.playbook,
            incident_id=incident.id if incident else None, actor=request.actor,
            status="running", check_mode=request.check, started_at=now, failed_task="",
            failed_host="", message="", stats={}, artifacts="",
        )  # fmt: skip
        session.add(record)
        session.flush()
        record.artifacts = str((root / f"{record.id:06d}").resolve())
    return record


def _canceller(app: Any, run_id: int, local: threading.Event) -> Callable[[], bool]:
    """ansible-runner's cancel_callback: Ctrl-C here, or `runbook cancel` anywhere.

    ansible-runner asks again on every loop and takes the LAST answer: once it has said yes
    it must keep saying yes, or a throttled "no" turns the cancelled run into "failed"."""
    last = [0.0]

    def should_cancel() -> bool:
        if local.is_set():
            return True
        if time.monotonic() - last[0] < CANCEL_POLL_S:
            return False
        last[0] = time.monotonic()
        with app.store.session() as session:
            row = session.get(RunbookRun, run_id)
            if row is not None and row.cancel_requested_at is not None:
                local.set()
        return local.is_set()

    return should_cancel


def _task_event(app: Any, incident: Incident | None, record: RunbookRun, e: TaskEvent) -> None:
    reason = f"{e.host}: {e.task}" + (f": {e.message}" if e.message else "")
    data = {"run": record.id, "playbook": record.playbook, "host": e.host, "task": e.task,
            "action": e.action, "ignored": e.ignored}  # fmt: skip
    _timeline(app, incident, "ansible", f"playbook.{e.kind}", reason, data)


def _finish(app, request, incident, record: RunbookRun, outcome: Outcome) -> RunbookRun:
    now = app.clock.now()
    with app.store.session() as session:
        row = session.get(RunbookRun, record.id)
        row.status, row.rc, row.finished_at = outcome.status, outcome.rc, now
        row.failed_task, row.failed_host = outcome.failed_task, outcome.failed_host
        row.message, row.stats = outcome.failed_message, outcome.stats
        if outcome.facts and not request.check:
            ingest_facts(session, app, outcome.facts, now=now, run_id=row.id)
    reason = f"{record.playbook}: {outcome.status}"
    if outcome.failed_task:
        reason += f" at task '{outcome.failed_task}' on {outcome.failed_host}"
    _timeline(app, incident, request.actor, "playbook.finished", reason, {
        "run": record.id, "status": outcome.status, "rc": outcome.rc,
        "failed_task": outcome.failed_task, "failed_host": outcome.failed_host,
    })  # fmt: skip
    return row


def _timeline(app, incident, actor: str, kind: str, reason: str, data: dict) -> None:
    if incident is None:
        return
    with app.store.session() as session:
        incidents.add_event(
            session, incident, now=app.clock.now(), actor=actor, kind=kind, reason=reason,
            data=data,
        )  # fmt: skip


def get_runs(app: Any, *, incident_id: int | None = None, limit: int = 50) -> list[RunbookRun]:
    query = select(RunbookRun).order_by(RunbookRun.id.desc()).limit(limit)
    if incident_id is not None:
        query = query.where(RunbookRun.incident_id == incident_id)
    with app.store.session() as session:
        return list(session.scalars(query))


def cancel(app: Any, *, run_id: int) -> RunbookRun:
    """Ask a running playbook to stop; the process running it sees it within a second."""
    now = app.clock.now()
    with app.store.session() as session:
        row = session.get(RunbookRun, run_id)
        if row is None:
            raise NotFound(f"run #{run_id} does not exist")
        if row.status != "running":
            raise IllegalTransition(f"run #{run_id} is {row.status}, not running")
        row.cancel_requested_at = row.cancel_requested_at or now
        return row


# --- inspection facts ----------------------------------------------------------------------


def ingest_facts(
    session: Any, app: Any, facts: list[dict[str, Any]], *, now: datetime, run_id: int | None
) -> list[InspectionFact]:
    """Store each host's fact file under (kind, host, month); the month's latest run wins.
    Disk growth is the change in used bytes per mount since the host's previous month."""
    month = now.astimezone(app.settings.tz).strftime("%Y-%m")
    rows = []
    for item in facts:
        kind, host = str(item["kind"]), str(item["host"])
        data = item.get("facts") if isinstance(item.get("facts"), dict) else {}
        row = session.scalar(
            select(InspectionFact).where(
                InspectionFact.kind == kind,
                InspectionFact.host == host,
                InspectionFact.month == month,
            )
        )
        if row is None:
            row = InspectionFact(kind=kind, host=host, month=month)
            session.add(row)
        row.collected_at, row.run_id, row.data = now, run_id, data
        row.growth = _growth(session, kind, host, month, data)
        rows.append(row)
    return rows


def _growth(session: Any, kind: str, host: str, month: str, data: dict) -> dict[str, Any]:
    before = session.scalar(
        select(InspectionFact)
        .where(
            InspectionFact.kind == kind,
            InspectionFact.host == host,
            InspectionFact.month < month,
        )
        .order_by(InspectionFact.month.desc())
        .limit(1)
    )
    if before is None:
        return {}
    used_before = {d.get("mount"): d.get("used_bytes") for d in before.data.get("disks", [])}
    growth = {}
    for disk in data.get("disks", []):
        old = used_before.get(disk.get("mount"))
        if isinstance(old, int) and isinstance(disk.get("used_bytes"), int):
            growth[disk["mount"]] = {"used_delta_bytes": disk["used_bytes"] - old,
                                     "since": before.month}  # fmt: skip
    return growth


def get_facts(app: Any, *, month: str | None = None, kind: str | None = None) -> list[dict]:
    query = select(InspectionFact).order_by(InspectionFact.month, InspectionFact.host)
    if month:
        query = query.where(InspectionFact.month == month)
    if kind:
        query = query.where(InspectionFact.kind == kind)
    with app.store.session() as session:
        return [
            {"kind": r.kind, "host": r.host, "month": r.month, "collected_at": r.collected_at,
             "run": r.run_id, "facts": r.data, "growth": r.growth}
            for r in session.scalars(query)
        ]  # fmt: skip
