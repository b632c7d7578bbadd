"""``ticket``: the 12345 work orders — intake, every lifecycle step, search, audit trail,
API tokens, call-record import and KPIs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from hotline_ops.cli.incident import actor_option, json_option
from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.core import ticket_rules as rules
from hotline_ops.core.ticket_roles import ROLES
from hotline_ops.errors import BadRequest
from hotline_ops.tickets import cdr, kpi, service, survey, tokens, view
from hotline_ops.tickets.schemas import ActionIn, SearchIn, TicketIn


@click.group()
def ticket() -> None:
    """12345 work orders (tickets) and their KPIs."""


def _validated(model: type, **fields: Any) -> Any:
    """A one-line error naming the option for a bad value."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "--" + ".".join(str(p) for p in err["loc"]).replace("_", "-")
        raise BadRequest(f"{name}: {err['msg'].removeprefix('Value error, ')}") from exc


def _ready(ctx: click.Context):
    app = get_app(ctx)
    app.store.check_migrated()
    return app


@ticket.command()
@click.option("--channel", type=click.Choice(rules.CHANNELS), default="phone", show_default=True)
@click.option("--caller", "caller_number", required=True, help="Caller's phone number.")
@click.option("--name", "caller_name", default="")
@click.option("--title", required=True)
@click.option("--content", required=True)
@click.option("--type", "type_", type=click.Choice(rules.TYPES), required=True)
@click.option("--category", required=True, help="3-level code, e.g. 040101.")
@click.option("--district", required=True)
@click.option("--street", default="")
@click.option("--community", default="")
@click.option("--urgent", is_flag=True, help="Level I urgent (first response ≤ 5 min).")
@click.option("--tag", "tags", multiple=True)
@click.option("--confidential", is_flag=True)
@actor_option
@json_option
@click.pass_context
def create(ctx, type_, urgent, tags, actor, as_json, **fields) -> None:
    """Take in a ticket (intake, P1.1)."""
    app = _ready(ctx)
    body = _validated(
        TicketIn, type=type_, urgency="urgent" if urgent else "normal", tags=list(tags), **fields
    )
    t = service.create(app, body=body, actor=actor)
    if as_json:
        emit_json(view.summary(t))
        return
    click.echo(f"created #{t.id} {t.number} ({rules.LABELS_ZH[t.status]}) {t.caller_location}")


@ticket.command()
@click.argument("ticket_id", type=int)
@json_option
@click.pass_context
def show(ctx, ticket_id: int, as_json: bool) -> None:
    """One ticket: fields, deadlines, attachments, the caller's earlier tickets, trail."""
    app = _ready(ctx)
    data = {**view.detail(app, ticket_id), "trail": view.trail(app, ticket_id)}
    if as_json:
        emit_json(data)
        return
    _print_detail(data, app.settings.tz)


def _print_detail(d: dict, tz) -> None:
    click.echo(f"#{d['id']} {d['number']}  {d['status_zh']} ({d['status']})  {d['urgency']}")
    click.echo(f"{d['title']} — {d['caller_number']} {d['caller_location']}")
    click.echo(f"{d['district']} {d['street']} {d['community']}  category {d['category']}")
    click.echo(f"lead {d['lead_unit'] or '—'}  assist {', '.join(d['assist_units']) or '—'}")
    click.echo(f"allowed next: {', '.join(d['allowed']) or '—'}")
    rows = [
        [x["kind"], x["purpose"], x["clause"], _at(x["due_at"], tz), x["state"]]
        for x in d["deadlines"]
    ]
    table("Deadlines", ["kind", "purpose", "clause", "due", "state"], rows)
    trail = d["trail"]
    table(
        f"Audit trail ({'verified' if trail['verified'] else 'BROKEN'})",
        ["#", "at", "actor", "step", "from → to", "reason"],
        [
            [
                e["seq"],
                _at(e["at"], tz),
                e["actor"],
                e["label"],
                f"{e['from']} → {e['to']}",
                e["reason"],
            ]
            for e in trail["events"]
        ],
    )


def _at(iso: str | None, tz) -> str:
    return local(datetime.fromisoformat(iso), tz) if iso else "—"


@ticket.command("list")
@click.option("--number")
@click.option("--caller")
@click.option("--status", type=click.Choice(rules.STATES))
@click.option("--category")
@click.option("--region")
@click.option("--overdue/--not-overdue", default=None)
@click.option("--page", default=1, type=click.IntRange(1))
@click.option("--per-page", default=20, type=click.IntRange(1, 200))
@json_option
@click.pass_context
def list_(ctx, as_json: bool, **filters) -> None:
    """Search tickets; urgent open ones first (P4.2), then newest."""
    app = _ready(ctx)
    rows, more = service.search(app, query=_validated(SearchIn, **filters))
    items = [view.summary(t) for t in rows]
    if as_json:
        emit_json({"items": items, "more": more})
        return
    table(
        "Tickets" + (" (more: --page)" if more else ""),
        ["id", "number", "status", "urgency", "type", "district", "title", "created"],
        [
            [
                t["id"],
                t["number"],
                t["status_zh"],
                t["urgency"],
                t["type"],
                t["district"],
                t["title"],
                local(rows[i].created_at, app.settings.tz),
            ]
            for i, t in enumerate(items)
        ],
    )


def _action_command(action: str) -> click.Command:
    spec = rules.ACTIONS[action]

    @click.argument("ticket_id", type=int)
    @click.option("--reason", default="")
    @click.option("--lead-unit")
    @click.option("--assist", "assist_units", multiple=True)
    @click.option("--handler")
    @click.option("--measures")
    @click.option("--reply")
    @click.option("--days", type=int)
    @click.option("--into", type=int, help="merge: the main ticket's id.")
    @click.option("--satisfaction", help="evaluate: attitude=3,efficiency=3,result=2[,ITEM=N]")
    @click.option("--script", help="callback: the script used.")
    @actor_option
    @json_option
    @click.pass_context
    def command(ctx, ticket_id, actor, as_json, satisfaction, assist_units, **fields) -> None:
        app = _ready(ctx)
        body = _validated(
            ActionIn,
            satisfaction=_scores(satisfaction),
            assist_units=list(assist_units) or None,
            **fields,
        )
        t = service.act(app, ticket_id=ticket_id, action=action, actor=actor, body=body)
        if as_json:
            emit_json(view.summary(t))
        else:
            click.echo(f"#{t.id} {t.number}: {spec.label} → {rules.LABELS_ZH[t.status]}")

    command.__doc__ = f"{spec.label} ({action}); allowed from {', '.join(sorted(spec.sources))}."
    return click.command(action.replace("_", "-"))(command)


def _scores(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    out: dict[str, Any] = {"custom": {}}
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep:
            raise BadRequest(f"--satisfaction: '{pair}' is not KEY=VALUE")
        key = key.strip()
        if key == "via":
            out["via"] = value.strip()
        elif key in ("attitude", "efficiency", "result"):
            out[key] = value.strip()
        else:
            out["custom"][key] = value.strip()
    return out


for _name in sorted(set(rules.ACTIONS) - rules.INTERNAL):
    ticket.add_command(_action_command(_name))


@ticket.command("popups")
@click.option("--after", default=0, type=click.IntRange(0), help="Only popups after this id.")
@json_option
@click.pass_context
def popups(ctx, after: int, as_json: bool) -> None:
    """Console popups: deadline warnings and breaches (P8.2), supervision, calendar alerts."""
    app = _ready(ctx)
    rows = view.popups(app, after)
    if as_json:
        emit_json(rows)
        return
    table(
        "Popups",
        ["id", "ticket", "at", "kind", "text"],
        [
            [p["id"], p["ticket_id"], _at(p["at"], app.settings.tz), p["kind"], p["text"]]
            for p in rows
        ],
    )


@ticket.command("import-cdr")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@click.pass_context
def import_cdr(ctx, file: Path, as_json: bool) -> None:
    """Import call records (CSV with call_id,caller,offered_at,answered_at or JSON)."""
    app = _ready(ctx)
    result = cdr.store(app, cdr.parse_file(file))
    if as_json:
        emit_json(result)
    else:
        click.echo(f"imported {result['added']} calls ({result['skipped']} already known)")


@ticket.command("kpi")
@click.option("--period", required=True, help="YYYY-MM or YYYY-MM-DD (site time zone).")
@json_option
@click.pass_context
def kpi_(ctx, period: str, as_json: bool) -> None:
    """Hotline KPIs of a month or a day (R3.2, P3–P7)."""
    app = _ready(ctx)
    data = kpi.compute(app, period=kpi.parse_period(period, app.settings.tz))
    if as_json:
        emit_json(data)
        return
    rows = []
    for name, value in data["kpi"].items():
        if "value" in value:
            cells = [(name, value)]
        elif name == "satisfaction":
            cells = list(value.items())
        else:  # a figure per part, e.g. evaluation_coverage_by_channel.ivr
            cells = [(f"{name}.{part}", r) for part, r in value.items()]
        for label, r in cells:
            shown = "—" if r["value"] is None else f"{r['value'] * 100:.2f}%"
            rows.append([label, shown, r["num"], r["den"]])
    table(f"KPIs {data['period']}", ["kpi", "value", "num", "den"], rows)


@ticket.command("survey-link")
@click.argument("ticket_id", type=int)
@click.pass_context
def survey_link(ctx, ticket_id: int) -> None:
    """Print the signed satisfaction link of a closed ticket (P6.1), as the SMS carries it."""
    click.echo(survey.link_for(_ready(ctx), ticket_id))


@ticket.group("token")
def token() -> None:
    """API tokens for the ticket API (stored hashed; shown once)."""


@token.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.pass_context
def token_add(ctx, name: str, role: str) -> None:
    app = _ready(ctx)
    _row, value = tokens.add(app, name=name, role=role)
    click.echo(value)
    click.echo(f"token '{name}' ({role}) created; it is shown only this once", err=True)


@token.command("list")
@json_option
@click.pass_context
def token_list(ctx, as_json: bool) -> None:
    app = _ready(ctx)
    rows = [
        {"name": t.name, "role": t.role, "created_at": t.created_at, "revoked_at": t.revoked_at}
        for t in tokens.get_all(app)
    ]
    if as_json:
        emit_json(rows)
        return
    table(
        "Ticket API tokens",
        ["name", "role", "created", "revoked"],
        [
            [
                r["name"],
                r["role"],
                local(r["created_at"], app.settings.tz),
                local(r["revoked_at"], app.settings.tz),
            ]
            for r in rows
        ],
    )


@token.command("revoke")
@click.argument("name")
@click.pass_context
def token_revoke(ctx, name: str) -> None:
    tokens.revoke(_ready(ctx), name=name)
    click.echo(f"token '{name}' revoked")
