"""``inspect lines``: the daily line inspection (M1.2), also run by `serve` at 08:00."""

from __future__ import annotations

import asyncio
from datetime import date

import click

from hotline_ops.cli.main import get_app
from hotline_ops.cli.output import emit_json, table
from hotline_ops.services import inspection, probing


@click.group("inspect")
def inspect_() -> None:
    """Inspections of the hotline's lines."""


@inspect_.command()
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Day to report on, site time (default: yesterday).",
)
@click.option("--no-probe", is_flag=True, help="Report from stored data only, no live checks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lines(ctx: click.Context, day, no_probe: bool, as_json: bool) -> None:
    """Probe every trunk, span and gateway now; figures for the day; store the record."""
    app = get_app(ctx)
    app.store.check_migrated()
    chosen: date | None = day.date() if day else None
    record = asyncio.run(
        inspection.inspect_lines(app, probing.Recorder(app), day=chosen, probe_now=not no_probe)
    )
    if as_json:
        emit_json(record)
        return
    _print(record)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f}"


def _live(entry: dict) -> str:
    live = entry.get("live")
    if not live:
        return "—"
    return ("up " if live["ok"] else "DOWN ") + (live.get("detail") or "")


def _print(record: dict) -> None:
    click.echo(f"Daily line inspection {record['day']} (record #{record['id']})")
    table(
        "Merged numbers",
        ["number", "name", "lines up now", "status"],
        [
            [n, v["name"], f"{v['lines_up_now']}/{v['lines']}", v["status"]]
            for n, v in sorted(record["numbers"].items())
        ],
    )
    table(
        "SIP trunks",
        ["trunk", "carrier", "avail", "RTT p50 ms", "p95 ms", "non-2xx", "down min", "now"],
        [
            [
                n,
                v["carrier"],
                _pct(v.get("availability")),
                _ms(v.get("rtt_p50_s")),
                _ms(v.get("rtt_p95_s")),
                v.get("not_healthy", 0),
                f"{v.get('down_s', 0) / 60:.1f}",
                _live(v),
            ]
            for n, v in sorted(record["trunks"].items())
        ],
    )
    table(
        "E1 spans",
        ["span", "gateway", "avail", "alarms now", "ES/SES/UAS 24h", "peak B-ch", "now"],
        [
            [
                n,
                v["gateway"],
                _pct(v.get("availability")),
                _alarms(v),
                _intervals(v),
                f"{_peak(v)}/{v['capacity']}",
                _live(v),
            ]
            for n, v in sorted(record["spans"].items())
        ],
    )
    table(
        "Incidents by segment",
        ["segment", "count", "by level"],
        [
            [s, v["count"], ", ".join(f"L{k}: {n}" for k, n in sorted(v["by_level"].items()))]
            for s, v in sorted(record["incidents_by_segment"].items())
        ],
    )


def _alarms(entry: dict) -> str:
    live = entry.get("live") or {}
    return live.get("classification") or "—"


def _intervals(entry: dict) -> str:
    metrics = (entry.get("live") or {}).get("metrics") or {}
    keys = ("e1_es_24h", "e1_ses_24h", "e1_uas_24h")
    if not all(k in metrics for k in keys):
        return "—"
    return "/".join(f"{metrics[k]:g}" for k in keys)


def _peak(entry: dict) -> str:
    value = (entry.get("peaks") or {}).get("b_channels_in_use")
    return "—" if value is None else f"{value:g}"
