"""A ticket fixture week (2026-W43, 19–25 October 2026, in October) for the ticket KPI
reports: two tickets and four call records with exact outcomes.

- ticket A (Mon 19th 10:00): dispatched after 10 min, closed, evaluated, called back in time;
- ticket B (Tue 20th 10:00, same caller and subject: a repeat call): dispatched after 31 min
  (its P3.1 timer fired), closed, never evaluated, called back after 25 h (P7.1 fired);
  its warnings fire on time (the timer loop runs at each warning);
- calls on Mon 19th: answered after 5 s, 10 s and 20 s, and one abandoned.

So: dispatch on time 1/2 (longest 31 min), evaluation coverage 1/2 (< 90 %), callback on
time 1/2, closing pass 2/2, answer rate 3/4, 15 s answer rate 2/3, repeat calls 1/2.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hotline_ops.app import App, build_app
from hotline_ops.clock import FixedClock
from hotline_ops.services import timers as timer_loop
from hotline_ops.settings import load_settings
from hotline_ops.tickets import cdr, service
from tests.reports.fixture import REPORTS, local
from tests.tickets.helpers import HAPPY, body, ticket_site, walk

NOW = local(2026, 11, 2, 9)  # reports are built after the month


def site(tmp: Path) -> Path:
    return ticket_site(tmp / "site", settings={"paths": {"reports": str(REPORTS)}})


def empty_app(tmp: Path, clock: FixedClock, url: str | None = None) -> App:
    env = {"HOTLINE_OPS_DATABASE_URL": url} if url else {}
    clock.set(local(2026, 10, 1))
    app = build_app(load_settings(site(tmp), env=env), clock=clock)
    app.store.upgrade()
    return app


def fill(app: App, clock: FixedClock) -> None:
    _ticket_a(app, clock)
    _ticket_b(app, clock)
    calls = [
        ("c1", "10:00:00", "10:00:05"),
        ("c2", "10:01:00", "10:01:10"),
        ("c3", "10:02:00", "10:02:20"),
        ("c4", "10:03:00", None),
    ]
    cdr.store(
        app,
        [
            cdr.CallIn(
                call_id=cid,
                offered_at=f"2026-10-19T{offered}+08:00",
                answered_at=f"2026-10-19T{answered}+08:00" if answered else None,
            )
            for cid, offered, answered in calls
        ],
    )
    clock.set(NOW)


def _ticket_a(app: App, clock: FixedClock) -> None:
    clock.set(local(2026, 10, 19, 10))
    ticket = service.create(app, body=body(), actor="s")
    walk(app, ticket.id, HAPPY[:1])
    clock.advance(timedelta(minutes=10))
    walk(app, ticket.id, HAPPY[1:])


def _ticket_b(app: App, clock: FixedClock) -> None:
    clock.set(local(2026, 10, 20, 10))
    ticket = service.create(app, body=body(), actor="s")
    walk(app, ticket.id, HAPPY[:1])
    # The 30-min dispatch timer warns at 15 min (half its span, P8.2) and breaches at 30.
    for minutes in (15, 16):
        clock.advance(timedelta(minutes=minutes))
        timer_loop.fire_due(app)
    walk(app, ticket.id, HAPPY[1:9])  # dispatched at 31 min, then to close
    # The 24 h callback timer warns at 23 h and breaches at 24 h.
    for hours in (23, 2):
        clock.advance(timedelta(hours=hours))
        timer_loop.fire_due(app)
    walk(app, ticket.id, HAPPY[10:])  # called back at 25 h, never evaluated


def ticket_app(tmp: Path, clock: FixedClock, url: str | None = None) -> App:
    app = empty_app(tmp, clock, url)
    fill(app, clock)
    return app
