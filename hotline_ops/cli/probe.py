"""``probe list`` and ``probe run``."""

from __future__ import annotations

import asyncio

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.errors import HotlineOpsError, NotFound
from hotline_ops.services import nagios as nagios_out
from hotline_ops.services import probing


@click.group()
def probe() -> None:
    """Probe targets (probes/*.yaml)."""


@probe.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Configured targets with their last known state."""
    app = get_app(ctx)
    app.store.check_migrated()
    with app.store.session() as session:
        states = probing.states(session)
    rows = [_row(t, states.get(t.name)) for t in app.targets.values()]
    if as_json:
        emit_json(rows)
        return
    tz = app.settings.tz
    table(
        "Targets",
        ["target", "kind", "every", "state", "latency ms", "checked", "detail"],
        [
            [
                r["name"],
                r["kind"],
                f"{r['interval_s']:g}s",
                r["state"],
                _ms(r["latency_s"]),
                local(r["checked_at"], tz),
                r["detail"],
            ]
            for r in rows
        ],
    )


def _row(target, state) -> dict:
    return {
        "name": target.name,
        "kind": target.kind,
        "interval_s": target.interval_s,
        "labels": target.labels,
        "state": state.status if state else "unknown",
        "latency_s": state.latency_s if state else None,
        "checked_at": state.checked_at if state else None,
        "detail": state.detail if state else "",
    }


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


@probe.command()
@click.argument("targets", nargs=-1)
@click.option(
    "--record",
    is_flag=True,
    help="Fold results into health state (may open or resolve incidents), as the daemon does.",
)
@click.option(
    "--nagios",
    is_flag=True,
    help="Plugin mode for Nagios/Icinga/Zabbix: one status line with perfdata; "
    "exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def run(
    ctx: click.Context, targets: tuple[str, ...], record: bool, nagios: bool, as_json: bool
) -> None:
    """Check TARGETS (default all) now. Exit 1 when any check fails."""
    if nagios:
        ctx.exit(_nagios(ctx, targets))
    app = get_app(ctx)
    chosen = _chosen(app, targets)
    results = asyncio.run(_check_all(chosen))
    if record:
        app.store.check_migrated()
        recorder = probing.Recorder(app)
        recorder.record_many(list(zip(chosen, results, strict=True)))
        recorder.flush(final=True)
    _print(chosen, results, as_json)
    if not all(r.ok for r in results):
        ctx.exit(1)


def _chosen(app, targets: tuple[str, ...]) -> list:
    unknown = [t for t in targets if t not in app.targets]
    if unknown:
        raise NotFound(f"unknown target '{unknown[0]}' (see 'hotline-ops probe list')")
    return [app.targets[n] for n in targets] if targets else list(app.targets.values())


def _nagios(ctx: click.Context, targets: tuple[str, ...]) -> int:
    """Never raises: a monitoring system must get a status line, and 3 for anything odd."""
    if len(targets) != 1:
        click.echo("UNKNOWN - --nagios takes exactly one TARGET")
        return nagios_out.UNKNOWN
    try:
        app = get_app(ctx)
        (target,) = _chosen(app, targets)
        result = asyncio.run(probing.check(target))
    except HotlineOpsError as exc:
        click.echo(f"UNKNOWN - {exc}")
        return nagios_out.UNKNOWN
    line, code = nagios_out.status_line(target.name, result)
    click.echo(line)
    return code


async def _check_all(targets):
    return await asyncio.gather(*(probing.check(t) for t in targets))


def _print(targets, results, as_json: bool) -> None:
    rows = [
        {
            "name": t.name,
            "kind": t.kind,
            "ok": r.ok,
            "latency_s": r.latency_s,
            "detail": r.detail,
            "metrics": r.metrics,
        }
        for t, r in zip(targets, results, strict=True)
    ]
    if as_json:
        emit_json(rows)
        return
    table(
        "Probe results",
        ["target", "kind", "ok", "latency ms", "detail"],
        [
            [r["name"], r["kind"], "yes" if r["ok"] else "NO", _ms(r["latency_s"]), r["detail"]]
            for r in rows
        ],
    )
