"""``oncall now|show|override add|override list|check``: the 7×24 roster (M2.1a, R1.1, C4)."""

from __future__ import annotations

import getpass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.errors import BadRequest
from hotline_ops.services import oncall

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def parse_local(value: str, field: str, tz: ZoneInfo) -> datetime:
    """'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM' in the site's zone -> aware datetime."""
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    raise BadRequest(f"{field}: '{value}' is not YYYY-MM-DD[ HH:MM] (site time)")


@click.group()
def oncall_() -> None:
    """On-call roster: who is on call, coverage, overrides, the 7×24 check."""


@oncall_.command("now")
@json_option
@click.pass_context
def now_(ctx: click.Context, as_json: bool) -> None:
    """Who is on call in every roster now, and who holds each role."""
    app = get_app(ctx)
    app.store.check_migrated()
    data = oncall.now(app)
    if as_json:
        emit_json(data)
        return
    tz = app.settings.tz
    click.echo(f"on call at {local(data['at'], tz)} ({tz.key})")
    rows = [_who_row(r["roster"], r["person"], r["via"]) for r in data["rosters"]]
    rows += [_who_row(f"role {role}", p, "roster.yaml roles") for role, p in data["roles"].items()]
    table("On call", ["roster", "person", "name", "phone", "channels", "via"], rows)


def _who_row(what: str, person: dict | None, via: str) -> list[Any]:
    if person is None:
        return [what, "NOBODY", "", "", "", via]
    channels = ", ".join(person["channels"])
    return [what, person["key"], person["name"], person["phone"] or "", channels, via]


@oncall_.command()
@click.option("--from", "start", required=True, help="YYYY-MM-DD[ HH:MM], site time.")
@click.option("--to", "end", required=True, help="YYYY-MM-DD[ HH:MM], site time (exclusive).")
@click.option("--roster", default=None, help="Only this roster.")
@json_option
@click.pass_context
def show(ctx: click.Context, start: str, end: str, roster: str | None, as_json: bool) -> None:
    """Who covers each interval of [--from, --to)."""
    app = get_app(ctx)
    app.store.check_migrated()
    tz = app.settings.tz
    rows = oncall.show(
        app, start=parse_local(start, "--from", tz), end=parse_local(end, "--to", tz), roster=roster
    )
    if as_json:
        emit_json(rows)
        return
    table(
        "Coverage",
        ["roster", "from", "to", "person", "via"],
        [
            [
                r["roster"],
                local(r["start"], tz),
                local(r["end"], tz),
                r["person"] or "GAP",
                r["via"],
            ]
            for r in rows
        ],
    )


@oncall_.command()
@click.option("--days", default=14, show_default=True, type=int, help="How far ahead.")
@json_option
@click.pass_context
def check(ctx: click.Context, days: int, as_json: bool) -> None:
    """Prove 7×24 coverage for the next --days days; exit 1 naming every gap."""
    app = get_app(ctx)
    app.store.check_migrated()
    report = oncall.check(app, days=days)
    tz = app.settings.tz
    if as_json:
        emit_json(
            {
                "ok": report.ok,
                "from": report.start,
                "to": report.end,
                "gaps": report.gaps,
                "unknown_calendar_years": report.unknown_years,
            }
        )
    else:
        _print_check(report, tz)
    if not report.ok:
        ctx.exit(1)


def _print_check(report: oncall.CheckReport, tz: ZoneInfo) -> None:
    span = f"{local(report.start, tz)} – {local(report.end, tz)} ({tz.key})"
    for gap in report.gaps:
        click.echo(
            f"GAP {gap['roster']}: {local(gap['start'], tz)} – {local(gap['end'], tz)} "
            f"({gap['via']})"
        )
    for year in report.unknown_years:
        click.echo(
            f"CALENDAR {year}: no statutory holidays/make-up days known; add calendar.{year} "
            "to incidents/roster.yaml"
        )
    if report.ok:
        click.echo(f"OK: every roster covered 7×24 from {span}")
    else:
        years = f", {len(report.unknown_years)} year(s) without a holiday calendar"
        click.echo(
            f"FAILED: {len(report.gaps)} gap(s){years if report.unknown_years else ''} in {span}"
        )


@oncall_.group()
def override() -> None:
    """Overrides: somebody takes a roster for an interval (stored, with who added it)."""


@override.command("add")
@click.option("--roster", required=True)
@click.option("--person", required=True, help="Person key or role.")
@click.option("--from", "start", default=None, help="YYYY-MM-DD[ HH:MM] site time; default now.")
@click.option("--to", "end", default=None, help="YYYY-MM-DD[ HH:MM] site time.")
@click.option("--hours", type=float, default=None, help="Instead of --to: for this many hours.")
@click.option("--replaces", default=None, help="A swap: only this person's slots.")
@click.option("--reason", default="", help="Why (stays on the record).")
@click.option("--actor", default=_actor, show_default="current user")
@json_option
@click.pass_context
def override_add(ctx, roster, person, start, end, hours, replaces, reason, actor, as_json) -> None:
    """Put --person on call in --roster from --from to --to (or for --hours)."""
    app = get_app(ctx)
    app.store.check_migrated()
    tz = app.settings.tz
    begin = parse_local(start, "--from", tz) if start else app.clock.now()
    if (end is None) == (hours is None):
        raise BadRequest("--to/--hours: give exactly one")
    finish = parse_local(end, "--to", tz) if end else begin + timedelta(hours=hours)
    row = oncall.add_override(
        app,
        roster=roster,
        person=person,
        start=begin,
        end=finish,
        actor=actor,
        reason=reason,
        replaces=replaces,
    )
    data = {
        "id": row.id,
        "roster": row.roster,
        "person": row.person,
        "replaces": row.replaces,
        "start": row.starts_at,
        "end": row.ends_at,
        "actor": row.actor,
        "reason": row.reason,
    }
    if as_json:
        emit_json(data)
        return
    click.echo(
        f"override #{row.id}: {row.person} on call in {row.roster} "
        f"{local(row.starts_at, tz)} – {local(row.ends_at, tz)} (by {row.actor})"
    )


@override.command("list")
@json_option
@click.pass_context
def override_list(ctx: click.Context, as_json: bool) -> None:
    """Overrides and swaps from roster.yaml and the store, in the order they apply."""
    app = get_app(ctx)
    app.store.check_migrated()
    rows = oncall.list_overrides(app)
    if as_json:
        emit_json(rows)
        return
    tz = app.settings.tz
    table(
        "Overrides",
        ["roster", "person", "replaces", "from", "to", "source", "actor", "reason"],
        [
            [
                r["roster"],
                r["person"],
                r["replaces"] or "",
                local(r["start"], tz),
                local(r["end"], tz),
                r["source"],
                r["actor"] or "",
                r["reason"],
            ]
            for r in rows
        ],
    )
