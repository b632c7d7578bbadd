"""``incident list|show|open|ack|resolve``."""

from __future__ import annotations

import getpass
from datetime import datetime

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.core.durations import format_duration
from hotline_ops.errors import BadRequest
from hotline_ops.services import incidents


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


actor_option = click.option(
    "--actor",
    default=_actor,
    show_default="current user",
    help="Who acts (recorded on the timeline).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def incident() -> None:
    """Incidents and their contract timers."""


@incident.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved incidents.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_context
def list_(ctx: click.Context, show_all: bool, limit: int, as_json: bool) -> None:
    """Open incidents, newest first."""
    app = get_app(ctx)
    app.store.check_migrated()
    with app.store.session() as session:
        rows = [
            _summary(i) for i in incidents.get_all(session, open_only=not show_all, limit=limit)
        ]
    if as_json:
        emit_json(rows)
        return
    tz = app.settings.tz
    table(
        "Incidents",
        ["id", "level", "status", "opened", "title"],
        [
            [f"#{r['id']}", f"L{r['level']}", r["status"], local(r["opened_at"], tz), r["title"]]
            for r in rows
        ],
    )


def _summary(inc) -> dict:
    return {
        "id": inc.id,
        "level": inc.level,
        "status": inc.status,
        "title": inc.title,
        "source": inc.source,
        "target": inc.target,
        "labels": inc.labels,
        "opened_at": inc.opened_at,
        "acknowledged_at": inc.acknowledged_at,
        "resolved_at": inc.resolved_at,
    }


@incident.command()
@click.argument("incident_id", type=int)
@json_option
@click.pass_context
def show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """One incident: deadlines with countdowns, timeline, deliveries."""
    app = get_app(ctx)
    app.store.check_migrated()
    now = app.clock.now()
    with app.store.session() as session:
        inc = incidents.get(session, incident_id=incident_id)
        data = {
            **_summary(inc),
            "policy": inc.policy,
            "deadlines": [_deadline(d, now) for d in incidents.deadlines_of(session, inc.id)],
            "timeline": [_event(e) for e in incidents.events_of(session, inc.id)],
            "deliveries": [_delivery(m) for m in incidents.deliveries_of(session, inc.id)],
        }
    if as_json:
        emit_json(data)
        return
    _print_show(data, app.settings.tz)


def _deadline(d, now: datetime) -> dict:
    if d.met_at is not None:
        state = "met" if d.met_at <= d.due_at else "met late"
    else:
        state = "breached" if d.fired_at is not None else "running"
    return {
        "kind": d.kind,
        "clause": d.clause,
        "due_at": d.due_at,
        "met_at": d.met_at,
        "fired_at": d.fired_at,
        "state": state,
        "remaining_s": (d.due_at - now).total_seconds(),
    }


def _event(e) -> dict:
    return {"at": e.at, "actor": e.actor, "kind": e.kind, "reason": e.reason, "data": e.data}


def _delivery(m) -> dict:
    return {
        "channel": m.channel,
        "dedup_key": m.dedup_key,
        "status": m.status,
        "attempts": m.attempts,
        "sent_at": m.sent_at,
        "last_error": m.last_error,
    }


def _print_show(data: dict, tz) -> None:
    click.echo(f"#{data['id']} L{data['level']} {data['status']}: {data['title']}")
    click.echo(f"opened {local(data['opened_at'], tz)}  source {data['source']}")
    table(
        "Contract timers",
        ["timer", "clause", "due", "state", "countdown"],
        [
            [
                d["kind"],
                d["clause"],
                local(d["due_at"], tz),
                d["state"],
                format_duration(d["remaining_s"]) if d["state"] == "running" else "",
            ]
            for d in data["deadlines"]
        ],
    )
    table(
        "Timeline",
        ["at", "actor", "event", "reason"],
        [[local(e["at"], tz), e["actor"], e["kind"], e["reason"]] for e in data["timeline"]],
    )
    table(
        "Deliveries",
        ["channel", "status", "attempts", "sent", "error"],
        [
            [m["channel"], m["status"], m["attempts"], local(m["sent_at"], tz), m["last_error"]]
            for m in data["deliveries"]
        ],
    )


@incident.command("open")
@click.option("--title", required=True)
@click.option("--level", type=click.IntRange(1, 3), help="Default: classified from labels.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE")
@click.option("--key", "dedup_key", help="Dedup key; an open incident with it is returned.")
@actor_option
@json_option
@click.pass_context
def open_(ctx, title, level, labels, dedup_key, actor, as_json) -> None:
    """Open an incident by hand."""
    app = get_app(ctx)
    app.store.check_migrated()
    inc, created = incidents.create(
        app, title=title, actor=actor, level=level, labels=_labels(labels), dedup_key=dedup_key
    )
    if as_json:
        emit_json({**_summary(inc), "created": created})
        return
    verb = "opened" if created else "already open:"
    click.echo(f"{verb} #{inc.id} L{inc.level}: {inc.title}")


def _labels(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadRequest(f"--label: '{pair}' is not KEY=VALUE")
        out[key] = value
    return out


@incident.command()
@click.argument("incident_id", type=int)
@click.option("--reason", default="")
@actor_option
@json_option
@click.pass_context
def ack(ctx, incident_id: int, reason: str, actor: str, as_json: bool) -> None:
    """Acknowledge: meets the response timer (M2.1b)."""
    app = get_app(ctx)
    app.store.check_migrated()
    _done(
        incidents.acknowledge(app, incident_id=incident_id, actor=actor, reason=reason),
        "acknowledged",
        as_json,
    )


@incident.command()
@click.argument("incident_id", type=int)
@click.option("--reason", default="")
@actor_option
@json_option
@click.pass_context
def resolve(ctx, incident_id: int, reason: str, actor: str, as_json: bool) -> None:
    """Resolve: meets the resolve timer (M2.3b/c)."""
    app = get_app(ctx)
    app.store.check_migrated()
    _done(
        incidents.resolve(app, incident_id=incident_id, actor=actor, reason=reason),
        "resolved",
        as_json,
    )


def _done(inc, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json(_summary(inc))
    else:
        click.echo(f"{verb} #{inc.id}: {inc.title}")
