"""How incidents print: summaries, contract timers with countdowns, the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from hotline_ops.cli.output import local, table
from hotline_ops.core.durations import format_duration
from hotline_ops.services import incidents, outbox
from hotline_ops.services import runbooks as runbook_service


def summary(inc: Any) -> dict:
    return {
        "id": inc.id,
        "level": inc.level,
        "status": inc.status,
        "title": inc.title,
        "source": inc.source,
        "target": inc.target,
        "labels": inc.labels,
        "handling": inc.handling,
        "opened_at": inc.opened_at,
        "acknowledged_at": inc.acknowledged_at,
        "plan_started_at": inc.plan_started_at,
        "mitigated_at": inc.mitigated_at,
        "resolved_at": inc.resolved_at,
        "closed_at": inc.closed_at,
        "postmortem": inc.postmortem,
    }


def details(session: Any, inc: Any, now: datetime) -> dict:
    rows = incidents.deadlines_of(session, inc.id)
    return {
        **summary(inc),
        "policy": inc.policy,
        "deadlines": [deadline(d, now) for d in rows if d.purpose == "breach"],
        "warnings": [deadline(d, now) for d in rows if d.purpose == "warning"],
        "budget": [deadline(d, now) for d in rows if d.purpose == "budget"],
        "escalation": [deadline(d, now) for d in rows if d.purpose == "escalation"],
        "timeline": [event(e) for e in incidents.events_of(session, inc.id)],
        "deliveries": [delivery(m) for m in incidents.deliveries_of(session, inc.id)],
        "delivery_log": [attempt(a) for a in outbox.log_of(session, inc.id)],
    }


def attempt(a: Any) -> dict:
    return {
        "at": a.at,
        "outbox_id": a.outbox_id,
        "channel": a.channel,
        "person": a.person,
        "attempt": a.attempt,
        "status": a.status,
        "error": a.error,
    }


def deadline(d: Any, now: datetime) -> dict:
    return {
        "kind": d.kind,
        "clause": d.clause,
        "due_at": d.due_at,
        "met_at": d.met_at,
        "fired_at": d.fired_at,
        "fraction": d.fraction,
        "step": d.step,
        "state": _state(d),
        "remaining_s": (d.due_at - now).total_seconds(),
    }


def _state(d: Any) -> str:
    if d.cancelled_at is not None and d.fired_at is None:
        return "cancelled"
    if d.met_at is not None:
        return "met" if d.met_at <= d.due_at else "met late"
    return "breached" if d.fired_at is not None else "running"


def event(e: Any) -> dict:
    return {"at": e.at, "actor": e.actor, "kind": e.kind, "reason": e.reason, "data": e.data}


def delivery(m: Any) -> dict:
    return {
        "channel": m.channel,
        "dedup_key": m.dedup_key,
        "status": m.status,
        "attempts": m.attempts,
        "sent_at": m.sent_at,
        "last_error": m.last_error,
    }


def countdown(d: dict) -> str:
    if d["state"] != "running":
        return ""
    left = d["remaining_s"]
    return f"in {format_duration(left)}" if left >= 0 else f"overdue {format_duration(-left)}"


def print_timers(data: dict, tz: Any) -> None:
    table(
        "Contract timers",
        ["timer", "clause", "due", "state", "countdown"],
        [
            [d["kind"], d["clause"], local(d["due_at"], tz), d["state"], countdown(d)]
            for d in data["deadlines"] + data["budget"]
        ],
    )


def print_timeline(data: dict, tz: Any) -> None:
    table(
        "Timeline",
        ["at", "actor", "event", "reason"],
        [[local(e["at"], tz), e["actor"], e["kind"], e["reason"]] for e in data["timeline"]],
    )


def print_show(data: dict, tz: Any) -> None:
    click.echo(f"#{data['id']} L{data['level']} {data['status']}: {data['title']}")
    click.echo(
        f"opened {local(data['opened_at'], tz)}  source {data['source']}  "
        f"handling {data['handling']}"
    )
    print_runbook(data)
    print_timers(data, tz)
    print_timeline(data, tz)
    table(
        "Deliveries",
        ["channel", "status", "attempts", "sent", "error"],
        [
            [m["channel"], m["status"], m["attempts"], local(m["sent_at"], tz), m["last_error"]]
            for m in data["deliveries"]
        ],
    )
    table(
        "Delivery log",
        ["at", "channel", "person", "try", "status", "error"],
        [
            [local(a["at"], tz), a["channel"], a["person"], a["attempt"], a["status"], a["error"]]
            for a in data["delivery_log"]
        ],
    )


def runbooks_for(app: Any, inc: Any) -> dict:
    """The runbook that applies to the incident (runbooks/*.md ``applies_to``)."""
    return runbook_service.names_for_incident(app, inc)


def print_runbook(data: dict) -> None:
    found = data.get("runbooks") or {}
    if found.get("error"):
        click.echo(f"runbook: (runbooks/ unreadable: {found['error']})")
    elif found.get("runbook"):
        others = f"  (also: {', '.join(found['others'])})" if found["others"] else ""
        click.echo(f"runbook: {found['runbook']}  → hotline-ops runbook show {found['runbook']}"
                   f"{others}")
