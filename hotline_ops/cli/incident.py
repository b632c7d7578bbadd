"""``incident``: list, show, timeline, open and every lifecycle action."""

from __future__ import annotations

import getpass

import click

from hotline_ops.cli import incident_view as view
from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
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
            view.summary(i) for i in incidents.get_all(session, open_only=not show_all, limit=limit)
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


@incident.command()
@click.argument("incident_id", type=int)
@json_option
@click.pass_context
def show(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """One incident: timers with countdowns, timeline, deliveries."""
    _show(ctx, incident_id, as_json, view.print_show)


@incident.command()
@click.argument("incident_id", type=int)
@json_option
@click.pass_context
def timeline(ctx: click.Context, incident_id: int, as_json: bool) -> None:
    """The timeline, with live countdowns to each running deadline."""

    def printer(data: dict, tz) -> None:
        view.print_timers(data, tz)
        view.print_timeline(data, tz)

    _show(ctx, incident_id, as_json, printer)


def _show(ctx: click.Context, incident_id: int, as_json: bool, printer) -> None:
    app = get_app(ctx)
    app.store.check_migrated()
    with app.store.session() as session:
        inc = incidents.get(session, incident_id=incident_id)
        data = view.details(session, inc, app.clock.now())
    data["runbooks"] = view.runbooks_for(app, inc)
    if as_json:
        emit_json(data)
    else:
        printer(data, app.settings.tz)


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
        emit_json({**view.summary(inc), "created": created})
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


def _lifecycle(action: str, verb: str, help_text: str):
    """One command per lifecycle action: they differ only in the action and its help."""

    @click.argument("incident_id", type=int)
    @click.option("--reason", default="", help="Why (recorded on the timeline).")
    @actor_option
    @json_option
    @click.pass_context
    def command(ctx, incident_id: int, reason: str, actor: str, as_json: bool, **extra) -> None:
        app = get_app(ctx)
        app.store.check_migrated()
        inc = incidents.act(
            app,
            incident_id=incident_id,
            action=action,
            actor=actor,
            reason=reason,
            postmortem=extra.get("postmortem"),
        )
        _done(inc, verb, as_json)

    command.__doc__ = help_text
    return command


for _name, _action, _verb, _help in (
    ("ack", "ack", "acknowledged", "Acknowledge: meets the response timer (M2.1b)."),
    (
        "plan",
        "plan",
        "emergency plan started for",
        "Level 1: the emergency plan has started (meets M2.3a, ≤ 1 h).",
    ),
    ("mitigate", "mitigate", "mitigated", "Service restored by a workaround; cause remains."),
    ("resolve", "resolve", "resolved", "Resolved: meets the resolve timers (M2.1c/d, M2.3b/c)."),
    ("reopen", "reopen", "reopened", "Reopen a resolved incident (its timers run on)."),
):
    incident.command(_name)(_lifecycle(_action, _verb, _help))

incident.command("close")(
    click.option("--postmortem", help="Postmortem (text or link); required for levels 1-2.")(
        _lifecycle("close", "closed", "Close a resolved incident.")
    )
)


@incident.command()
@click.argument("incident_id", type=int)
@click.argument("text")
@actor_option
@json_option
@click.pass_context
def note(ctx, incident_id: int, text: str, actor: str, as_json: bool) -> None:
    """Add a note to the timeline."""
    app = get_app(ctx)
    app.store.check_migrated()
    _done(incidents.note(app, incident_id=incident_id, actor=actor, text=text), "noted", as_json)


@incident.command()
@click.argument("incident_id", type=int)
@click.argument("new_level", type=click.IntRange(1, 3))
@click.option("--reason", required=True, help="Why the level changes (on the timeline).")
@actor_option
@json_option
@click.pass_context
def level(ctx, incident_id: int, new_level: int, reason: str, actor: str, as_json: bool) -> None:
    """Regrade: the new level's timers replace the pending ones, from the opening time."""
    app = get_app(ctx)
    app.store.check_migrated()
    inc = incidents.set_level(
        app, incident_id=incident_id, level=new_level, actor=actor, reason=reason
    )
    _done(inc, f"now level {new_level}:", as_json)


@incident.command()
@click.argument("incident_id", type=int)
@click.argument("mode", type=click.Choice(["remote", "onsite"]))
@click.option("--reason", default="")
@actor_option
@json_option
@click.pass_context
def handling(ctx, incident_id: int, mode: str, reason: str, actor: str, as_json: bool) -> None:
    """Remote or on-site handling: picks the resolve timer (M2.1c ≤ 2 h, M2.1d ≤ 4 h)."""
    app = get_app(ctx)
    app.store.check_migrated()
    inc = incidents.set_handling(
        app, incident_id=incident_id, handling=mode, actor=actor, reason=reason
    )
    _done(inc, f"handling {mode} for", as_json)


def _done(inc, verb: str, as_json: bool) -> None:
    if as_json:
        emit_json(view.summary(inc))
    else:
        click.echo(f"{verb} #{inc.id}: {inc.title}")


@incident.command()
@click.option("--year", type=int, help="Calendar year, site time (default: this year).")
@json_option
@click.pass_context
def budget(ctx, year: int | None, as_json: bool) -> None:
    """P9.4 fault budget: system faults this year and each one's duration."""
    from hotline_ops.services import budget as fault_budget

    app = get_app(ctx)
    app.store.check_migrated()
    year = year or app.clock.now().astimezone(app.settings.tz).year
    data = fault_budget.report(app, year)
    if as_json:
        emit_json(data)
        return
    tz = app.settings.tz
    click.echo(
        f"{data['clause']} {year}: {data['count']} of {data['allowed']} system faults "
        f"allowed, {data['too_long']} longer than {data['max_duration_s'] // 60} min"
    )
    table(
        "System faults",
        ["id", "opened", "resolved", "duration", "within 1 h"],
        [
            [
                f"#{f['id']}",
                local(f["opened_at"], tz),
                local(f["resolved_at"], tz),
                f"{f['duration_s'] / 60:.0f} min" + (" (ongoing)" if f["ongoing"] else ""),
                "yes" if f["within_duration"] else "NO",
            ]
            for f in data["faults"]
        ],
    )
