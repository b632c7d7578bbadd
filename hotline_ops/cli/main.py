"""The ``hotline-ops`` command group. The App is built lazily, on the first command that
needs it, so ``--help`` works without a config and tests can pass ``obj=app``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from hotline_ops import __version__
from hotline_ops.app import App, build_app
from hotline_ops.errors import HotlineOpsError


class Cli(click.Group):
    """Maps every HotlineOpsError to one line on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HotlineOpsError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


class Lazy:
    """Holds the --config path until a command asks for the App."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self.app: App | None = None

    def get(self) -> App:
        if self.app is None:
            self.app = build_app(config=self.config)
        return self.app


def get_app(ctx: click.Context) -> App:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, App) else obj.get()


@click.group(cls=Cli)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path),
    envvar="HOTLINE_OPS_CONFIG",
    help="Root config file (default ./hotline-ops.yaml).",
)
@click.version_option(__version__, prog_name="hotline-ops")
@click.pass_context
def cli(ctx: click.Context, config: Path | None) -> None:
    """hotline-ops: probes, contract-timed incidents and alerting for the 12345 hotline."""
    if not isinstance(ctx.obj, App):
        ctx.obj = Lazy(config)


def _register() -> None:
    from hotline_ops.cli import db, incident, inspect, probe, serve, silence

    cli.add_command(db.init)
    cli.add_command(db.db)
    cli.add_command(serve.serve)
    cli.add_command(probe.probe)
    cli.add_command(incident.incident)
    cli.add_command(inspect.inspect_)
    cli.add_command(silence.silence)
    from hotline_ops.cli import oncall, routing

    cli.add_command(oncall.oncall_, name="oncall")
    cli.add_command(routing.notify)
    cli.add_command(routing.selfcheck)
    from hotline_ops.cli import ticket

    cli.add_command(ticket.ticket)
    _register_runbooks()


def _register_runbooks() -> None:
    from hotline_ops.cli import runbook

    cli.add_command(runbook.runbook)


_register()


def _register_reports() -> None:
    from hotline_ops.cli import report

    cli.add_command(report.report)
    from hotline_ops.cli import evidence

    cli.add_command(evidence.evidence_, name="evidence")


_register_reports()


def main() -> None:
    sys.exit(cli.main(prog_name="hotline-ops"))
