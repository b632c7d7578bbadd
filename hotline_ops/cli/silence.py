"""``silence add|list|expire``: mute matching alerts (Alertmanager semantics)."""

from __future__ import annotations

import getpass
from datetime import timedelta

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.core.durations import parse_duration
from hotline_ops.errors import BadRequest
from hotline_ops.services import silences
from hotline_ops.store.models import Silence


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def silence() -> None:
    """Silences: alerts they match are stored but open no incident."""


@silence.command()
@click.option(
    "--matcher",
    "matcher_texts",
    multiple=True,
    required=True,
    metavar="NAME=VALUE",
    help="name=value, name!=value, name=~regex or name!~regex (regex anchored); repeatable, "
    "all must match.",
)
@click.option("--duration", default="2h", show_default=True, help="e.g. 30m, 2h, 1d.")
@click.option("--comment", required=True, help="Why (stays on the record).")
@click.option("--author", default=_author, show_default="current user")
@json_option
@click.pass_context
def add(ctx, matcher_texts, duration: str, comment: str, author: str, as_json: bool) -> None:
    """Silence alerts matching every --matcher, from now for --duration."""
    app = get_app(ctx)
    app.store.check_migrated()
    matchers = silences.parse_matchers(matcher_texts)
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise BadRequest(f"--duration: {exc}") from exc
    row = silences.add(
        app,
        matchers=matchers,
        ends_at=app.clock.now() + timedelta(seconds=seconds),
        created_by=author,
        comment=comment,
    )
    if as_json:
        emit_json(_summary(row, app))
        return
    until = local(row.ends_at, app.settings.tz)
    click.echo(f"silence {row.id} added until {until}: {_matchers(row)}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@json_option
@click.pass_context
def list_(ctx: click.Context, show_all: bool, as_json: bool) -> None:
    """Active and pending silences, newest first."""
    app = get_app(ctx)
    app.store.check_migrated()
    rows = [_summary(s, app) for s in silences.get_all(app, active_only=not show_all)]
    if as_json:
        emit_json(rows)
        return
    tz = app.settings.tz
    table(
        "Silences",
        ["id", "state", "matchers", "starts", "ends", "by", "comment"],
        [
            [
                r["id"],
                r["state"],
                r["text"],
                local(r["starts_at"], tz),
                local(r["ends_at"], tz),
                r["created_by"],
                r["comment"],
            ]
            for r in rows
        ],
    )


@silence.command()
@click.argument("silence_id", type=int)
@json_option
@click.pass_context
def expire(ctx: click.Context, silence_id: int, as_json: bool) -> None:
    """End a silence now (the record is kept)."""
    app = get_app(ctx)
    app.store.check_migrated()
    row = silences.expire(app, silence_id=silence_id)
    if as_json:
        emit_json(_summary(row, app))
    else:
        click.echo(f"silence {row.id} expired: {_matchers(row)}")


def _matchers(row: Silence) -> str:
    return ", ".join(str(m) for m in silences.matchers_of(row))


def _summary(row: Silence, app) -> dict:
    return {
        "id": row.id,
        "state": silences.state(row, app.clock.now()),
        "matchers": row.matchers,
        "text": _matchers(row),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "created_by": row.created_by,
        "comment": row.comment,
        "created_at": row.created_at,
        "expired_at": row.expired_at,
    }
