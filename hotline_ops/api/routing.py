"""Acknowledgement over HTTP: ``POST /api/incidents/{id}/ack`` (token with the ack
permission) and the signed link in a page, ``/api/ack/{token}``.

The link needs no API token: its HMAC signature (HOTLINE_OPS_SECRET_ACK) is the credential.
GET only shows what would be acknowledged, with a button that POSTs: chat apps and mail
scanners fetch links to preview them, and a preview must not acknowledge a fault that
nobody has read.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from hotline_ops.api.auth import Guard
from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.services import ack, incidents
from hotline_ops.services.auth import ACK


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=2000)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def router(app: Any, guard: Guard) -> APIRouter:
    routes = APIRouter(prefix="/api")

    @routes.post("/incidents/{incident_id}/ack", dependencies=guard.depends(ACK))
    def ack_incident(incident_id: int, request: Request, body: AckBody | None = None) -> dict:
        token = getattr(request.state, "token", None)
        actor = f"api:{token.name}" if token is not None else "api"
        inc = incidents.acknowledge(
            app, incident_id=incident_id, actor=actor, reason=body.reason if body else ""
        )
        return {"id": inc.id, "status": inc.status, "acknowledged_at": inc.acknowledged_at}

    @routes.get("/ack/{token}", response_class=HTMLResponse)
    def ack_link_page(token: str) -> HTMLResponse:
        try:
            claim = ack.peek(app, token)
        except BadRequest as exc:
            return _page("确认链接无效", f"<p>{escape(str(exc))}</p>", 403)
        form = (
            f"<p>事件 #{claim.incident_id}，确认人 {escape(claim.person)}。</p>"
            '<form method="post"><button type="submit">确认接手（停止升级）</button></form>'
        )
        return _page("确认接手故障", form)

    @routes.post("/ack/{token}", response_class=HTMLResponse)
    def ack_link(token: str) -> HTMLResponse:
        try:
            inc, claim = ack.acknowledge(app, token)
        except BadRequest as exc:
            return _page("确认链接无效", f"<p>{escape(str(exc))}</p>", 403)
        except IllegalTransition as exc:
            return _page("无需确认", f"<p>{escape(str(exc))}</p>", 409)
        text = f"<p>事件 #{inc.id} 已由 {escape(claim.person)} 确认，升级已停止。</p>"
        return _page("已确认", text)

    return routes
