"""The daily line inspection (M1.2, R1.5): probe every trunk, span and gateway now, gather
the day's figures per merged number and trunk, store the record.

The record is what the daily inspection report (issue [5/7]) renders; everything in it is
measured: live checks, 5-minute rollups, state changes, incidents.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hotline_ops.content import Target
from hotline_ops.core.availability import RollupRow, down_seconds, figures, local_day
from hotline_ops.services import probing
from hotline_ops.store.models import Incident, Inspection, ProbeRollup, StateChange, TargetState

LINE_COMPONENTS = {"trunk", "span", "gateway"}


def line_targets(app: Any) -> list[Target]:
    return [t for t in app.targets.values() if t.labels.get("component") in LINE_COMPONENTS]


async def inspect_lines(
    app: Any,
    recorder: probing.Recorder,
    *,
    day: date | None = None,
    trigger: str = "cli",
    probe_now: bool = True,
) -> dict:
    """Run the inspection for ``day`` (default: yesterday, site time) and store it."""
    now = app.clock.now()
    day = day or (now.astimezone(app.settings.tz).date() - timedelta(days=1))
    live = await _live(app, recorder) if probe_now else {}
    await asyncio.to_thread(recorder.flush, final=True)
    record = await asyncio.to_thread(_gather, app, day, now, live)
    record_id = await asyncio.to_thread(_store, app, day, now, trigger, record)
    return {"id": record_id, **record}


async def _live(app: Any, recorder: probing.Recorder) -> dict[str, dict]:
    targets = line_targets(app)
    results = await asyncio.gather(*(probing.check(t) for t in targets))
    await asyncio.to_thread(recorder.record_many, list(zip(targets, results, strict=True)))
    return {
        t.name: {
            "ok": r.ok,
            "detail": r.detail,
            "latency_s": r.latency_s,
            "classification": r.classification,
            "metrics": r.metrics,
        }
        for t, r in zip(targets, results, strict=True)
    }


def _gather(app: Any, day: date, now: datetime, live: dict[str, dict]) -> dict:
    start, end = local_day(day, app.settings.tz)
    inv = app.content.inventory
    with app.store.session() as session:
        per_target = {
            t.name: _target_figures(session, t, start, end, live.get(t.name))
            for t in line_targets(app)
        }
        incidents = _incidents_by_segment(session, start, end)
    trunks = {
        name: {
            **per_target.get(f"trunk:{name}", {}),
            "carrier": spec.carrier,
            "capacity": spec.channels,
            "numbers": inv.numbers_on("trunks", name),
        }
        for name, spec in inv.trunks.items()
    }
    spans = {
        name: {
            **per_target.get(f"span:{name}", {}),
            "gateway": spec.gateway,
            "capacity": spec.channels,
            "numbers": inv.numbers_on("spans", name),
        }
        for name, spec in inv.spans.items()
    }
    return {
        "day": day.isoformat(),
        "period": [start.isoformat(), end.isoformat()],
        "inspected_at": now.isoformat(),
        "numbers": _numbers(inv, trunks, spans),
        "trunks": trunks,
        "spans": spans,
        "gateways": {n: per_target.get(f"gateway:{n}", {}) for n in inv.gateways},
        "incidents_by_segment": incidents,
    }


def _target_figures(
    session: Any, target: Target, start: datetime, end: datetime, live: dict | None
) -> dict:
    rows = session.scalars(
        select(ProbeRollup).where(
            ProbeRollup.target == target.name, ProbeRollup.bucket >= start, ProbeRollup.bucket < end
        )
    ).all()
    fig = figures(
        [
            RollupRow(
                r.count, r.failures, r.rtt_p50, r.rtt_p95, r.rtt_max, dict(r.peaks), dict(r.classes)
            )
            for r in rows
        ]
    )
    return {
        "target": target.name,
        "segment": target.labels.get("segment", ""),
        "checks": fig.checks,
        "failures": fig.failures,
        "availability": fig.availability,
        "rtt_p50_s": fig.rtt_p50,
        "rtt_p95_s": fig.rtt_p95,
        "rtt_max_s": fig.rtt_max,
        "not_healthy": fig.not_healthy,
        "classes": fig.classes,
        "peaks": fig.peaks,
        "down_s": _down(session, target.name, start, end),
        "live": live,
    }


def _down(session: Any, name: str, start: datetime, end: datetime) -> float:
    flips = session.execute(
        select(StateChange.at, StateChange.new).where(
            StateChange.target == name,
            StateChange.kind == "flip",
            StateChange.at >= start,
            StateChange.at < end,
        )
    ).all()
    before = session.scalar(
        select(StateChange.new)
        .where(StateChange.target == name, StateChange.kind == "flip", StateChange.at < start)
        .order_by(StateChange.at.desc())
        .limit(1)
    )
    return down_seconds([(at, new) for at, new in flips], start, end, before == "down")


def _incidents_by_segment(session: Any, start: datetime, end: datetime) -> dict[str, dict]:
    rows = session.scalars(
        select(Incident).where(Incident.opened_at >= start, Incident.opened_at < end)
    ).all()
    out: dict[str, dict] = {}
    for inc in rows:
        segment = (inc.labels or {}).get("segment", "other")
        entry = out.setdefault(segment, {"count": 0, "by_level": {}, "ids": []})
        entry["count"] += 1
        entry["by_level"][str(inc.level)] = entry["by_level"].get(str(inc.level), 0) + 1
        entry["ids"].append(inc.id)
    return out


def _numbers(inv: Any, trunks: dict, spans: dict) -> dict[str, dict]:
    out = {}
    for number, spec in inv.numbers.items():
        lines = [trunks[t] for t in spec.trunks] + [spans[s] for s in spec.spans]
        live_ok = [bool(line.get("live") and line["live"]["ok"]) for line in lines]
        out[number] = {
            "name": spec.name,
            "trunks": spec.trunks,
            "spans": spec.spans,
            "lines_up_now": sum(live_ok),
            "lines": len(lines),
            "status": "ok" if all(live_ok) and lines else ("degraded" if any(live_ok) else "down"),
        }
    return out


def _store(app: Any, day: date, now: datetime, trigger: str, record: dict) -> int:
    with app.store.session() as session:
        row = Inspection(
            kind="lines", day=day.isoformat(), created_at=now, trigger=trigger, data=record
        )
        session.add(row)
        session.flush()
        return row.id


def latest(app: Any, day: date) -> Inspection | None:
    with app.store.session() as session:
        return session.scalar(
            select(Inspection)
            .where(Inspection.kind == "lines", Inspection.day == day.isoformat())
            .order_by(Inspection.id.desc())
            .limit(1)
        )


def current_states(app: Any) -> dict[str, TargetState]:
    with app.store.session() as session:
        return probing.states(session)
