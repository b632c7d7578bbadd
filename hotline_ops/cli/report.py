"""``report``: build, list, file (备案) and verify the reports the purchaser files."""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, local, table
from hotline_ops.core.periods import KINDS
from hotline_ops.services import reports


@click.group()
def report() -> None:
    """Reports: daily line inspection, monthly, quarterly, incident, annual acceptance,
    ticket KPIs (day, ISO week or month)."""


@report.command()
@click.argument("kind")
@click.option(
    "--period",
    required=True,
    help="2027-03-15 | 2027-03 | 2027-Q1 | 2027 | incident id | 2027-W11 (ticket-kpi).",
)
@click.option(
    "--format",
    "formats",
    default="pdf,xlsx,html",
    show_default=True,
    help="Comma-separated: pdf, xlsx, html.",
)
@click.option("--lang", default="zh-CN", show_default=True, help="zh-CN or en.")
@click.option("--json", "as_json", is_flag=True, help="Print the register row as JSON.")
@click.pass_context
def build(
    ctx: click.Context, kind: str, period: str, formats: str, lang: str, as_json: bool
) -> None:
    """Build KIND (daily, monthly, quarterly, incident, acceptance, ticket-kpi) for --period."""
    app = get_app(ctx)
    chosen = reports.parse_formats(formats)
    reports.parse_period(app, kind, period)  # bad arguments fail before the store is opened
    app.store.check_migrated()
    with _bar(as_json) as (bar, task):

        def step(name: str) -> None:
            bar.update(task, advance=1, description=name)

        row = reports.build(app, kind=kind, period=period, formats=chosen, lang=lang, progress=step)
    _show(app, row, as_json)


class _bar:
    """A rich progress bar on stderr (stdout stays clean for --json)."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
            transient=True,
        )

    def __enter__(self):
        self.progress.start()
        return self.progress, self.progress.add_task("start", total=len(reports.STEPS))

    def __exit__(self, *exc) -> None:
        self.progress.stop()


def _show(app, row, as_json: bool) -> None:
    data = reports.view(row, app.settings.tz)
    if as_json:
        emit_json(data)
        return
    click.echo(
        f"report #{row.id}: {row.title} {row.period} v{row.version} ({row.lang}), "
        f"{row.build_s:.2f}s"
    )
    for fmt, info in row.files.items():
        click.echo(f"  {fmt:<4} {reports.path_of(app, row, fmt)}  sha256 {info['sha256']}")


@report.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only this kind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """The register: every report version, its checksum and filing."""
    app = get_app(ctx)
    app.store.check_migrated()
    rows = reports.get_all(app, kind=kind)
    if as_json:
        emit_json([reports.view(r, app.settings.tz) for r in rows])
        return
    tz = app.settings.tz
    table(
        "Report register (备案)",
        ["id", "kind", "period", "v", "lang", "generated", "filed", "sha256"],
        [
            [
                f"#{r.id}",
                r.kind,
                r.period,
                r.version,
                r.lang,
                local(r.generated_at, tz),
                local(r.filed_at, tz),
                r.sha256[:16],
            ]
            for r in rows
        ],
    )


@report.command("file")
@click.argument("report_id", type=int)
@click.option("--to", "to", multiple=True, help="Recipient (default: the purchaser's list).")
@click.option("--receipt", help="Record a hand delivery with this receipt instead of mailing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def file_(
    ctx: click.Context, report_id: int, to: tuple[str, ...], receipt: str | None, as_json: bool
) -> None:
    """File REPORT_ID with the purchaser: mail PDF + XLSX, record filed-at and receipt."""
    app = get_app(ctx)
    app.store.check_migrated()
    row = reports.file(app, report_id=report_id, to=list(to) or None, receipt=receipt)
    if as_json:
        emit_json(reports.view(row, app.settings.tz))
        return
    click.echo(
        f"report #{row.id} filed at {local(row.filed_at, app.settings.tz)} to "
        f"{', '.join(row.delivered_to or []) or '—'}: {row.receipt}"
    )


@report.command()
@click.argument("report_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def verify(ctx: click.Context, report_id: int, as_json: bool) -> None:
    """Check every file of REPORT_ID against its registered sha256 (exit 1 if changed)."""
    app = get_app(ctx)
    app.store.check_migrated()
    results = reports.verify(app, report_id=report_id)
    if as_json:
        emit_json(results)
        return
    for r in results:
        click.echo(f"ok {r['format']:<4} {r['path']} sha256 {r['expected']}")
