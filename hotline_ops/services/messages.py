"""Notification texts: Jinja templates, zh-CN first (the purchaser reads them), times shown
in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from hotline_ops.core.durations import format_duration
from hotline_ops.store.models import Deadline, Incident

if TYPE_CHECKING:
    import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LEVEL_LABELS = {1: "一级", 2: "二级", 3: "三级"}
TIMER_LABELS = {
    "response": "响应",
    "plan": "启动应急预案",
    "resolve": "故障解决",
    "remote_resolve": "远程解决",
    "onsite_resolve": "现场解决",
}


@cache
def environment() -> jinja2.Environment:
    # Jinja is imported by the first text rendered, not by every command that imports this.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
        auto_reload=False,  # packaged templates: no stat() of the file per text rendered
    )


def local(at: datetime | None, tz: ZoneInfo) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in ``tz`` (isoformat up to the offset: half strftime's cost,
    and an alert's first notice shows several)."""
    return at.astimezone(tz).isoformat(" ", "seconds")[:19] if at else "—"


def incident_text(
    event: str,
    incident: Incident,
    deadlines: list[Deadline],
    *,
    site: str,
    tz: ZoneInfo,
    lang: str = "zh-CN",
    **extra: Any,
) -> tuple[str, str]:
    """(subject, text) for an incident event; subject is the first line."""
    ctx = _context(event, incident, deadlines, site, tz)
    ctx.update(
        reason=extra.get("reason", ""),
        actor=extra.get("actor", ""),
        percent=extra.get("percent", 0),
        budget_clause=extra.get("budget_clause", "P9.4"),
    )
    breach = extra.get("breach")
    ctx["breach"] = _deadline_view(breach, tz) if breach is not None else None
    text = _render(f"notify/incident.{lang}.txt.j2", ctx).strip()
    return text.splitlines()[0], text


def _render(name: str, ctx: dict[str, Any]) -> str:
    """``Template.render`` on a shared context: the texts use none of Jinja's globals
    (range, cycler …), and merging them into every context was a third of the render, on
    the path of an alert's first notice."""
    env = environment()
    template = env.get_template(name)
    try:
        return env.concat(template.root_render_func(template.new_context(ctx, shared=True)))
    except Exception:
        return env.handle_exception()  # as render does: the template's line in the traceback


def _context(event: str, inc: Incident, deadlines: list[Deadline], site: str, tz: ZoneInfo):
    duration = (inc.resolved_at - inc.opened_at).total_seconds() if inc.resolved_at else 0
    return {
        "event": event,
        "site": site,
        "incident": inc,
        "level_label": LEVEL_LABELS.get(inc.level, str(inc.level)),
        "level_name": inc.policy.get("name", ""),
        "opened_at": local(inc.opened_at, tz),
        "acknowledged_at": local(inc.acknowledged_at, tz),
        "resolved_at": local(inc.resolved_at, tz),
        "duration": format_duration(duration),
        "plan_started_at": local(inc.plan_started_at, tz),
        # Only the contract timers that run: warnings and cancelled rows are not deadlines.
        "deadlines": [
            _deadline_view(d, tz)
            for d in deadlines
            if d.purpose in (None, "breach") and d.cancelled_at is None and d.met_at is None
        ],
    }


def _deadline_view(deadline: Deadline, tz: ZoneInfo) -> dict[str, str]:
    return {
        "kind": deadline.kind,
        "label": TIMER_LABELS.get(deadline.kind, deadline.kind),
        "clause": deadline.clause,
        "due": local(deadline.due_at, tz),
    }


def incident_data(event: str, incident: Incident) -> dict[str, Any]:
    """The structured part of a notification (webhook receivers parse this, not the text)."""
    return {
        "event": event,
        "incident_id": incident.id,
        "level": incident.level,
        "status": incident.status,
        "title": incident.title,
        "target": incident.target,
        "source": incident.source,
        "labels": incident.labels,
        "opened_at": incident.opened_at.isoformat(),
        "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
    }


def for_event(
    app: Any,
    incident: Incident,
    event: str,
    deadlines: list[Deadline],
    suffix: str = "",
    **extra: Any,
) -> list[dict[str, Any]]:
    """The event's message (outbox fields) for every channel the incident's level
    snapshot names."""
    subject, text = incident_text(
        event, incident, deadlines, site=app.settings.site.name, tz=app.settings.tz, **extra
    )
    data = incident_data(event, incident)
    return [
        {
            "channel": channel,
            "incident_id": incident.id,
            "dedup_key": f"incident:{incident.id}:{event}{suffix}:{channel}",
            "subject": subject,
            "text": text,
            "data": data,
        }
        for channel in incident.policy.get("channels", [])
    ]
