"""``init`` and ``db upgrade``."""

from __future__ import annotations

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def init(ctx: click.Context, as_json: bool) -> None:
    """Validate config and content, create the data dir, migrate the store."""
    app = get_app(ctx)  # validation happens here, before anything is created
    app.settings.path(app.settings.data_dir).mkdir(parents=True, exist_ok=True)
    revision = app.store.upgrade()
    _report(app, revision, as_json)


@click.group()
def db() -> None:
    """Store maintenance."""


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def upgrade(ctx: click.Context, as_json: bool) -> None:
    """Apply pending migrations."""
    app = get_app(ctx)
    _report(app, app.store.upgrade(), as_json)


def _report(app, revision: str, as_json: bool) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(app.store.url).render_as_string(hide_password=True)
    if as_json:
        emit_json({"database": url, "revision": revision, "targets": len(app.targets)})
        return
    click.echo(f"store {url} at revision {revision}; {len(app.targets)} targets configured")
