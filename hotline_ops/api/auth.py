"""RBAC for the HTTP API as FastAPI dependencies (the rules are in services.auth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse

from hotline_ops.services import auth
from hotline_ops.services.auth import Denied, Token


class Guard:
    """Built once per server from the settings (a missing token secret fails the start)."""

    def __init__(self, app: Any) -> None:
        self.tokens = auth.load_tokens(app.settings)
        self.public_metrics = app.settings.api.public_metrics

    def require(
        self, permission: str, *, open_when_unconfigured: bool = False
    ) -> Callable[[Request], Token | None]:
        tokens = self.tokens

        def check(request: Request) -> Token | None:
            token = auth.authorize(
                tokens,
                request.headers.get("authorization"),
                permission,
                open_when_unconfigured=open_when_unconfigured,
            )
            request.state.token = token
            return token

        return check

    def depends(self, permission: str, **kwargs: Any) -> list[Any]:
        return [Depends(self.require(permission, **kwargs))]

    def metrics(self) -> list[Any]:
        """/metrics: public unless ``api.public_metrics`` is false (then viewer)."""
        return [] if self.public_metrics else self.depends(auth.READ)

    def webhook_sink(self) -> list[Any]:
        """The demo sink: ingest, but public while no token is configured, so the example
        config (channels.yaml posting to it) works before any token is set up."""
        return self.depends(auth.INGEST, open_when_unconfigured=True)


def denied(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Denied)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)
