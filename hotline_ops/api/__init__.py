"""The HTTP API under /api: routers, RBAC and how errors are answered.

Errors are JSON ``{"error": "<field or object>: <what is wrong>"}``. A malformed body is 400,
not FastAPI's usual 422: Alertmanager's own API answers 400 there and its clients expect it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from hotline_ops.api import alerts, routing
from hotline_ops.api.auth import Guard, denied
from hotline_ops.errors import BadRequest, HotlineOpsError, IllegalTransition, NotFound, StoreError
from hotline_ops.services.auth import Denied
from hotline_ops.tickets import api as ticket_api

PREFIX = "/api/"
STATUS = {BadRequest: 400, NotFound: 404, IllegalTransition: 409, StoreError: 503}


def mount(api: FastAPI, app: Any) -> Guard:
    """Add the /api routes and error handlers to ``api``; return the Guard so the server can
    protect its own routes (/metrics, the demo sink) with the same tokens."""
    guard = Guard(app)
    api.add_exception_handler(Denied, denied)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HotlineOpsError, _failed)
    api.include_router(alerts.router(app, guard))
    api.include_router(routing.router(app, guard))
    api.include_router(ticket_api.router(app))  # /api/tickets…: ticket roles (issue 6/7)
    return guard


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if not request.url.path.startswith(PREFIX):
        return await request_validation_exception_handler(request, exc)
    problems = [_problem(e) for e in exc.errors()]
    return JSONResponse({"error": problems[0], "errors": problems}, status_code=400)


def _problem(error: dict[str, Any]) -> str:
    """``alerts.0.labels: Field required``: the location as a dotted path without the
    ``body`` FastAPI puts first."""
    loc = [str(p) for p in error.get("loc", ())]
    if loc[:1] == ["body"] and len(loc) > 1:
        loc = loc[1:]
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        return f"body: invalid JSON: {error.get('ctx', {}).get('error', msg)}"
    return f"{'.'.join(loc)}: {msg}"


def _failed(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HotlineOpsError)
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    return JSONResponse({"error": str(exc)}, status_code=status)
