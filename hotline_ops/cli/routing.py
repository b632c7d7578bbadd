"""``notify test CHANNEL PERSON`` and ``selfcheck``: prove a page gets through, and that the
daemon's loops are alive."""

from __future__ import annotations

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json
from hotline_ops.services import routing, watchdog

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def notify() -> None:
    """Notifications: test a channel for a person."""


@notify.command("test")
@click.argument("channel")
@click.argument("person")
@json_option
@click.pass_context
def test_(ctx: click.Context, channel: str, person: str, as_json: bool) -> None:
    """Send a zh-CN test message to PERSON through CHANNEL now and print the outcome."""
    app = get_app(ctx)
    result = routing.test_page(app, channel=channel, person=person)
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"sent: test message to {result['name']} ({result['person']}) via {channel} "
        f"in {result['elapsed_s']:.3f}s"
    )


@click.command()
@click.option("--url", default=None, help="The daemon's /healthz (default from `listen`).")
@click.option("--alert", default=None, help="Channel to alert through on failure.")
@json_option
@click.pass_context
def selfcheck(ctx: click.Context, url: str | None, alert: str | None, as_json: bool) -> None:
    """Exit 1 naming the loop when a daemon loop stalls (or the daemon does not answer)."""
    app = get_app(ctx)
    result = watchdog.selfcheck(app, url=url, alert=alert)
    if as_json:
        emit_json(
            {
                "ok": result.ok,
                "url": result.url,
                "problem": result.problem,
                "loops": result.loops,
                "stalled": result.stalled,
                "alerted": result.alerted,
            }
        )
    elif result.ok:
        ages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(result.loops.items()) if v is not None)
        click.echo(f"OK: all loops alive ({ages})")
    else:
        click.echo(f"FAILED: {result.problem}")
        if result.alerted:
            click.echo(f"alert: {result.alerted}")
    if not result.ok:
        ctx.exit(1)
