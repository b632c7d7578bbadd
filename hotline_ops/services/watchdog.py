"""Watching the watcher: a dead-man heartbeat and ``selfcheck``.

The heartbeat pings a URL (healthchecks.io style) on a cadence while every daemon loop is
fresh, and pings ``<url>/fail`` naming the stalled loops otherwise; when hotline-ops dies
altogether the pings stop and the external service alerts. ``selfcheck`` (cron, systemd
timer, Nagios) reads the loop ages from /healthz and alerts through a channel itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from hotline_ops.errors import ChannelError, ConfigError
from hotline_ops.notify.base import Message
from hotline_ops.services import outbox

log = logging.getLogger(__name__)


def stalled(ages: dict[str, float | None], stall_after_s: float) -> dict[str, float | None]:
    """Loops that never ran (None) or last ran more than ``stall_after_s`` ago."""
    return {name: age for name, age in ages.items() if age is None or age > stall_after_s}


def describe(stuck: dict[str, float | None]) -> str:
    return ", ".join(
        f"{name} (never ran)" if age is None else f"{name} ({age:.0f}s ago)"
        for name, age in sorted(stuck.items())
    )


def heartbeat_url(app: Any) -> str | None:
    name = app.settings.watchdog.heartbeat_url_secret
    if name is None:
        return None
    url = app.settings.secret(name)
    if not url:
        raise ConfigError(f"watchdog.heartbeat_url_secret: secret '{name}' is not set")
    return url


def beat(app: Any, ages: dict[str, float | None], *, transport: Any = None) -> str:
    """One heartbeat; returns "ok" or "fail" (what was pinged). Network errors propagate as
    httpx errors for the caller to log; the next beat tries again."""
    url = heartbeat_url(app)
    if url is None:
        return "off"
    cfg = app.settings.watchdog
    stuck = stalled(ages, cfg.stall_after_s)
    target = url.rstrip("/") + "/fail" if stuck else url
    body = f"stalled: {describe(stuck)}" if stuck else "ok"
    with httpx.Client(timeout=cfg.timeout_s, transport=transport) as client:
        if cfg.heartbeat_method == "GET":
            response = client.get(target)
        else:
            response = client.post(target, content=body.encode())
    response.raise_for_status()
    return "fail" if stuck else "ok"


@dataclass
class SelfCheck:
    url: str
    ok: bool
    problem: str = ""
    loops: dict[str, float | None] = field(default_factory=dict)
    stalled: dict[str, float | None] = field(default_factory=dict)
    alerted: str | None = None


def healthz_url(app: Any) -> str:
    return f"http://{app.settings.listen}/healthz"


def selfcheck(
    app: Any, *, url: str | None = None, alert: str | None = None, transport: Any = None
) -> SelfCheck:
    """Read /healthz; a stalled loop, an unhealthy store or no answer is a failure, alerted
    through ``alert`` (default ``watchdog.alert_channel``)."""
    cfg = app.settings.watchdog
    result = SelfCheck(url or healthz_url(app), ok=True)
    try:
        with httpx.Client(timeout=cfg.timeout_s, transport=transport) as client:
            response = client.get(result.url)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        result.ok, result.problem = False, f"daemon not answering at {result.url}: {exc}"
    else:
        _judge(result, body, cfg.stall_after_s)
    channel = alert or cfg.alert_channel
    if not result.ok and channel:
        result.alerted = _alert(app, channel, result)
    return result


def _judge(result: SelfCheck, body: dict, stall_after_s: float) -> None:
    result.loops = body.get("loops") or {}
    if body.get("status") != "ok":
        result.ok, result.problem = (
            False,
            f"healthz status {body.get('status')}: {body.get('error')}",
        )
        return
    if not result.loops:
        result.ok, result.problem = False, "healthz reports no daemon loops (is `serve` running?)"
        return
    result.stalled = stalled(result.loops, stall_after_s)
    if result.stalled:
        result.ok, result.problem = False, f"stalled loop(s): {describe(result.stalled)}"


def _alert(app: Any, channel: str, result: SelfCheck) -> str:
    now: datetime = app.clock.now()
    site = app.settings.site.name
    subject = f"【{site}·自检告警】hotline-ops 运行异常"
    text = f"{subject}\n问题：{result.problem}\n检查地址：{result.url}\n时间：{_local(app, now)}"
    message = Message(f"selfcheck:{now.isoformat()}", subject, text, {"event": "selfcheck"})
    try:
        outbox.send_now(app, channel, message)
    except ChannelError as exc:
        log.error("selfcheck alert via %s failed: %s", channel, exc)
        return f"failed: {exc}"
    return "sent"


def _local(app: Any, at: datetime) -> str:
    return at.astimezone(app.settings.tz).strftime("%Y-%m-%d %H:%M:%S")
