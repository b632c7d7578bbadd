"""The HTTP API under /api: routers, RBAC and how errors are answered.

Errors are JSON ``{"error": "<field or object>: <what is wrong>"}``. A malformed body is 400,
not FastAPI's usual 422: Alertmanager's own API answers 400 there and its clients expect it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from hotline_ops.api import alerts, routing
from hotline_ops.api.auth import Guard, denied
from hotline_ops.errors import (
    BadRequest,
    HotlineOpsError,
    IllegalTransition,
    NotFound,
    StoreError,
    TooLarge,
)
from hotline_ops.services.auth import Denied
from hotline_ops.tickets import api as ticket_api

log = logging.getLogger(__name__)
PREFIX = "/api/"
STATUS = {TooLarge: 413, BadRequest: 400, NotFound: 404, IllegalTransition: 409, StoreError: 503}


class Api(FastAPI):
    """FastAPI with a shortcut for the alert ingest routes (``alerts.IngestRoutes``): they
    are answered before Starlette's middleware and routing, with the same exception
    handlers, so a request costs little more than its validation and journal commit."""

    hot: alerts.IngestRoutes | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        hot = self.hot
        if hot is None or scope["type"] != "http" or not hot.handles(scope):
            await super().__call__(scope, receive, send)
            return
        try:
            response = await hot.respond(scope, receive)
        except ClientDisconnect:
            return  # nothing was stored; there is no one to answer
        except Exception as exc:
            response = await self._handled(scope, receive, exc)
        await response(scope, receive, send)

    async def _handled(self, scope: Any, receive: Any, exc: Exception) -> Response:
        """The answer the app's exception handlers give ``exc`` (500 and a log line for an
        exception none of them handles, as ServerErrorMiddleware does)."""
        for kind in type(exc).__mro__:
            handler = self.exception_handlers.get(kind)
            if handler is not None:
                answer = handler(Request(scope, receive), exc)
                return await answer if inspect.isawaitable(answer) else answer
        log.error("unhandled error on %s", scope["path"], exc_info=exc)
        return JSONResponse({"error": "internal server error"}, status_code=500)


def mount(api: FastAPI, app: Any) -> Guard:
    """Add the /api routes and error handlers to ``api``; return the Guard so the server can
    protect its own routes (/metrics, the demo sink) with the same tokens."""
    guard = Guard(app)
    api.add_exception_handler(Denied, denied)
    api.add_exception_handler(RequestValidationError, _invalid)
    api.add_exception_handler(HotlineOpsError, _failed)
    hot = alerts.IngestRoutes(app, guard)
    api.include_router(alerts.router(app, guard, hot))
    if isinstance(api, Api):
        api.hot = hot
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
