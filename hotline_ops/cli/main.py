"""The ``hotline-ops`` command group. The App is built lazily, on the first command that
needs it, so ``--help`` works without a config and tests can pass ``obj=app``.

Subcommands are imported lazily too: a command's module (and the services, reports or
server libraries it pulls in) is imported only when that command runs, so ``--help`` and
the everyday commands an on-call engineer types start in well under a second or two."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hotline_ops import __version__
from hotline_ops.errors import HotlineOpsError

if TYPE_CHECKING:
    from hotline_ops.app import App

# name -> (module, attribute, short help). ``--help`` lists the commands from this table
# without importing them; tests/cli/test_lazy_commands.py checks that each short help is
# what click makes of the command's real docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "db": ("hotline_ops.cli.db", "db", "Store maintenance."),
    "evidence": (
        "hotline_ops.cli.evidence",
        "evidence_",
        "Evidence register: documents for the annual acceptance pack (training, changes …).",
    ),
    "incident": ("hotline_ops.cli.incident", "incident", "Incidents and their contract timers."),
    "init": (
        "hotline_ops.cli.db",
        "init",
        "Validate config and content, create the data dir, migrate the store.",
    ),
    "inspect": ("hotline_ops.cli.inspect", "inspect_", "Inspections of the hotline's lines."),
    "notify": (
        "hotline_ops.cli.routing",
        "notify",
        "Notifications: test a channel for a person.",
    ),
    "oncall": (
        "hotline_ops.cli.oncall",
        "oncall_",
        "On-call roster: who is on call, coverage, overrides, the 7×24 check.",
    ),
    "probe": ("hotline_ops.cli.probe", "probe", "Probe targets (probes/*.yaml)."),
    "report": (
        "hotline_ops.cli.report",
        "report",
        "Reports: daily line inspection, monthly, quarterly, incident, annual acceptance, "
        "ticket KPIs (day, ISO week or month).",
    ),
    "runbook": (
        "hotline_ops.cli.runbook",
        "runbook",
        "Runbooks: what to do for each kind of incident, with Ansible playbooks.",
    ),
    "selfcheck": (
        "hotline_ops.cli.routing",
        "selfcheck",
        "Exit 1 naming the loop when a daemon loop stalls (or the daemon does not answer).",
    ),
    "serve": (
        "hotline_ops.cli.serve",
        "serve",
        "Run probes, contract timers, the outbox and /healthz + /metrics until SIGTERM.",
    ),
    "silence": (
        "hotline_ops.cli.silence",
        "silence",
        "Silences: alerts they match are stored but open no incident.",
    ),
    "ticket": (
        "hotline_ops.cli.ticket",
        "ticket",
        "12345 work orders (tickets) and their KPIs.",
    ),
}


class Cli(click.Group):
    """Maps every HotlineOpsError to one line on stderr and the error's exit code, and
    imports each subcommand from COMMANDS only when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _help = COMMANDS[cmd_name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Stand-ins carrying only the short help, laid out by click itself, so that the
        # listing is what it was with the real commands but imports none of them.
        stubs = [click.Command(name, help=text) for name, (_m, _a, text) in COMMANDS.items()]
        click.Group(commands=stubs).format_commands(ctx, formatter)

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
            # Settings, content and the store's libraries load here, not on `--help`.
            from hotline_ops.app import build_app

            self.app = build_app(config=self.config)
        return self.app


def _is_app(obj: object) -> bool:
    """``isinstance(obj, App)`` without importing hotline_ops.app: while that module is
    not loaded, nothing can be an App."""
    app_module = sys.modules.get("hotline_ops.app")
    return app_module is not None and isinstance(obj, app_module.App)


def get_app(ctx: click.Context) -> App:
    obj = ctx.find_root().obj
    return obj if _is_app(obj) else obj.get()


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
    if not _is_app(ctx.obj):
        ctx.obj = Lazy(config)


def main() -> None:
    sys.exit(cli.main(prog_name="hotline-ops"))
