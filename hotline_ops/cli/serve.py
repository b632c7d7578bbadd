"""``serve``: the daemon (probes, timer loop, outbox) and the HTTP server in one process."""

from __future__ import annotations

import signal

import click

from hotline_ops.app import setup_logging
from hotline_ops.cli.main import get_app
from hotline_ops.errors import ConfigError
from hotline_ops.settings import split_listen


@click.command()
@click.option("--listen", help="HOST:PORT (default from config, 127.0.0.1:8345).")
@click.option("--no-probes", is_flag=True, help="Run timers and outbox only.")
@click.pass_context
def serve(ctx: click.Context, listen: str | None, no_probes: bool) -> None:
    """Run probes, contract timers, the outbox and /healthz + /metrics until SIGTERM."""
    import uvicorn

    from hotline_ops.daemon import Daemon
    from hotline_ops.server import create_app

    app = get_app(ctx)
    try:
        host, port = split_listen(listen or app.settings.listen)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from exc
    setup_logging(app.settings)
    app.store.check_migrated()
    api = create_app(app, daemon=Daemon(app, probes=not no_probes))
    config = uvicorn.Config(
        api, host=host, port=port, log_config=None, timeout_graceful_shutdown=2, access_log=False
    )
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; this handler turns that
    # into exit status 0 so supervisors see a clean stop, not a death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.Server(config).run()
    finally:
        app.close()


def _exit_cleanly(_sig: int, _frame: object) -> None:
    raise SystemExit(0)
