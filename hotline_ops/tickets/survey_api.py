"""Satisfaction routes (P6.1): the IVR's keypresses and the caller's SMS link.

``POST /api/tickets/{id}/ivr-evaluation`` takes the IVR integration's token (role ``ivr``).
``/api/survey/{token}`` needs no API token: the caller has none, the link's HMAC signature
is the credential. GET only shows the form (SMS apps fetch links to preview them; a preview
must not evaluate), POST records it once.
"""

import json
from collections.abc import Callable
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from hotline_ops.core import ticket_roles as roles
from hotline_ops.errors import BadRequest, IllegalTransition
from hotline_ops.tickets import survey
from hotline_ops.tickets.schemas import IvrIn

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_FORM_BYTES = 4096


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status)


def _refused(exc: Exception) -> HTMLResponse:
    if isinstance(exc, IllegalTransition):
        return _page("无法评价", f"<p>{escape(str(exc))}</p>", 409)
    if str(exc).startswith("token:"):
        return _page("评价链接无效", f"<p>链接无效或已过期（{escape(str(exc))}）。</p>", 403)
    return _page("请完整填写", f"<p>{escape(str(exc))}</p>", 400)


def _form(app: Any, number: str) -> str:
    cfg = app.ticket_content.survey
    rows = []
    for key, label in cfg.items():
        choices = "".join(
            f'<label><input type="radio" name="{escape(key)}" value="{score}" required> '
            f"{escape(cfg.scale.labels[score])}</label> "
            for score in (3, 2, 1)
        )
        rows.append(f"<fieldset><legend>{escape(label)}</legend>{choices}</fieldset>")
    return (
        f"<p>工单{escape(number)}已办结，请您对本次办理进行评价（每张工单只能评价一次）。</p>"
        f'<form method="post">{"".join(rows)}<button type="submit">提交评价</button></form>'
    )


async def _read_form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequest(f"body: larger than {MAX_FORM_BYTES} bytes")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise BadRequest("body: not JSON") from exc
        if not isinstance(data, dict):
            raise BadRequest("body: a JSON object is required")
        return {str(k): str(v) for k, v in data.items()}
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in fields.items()}


def add_routes(routes: APIRouter, app: Any, require: Callable[[str], Any]) -> None:
    @routes.post("/tickets/{ticket_id}/ivr-evaluation")
    def ivr_evaluation(
        ticket_id: TicketId, body: IvrIn, caller: Annotated[Any, require(roles.IVR)]
    ) -> dict[str, Any]:
        """IVR keypress evaluation (P6.1): one key per item as tickets/satisfaction.yaml
        ``ivr`` says (1=满意 2=基本满意 3=不满意 by default); recorded with via = ivr."""
        ticket = survey.record_ivr(app, ticket_id=ticket_id, body=body, actor=caller.name)
        # Only what the IVR needs to confirm: it has no right to read the ticket.
        return {
            "id": ticket.id,
            "number": ticket.number,
            "status": ticket.status,
            "satisfaction": ticket.satisfaction,
        }

    @routes.get("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
    def survey_page(token: str) -> HTMLResponse:
        try:
            ticket, _claim = survey.open_link(app, token)
        except (BadRequest, IllegalTransition) as exc:
            return _refused(exc)
        return _page("满意度评价", _form(app, ticket.number))

    @routes.post("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def survey_submit(token: str, request: Request) -> HTMLResponse:
        try:
            form = await _read_form(request)
            ticket = await run_in_threadpool(survey.record_sms, app, token=token, form=form)
        except (BadRequest, IllegalTransition) as exc:
            return _refused(exc)
        return _page("感谢您的评价", f"<p>工单{escape(ticket.number)}的评价已记录。</p>")
