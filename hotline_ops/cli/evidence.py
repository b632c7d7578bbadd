"""``evidence``: register the written documents behind clauses no probe measures (C1)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from hotline_ops.cli.incident import actor_option
from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.services import evidence


@click.group("evidence")
def evidence_() -> None:
    """Evidence register: documents for the annual acceptance pack (training, changes …)."""


@evidence_.command()
@click.argument("clause")
@click.argument("source", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--title", required=True, help="What the document is (zh-CN, shown in the pack).")
@click.option(
    "--date",
    "covers",
    type=click.DateTime(["%Y-%m-%d"]),
    help="The day it is evidence for (default: today, site time).",
)
@click.option("--quantity", type=float, help="Counted amount, e.g. training hours (M2.4).")
@click.option("--note", default="", help="Free text kept with the row.")
@actor_option
@click.option("--json", "as_json", is_flag=True, help="Print the row as JSON.")
@click.pass_context
def add(
    ctx: click.Context,
    clause: str,
    source: Path,
    title: str,
    covers,
    quantity,
    note: str,
    actor: str,
    as_json: bool,
) -> None:
    """Register FILE as evidence for CLAUSE (copied, sha256 kept; never replaced)."""
    app = get_app(ctx)
    app.store.check_migrated()
    day = covers.date() if covers else app.clock.now().astimezone(app.settings.tz).date()
    doc = evidence.NewDocument(clause, source, title, day, quantity, note)
    row = evidence.add(app, doc, actor=actor)
    if as_json:
        emit_json(view(app, row))
        return
    click.echo(f"evidence #{row.id} {row.clause} {row.covers}: {row.title}  sha256 {row.sha256}")


@evidence_.command("list")
@click.option("--clause", help="Only this clause.")
@click.option("--year", type=int, help="Only documents covering days of this year.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, clause: str | None, year: int | None, as_json: bool) -> None:
    """Every registered document, oldest first."""
    app = get_app(ctx)
    app.store.check_migrated()
    rows = evidence.get_all(app, clause=clause, year=year)
    if as_json:
        emit_json([view(app, r) for r in rows])
        return
    table(
        "Evidence register",
        ["id", "clause", "covers", "title", "quantity", "registered", "by", "sha256"],
        [
            [
                f"#{r.id}",
                r.clause,
                r.covers,
                r.title,
                _qty(r.quantity),
                local(r.registered_at, app.settings.tz),
                r.actor,
                r.sha256[:16],
            ]
            for r in rows
        ],
    )


@evidence_.command()
@click.argument("doc_id", type=int)
@click.pass_context
def verify(ctx: click.Context, doc_id: int) -> None:
    """Check DOC_ID's stored file against its registered sha256 (exit 1 if changed)."""
    app = get_app(ctx)
    app.store.check_migrated()
    row = evidence.verify(app, doc_id=doc_id)
    click.echo(f"ok evidence #{row.id} {row.path} sha256 {row.sha256}")


def _qty(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def view(app, row) -> dict:
    return {
        "id": row.id,
        "clause": row.clause,
        "covers": date.isoformat(row.covers),
        "title": row.title,
        "quantity": row.quantity,
        "path": row.path,
        "sha256": row.sha256,
        "bytes": row.bytes,
        "actor": row.actor,
        "note": row.note,
        "registered_at": local(row.registered_at, app.settings.tz),
    }
