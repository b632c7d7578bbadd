"""Regenerate ``reports/examples/*.json`` (the example contexts of the golden tests) and the
page images in ``docs/reports/`` from the fixture year:

    .venv/bin/python -m tests.reports.make_examples
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from hotline_ops.app import build_app
from hotline_ops.clock import FixedClock
from hotline_ops.core import periods
from hotline_ops.reports import builders, output
from hotline_ops.services import reports
from hotline_ops.settings import load_settings
from tests.reports import fixture

EXAMPLES = {
    "daily": "2027-03-10",
    "monthly": "2027-03",
    "quarterly": "2027-Q2",
    "incident": "4",
    "acceptance": "2027",
}
DOCS = fixture.ROOT / "docs" / "reports"
NOW = fixture.local(2028, 1, 2, 10)


def fixture_app(tmp: Path, *, breach: bool = True):
    clock = FixedClock(fixture.local(2027, 1, 1))
    app = build_app(load_settings(fixture.site(tmp), env={}), clock=clock)
    app.store.upgrade()
    fixture.fill(app, clock, breach=breach)
    clock.set(NOW)
    return app, clock


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app, _ = fixture_app(Path(tmp))
        reports.build(app, kind="daily", period=EXAMPLES["daily"], formats=["html"])
        DOCS.mkdir(parents=True, exist_ok=True)
        for kind, key in EXAMPLES.items():
            period = periods.parse(kind, key, app.settings.tz)
            ctx = builders.build(app, period, NOW)
            path = fixture.REPORTS / "examples" / f"{kind}.json"
            path.write_text(json.dumps(ctx, ensure_ascii=False, indent=1) + "\n", "utf-8")
            pdf = Path(tmp) / f"{kind}.pdf"
            pdf.write_bytes(output.pdf(output.html(ctx, fixture.REPORTS), fixture.REPORTS))
            _pages(pdf, kind)
        app.close()
        _ticket_kpi(Path(tmp))


def _pages(pdf: Path, stem: str) -> None:
    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "2", pdf, DOCS / stem], check=True
    )


def _ticket_kpi(tmp: Path) -> None:
    """The ticket KPI export of the ticket fixture week (no example context: the golden
    tests render it from the fixture in tests/reports/test_ticket_kpi.py)."""
    from tests.reports import ticket_fixture

    clock = FixedClock(ticket_fixture.NOW)
    app = ticket_fixture.ticket_app(tmp / "tickets", clock)
    clock.set(ticket_fixture.NOW)
    period = periods.parse("ticket-kpi", "2026-W43", app.settings.tz)
    ctx = builders.build(app, period, ticket_fixture.NOW)
    pdf = tmp / "ticket-kpi.pdf"
    pdf.write_bytes(output.pdf(output.html(ctx, fixture.REPORTS), fixture.REPORTS))
    _pages(pdf, "ticket-kpi")
    app.close()


if __name__ == "__main__":
    main()
