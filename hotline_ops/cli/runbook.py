"""``runbook list|show|run|runs|cancel|facts``: runbooks and their Ansible playbooks."""

from __future__ import annotations

import getpass
import signal
from contextlib import contextmanager
from typing import Any

import click
import yaml

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.core.durations import parse_duration
from hotline_ops.core.runbooks import Runbook, Selector, Step, TaskEvent
from hotline_ops.errors import BadRequest
from hotline_ops.services import runbooks


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def runbook() -> None:
    """Runbooks: what to do for each kind of incident, with Ansible playbooks."""


def selector_text(selector: Selector) -> str:
    parts = [f"{k}={'|'.join(v)}" for k, v in selector.match.items()]
    return ", ".join(parts + [str(m) for m in selector.matchers])


def step_dict(step: Step) -> dict[str, Any]:
    if step.automated:
        return {"number": step.number, "title": step.title, "playbook": step.playbook,
                "vars": step.vars, "limit": step.limit}  # fmt: skip
    return {"number": step.number, "title": step.title, "text": step.text}


def runbook_dict(rb: Runbook, with_body: bool = False) -> dict[str, Any]:
    data = {
        "name": rb.name,
        "title": rb.title,
        "level": rb.level,
        "clauses": list(rb.clauses),
        "applies_to": [selector_text(s) for s in rb.applies_to],
        "steps": [step_dict(s) for s in rb.steps],
        "where": rb.where,
    }
    if with_body:
        data["body"] = rb.body
    return data


@runbook.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every runbook, the incidents it applies to and its playbooks."""
    rows = [runbook_dict(rb) for rb in runbooks.get_all(get_app(ctx)).values()]
    if as_json:
        emit_json(rows)
        return
    table(
        "Runbooks",
        ["name", "level", "title", "applies to", "playbooks"],
        [
            [r["name"], f"L{r['level']}" if r["level"] else "", r["title"],
             "; ".join(r["applies_to"]),
             ", ".join(s["playbook"] for s in r["steps"] if "playbook" in s)]
            for r in rows
        ],
    )  # fmt: skip


@runbook.command()
@click.argument("name")
@json_option
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One runbook: its steps in order and its text."""
    data = runbook_dict(runbooks.get(get_app(ctx), name=name), with_body=True)
    if as_json:
        emit_json(data)
        return
    level = f" (L{data['level']})" if data["level"] else ""
    click.echo(f"{data['name']}{level}: {data['title']}")
    click.echo(f"applies to: {'; '.join(data['applies_to']) or '(run by hand only)'}")
    for step in data["steps"]:
        click.echo(_step_line(step))
    if data["body"].strip():
        click.echo("")
        click.echo(data["body"].rstrip())


def _step_line(step: dict[str, Any]) -> str:
    title = f"{step['title']}: " if step["title"] else ""
    if "playbook" in step:
        limit = f" on {step['limit']}" if step["limit"] else ""
        return f"{step['number']:>2}. {title}[playbook {step['playbook']}{limit}]"
    return f"{step['number']:>2}. {title}{step['text']}"


@runbook.command()
@click.argument("name")
@click.option("--incident", "incident_id", type=int, help="Stream events onto its timeline.")
@click.option("--check", is_flag=True, help="Ansible check mode: change nothing on the hosts.")
@click.option("--timeout", "timeout", help="Stop each playbook after this (e.g. 300, 10m).")
@click.option("--step", "step", type=click.IntRange(1), help="Run only this step.")
@click.option(
    "--var",
    "var_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a playbook var (VALUE read as YAML: 3, [a, b]); repeatable.",
)
@click.option("--limit", default="", help="Ansible host pattern, e.g. app1 or 'app:!app2'.")
@click.option("--actor", default=_actor, show_default="current user")
@json_option
@click.pass_context
def run(ctx, name, incident_id, check, timeout, step, var_pairs, limit, actor, as_json) -> None:
    """Walk a runbook: print its steps for you, run its playbooks (Ctrl-C cancels)."""
    app = get_app(ctx)
    app.store.check_migrated()
    request = runbooks.RunRequest(
        name=name, actor=actor, incident_id=incident_id, check=check,
        timeout_s=_seconds(timeout), step=step, extra_vars=_vars(var_pairs), limit=limit,
    )  # fmt: skip
    if not as_json:
        request.on_text = lambda s: click.echo(_step_line(step_dict(s)))
        request.on_playbook = lambda s, r: click.echo(
            f"{_step_line(step_dict(s))}  run #{r.id}{' (check mode)' if check else ''}"
        )
        request.on_event = _print_event
    with _cancel_on_interrupt(request):
        done = runbooks.run(app, request)
    rows = [run_dict(r, app.settings.tz) for r in done]
    if as_json:
        emit_json(rows)
    else:
        for r in rows:
            click.echo(_run_line(r))
    if any(r["status"] != "successful" for r in rows):
        ctx.exit(1)


def _vars(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise BadRequest(f"--var: '{pair}' is not KEY=VALUE")
        try:
            out[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise BadRequest(f"--var {key}: not a YAML value: {exc}") from exc
    return out


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadRequest(f"--timeout: {exc}") from exc


def _print_event(e: TaskEvent) -> None:
    if e.kind == "task.start":
        return
    extra = f": {e.message}" if e.message else ""
    click.echo(f"    {e.kind.removeprefix('task.'):<11} {e.host:<16} {e.task}{extra}")


@contextmanager
def _cancel_on_interrupt(request: runbooks.RunRequest):
    """Ctrl-C / SIGTERM ask ansible-runner to stop the playbook (its cancel_callback)."""

    def stop(_signum, _frame) -> None:
        request.cancel.set()

    old = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_dict(r: Any, tz: Any) -> dict[str, Any]:
    return {
        "id": r.id, "runbook": r.runbook, "step": r.step, "playbook": r.playbook,
        "incident_id": r.incident_id, "actor": r.actor, "status": r.status,
        "check_mode": r.check_mode, "started_at": r.started_at, "finished_at": r.finished_at,
        "rc": r.rc, "failed_task": r.failed_task, "failed_host": r.failed_host,
        "message": r.message, "stats": r.stats, "artifacts": r.artifacts,
    }  # fmt: skip


def _run_line(r: dict[str, Any]) -> str:
    line = f"run #{r['id']} {r['playbook']}: {r['status']}"
    if r["failed_task"]:
        line += f" at task '{r['failed_task']}' on {r['failed_host']}"
        if r["message"]:
            line += f" ({r['message']})"
    return f"{line}  [artifacts {r['artifacts']}]"


@runbook.command("runs")
@click.option("--incident", "incident_id", type=int)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_context
def runs_(ctx, incident_id, limit, as_json) -> None:
    """Playbook runs, newest first."""
    app = get_app(ctx)
    app.store.check_migrated()
    tz = app.settings.tz
    rows = [run_dict(r, tz) for r in runbooks.get_runs(app, incident_id=incident_id, limit=limit)]
    if as_json:
        emit_json(rows)
        return
    table(
        "Runbook runs",
        ["id", "runbook", "step", "playbook", "incident", "status", "check", "started",
         "failed task"],
        [
            [f"#{r['id']}", r["runbook"], r["step"], r["playbook"],
             f"#{r['incident_id']}" if r["incident_id"] else "", r["status"],
             "yes" if r["check_mode"] else "", local(r["started_at"], tz), r["failed_task"]]
            for r in rows
        ],
    )  # fmt: skip


@runbook.command()
@click.argument("run_id", type=int)
@click.pass_context
def cancel(ctx, run_id: int) -> None:
    """Stop a running playbook (the process running it stops it within a second)."""
    app = get_app(ctx)
    app.store.check_migrated()
    row = runbooks.cancel(app, run_id=run_id)
    click.echo(f"cancel requested for run #{row.id} ({row.playbook})")


@runbook.command()
@click.option("--month", help="YYYY-MM (site time); default: every month.")
@click.option("--kind", help="e.g. monthly_inspection.")
@json_option
@click.pass_context
def facts(ctx, month: str | None, kind: str | None, as_json: bool) -> None:
    """Inspection facts gathered by playbooks (the monthly report reads these)."""
    app = get_app(ctx)
    app.store.check_migrated()
    rows = runbooks.get_facts(app, month=month, kind=kind)
    if as_json:
        emit_json(rows)
        return
    table(
        "Inspection facts",
        ["month", "kind", "host", "collected", "run"],
        [[r["month"], r["kind"], r["host"], local(r["collected_at"], app.settings.tz),
          f"#{r['run']}" if r["run"] else ""] for r in rows],
    )  # fmt: skip
