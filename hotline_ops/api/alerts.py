"""Alertmanager-compatible routes: the webhook receiver, the v2 alerts and silences API.

Bodies are parsed leniently (unknown fields ignored: newer Alertmanager versions add some)
but completely: the whole request is validated before anything is stored, and a bad one
is answered 400 with the field's dotted path (see hotline_ops.api).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from starlette.requests import ClientDisconnect

from hotline_ops.api.auth import Guard
from hotline_ops.core.alerts import AlertIn
from hotline_ops.core.matchers import Matcher
from hotline_ops.errors import BadRequest, NotFound, TooLarge
from hotline_ops.services import alerts, auth, first_notice, journal, silences
from hotline_ops.services.auth import INGEST, READ, SILENCE
from hotline_ops.store.models import Alert, Silence

# Alertmanager's zero time: what its webhook sends as endsAt for a firing alert.
ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_BATCH = 10_000

Labels = Annotated[dict[str, str], Field(min_length=1)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _given(at: datetime | None) -> datetime | None:
    """None for a missing time or Alertmanager's zero time."""
    return None if at is None or at.year <= 1 else at.astimezone(UTC)


class _AlertBody(_Lenient):
    labels: Labels
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime | None = None
    endsAt: AwareDatetime | None = None
    generatorURL: str = ""

    @field_validator("endsAt")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = _given(info.data.get("startsAt"))
        if _given(value) is not None and start is not None and _given(value) < start:
            raise ValueError("must not be before startsAt")
        return value


class WebhookAlert(_AlertBody):
    status: Literal["firing", "resolved"]
    fingerprint: str | None = Field(None, min_length=1, max_length=64)

    def to_alert(self) -> AlertIn:
        return AlertIn(
            dict(self.labels),
            dict(self.annotations),
            self.status,
            _given(self.startsAt),
            _given(self.endsAt),
            self.generatorURL,
            self.fingerprint,
        )


class WebhookBody(_Lenient):
    """Alertmanager webhook v4 (receiver, groupKey, commonLabels … are not needed here)."""

    version: str | None = None
    alerts: list[WebhookAlert] = Field(max_length=MAX_BATCH)


class PostableAlert(_AlertBody):
    def to_alert(self) -> AlertIn:
        return AlertIn(
            dict(self.labels),
            dict(self.annotations),
            "firing",  # resolved = endsAt in the past (core.alerts.is_resolved)
            _given(self.startsAt),
            _given(self.endsAt),
            self.generatorURL,
        )


class MatcherBody(_Lenient):
    name: str = Field(min_length=1)
    value: str
    isRegex: bool = False
    isEqual: bool = True


class PostableSilence(_Lenient):
    id: str | None = None  # given: replace that silence (Alertmanager's update)
    matchers: list[MatcherBody] = Field(min_length=1)
    startsAt: AwareDatetime
    endsAt: AwareDatetime
    createdBy: str = Field(min_length=1, max_length=100)
    comment: str = Field(min_length=1)

    def to_matchers(self) -> list[Matcher]:
        out = []
        for i, m in enumerate(self.matchers):
            try:
                out.append(Matcher(m.name, m.value, m.isRegex, m.isEqual))
            except ValueError as exc:
                raise BadRequest(f"matchers.{i}: {exc}") from exc
        return out


MAX_BODY = 64 * 1024 * 1024  # bytes; a full MAX_BATCH of large alerts fits with room


class IngestRoutes:
    """``POST /api/v2/alerts`` and ``/api/alertmanager`` answered from the raw ASGI scope.

    These are the routes every Prometheus and Alertmanager calls, once per alert group:
    Starlette's routing, FastAPI's request handling and its middleware cost more per request
    than validating the body and the journal commit it waits for. The checks are the same
    as every route's (role, body validation before anything is stored) and errors go
    through the app's own exception handlers, so answers are the same either way."""

    def __init__(self, app: Any, guard: Guard) -> None:
        self.app, self.tokens = app, guard.tokens
        self.paths = {
            "/api/v2/alerts": (POSTABLE, "api"),
            "/api/alertmanager": (WEBHOOK, "alertmanager"),
        }

    def handles(self, scope: dict[str, Any]) -> bool:
        return scope["method"] == "POST" and scope["path"] in self.paths

    async def respond(self, scope: dict[str, Any], receive: Any) -> Response:
        """The answer to one request (errors raised for the app's exception handlers)."""
        adapter, source = self.paths[scope["path"]]
        with first_notice.urgent(self.app):  # the consumer's thread steps aside meanwhile
            return await self._respond(scope, receive, adapter, source)

    async def _respond(self, scope: dict[str, Any], receive: Any, adapter: Any, source: str):
        auth.authorize(self.tokens, _header(scope, b"authorization"), INGEST)
        raw = await _body(receive)
        with _counted(self.app):
            batch = [a.to_alert() for a in _alerts(_parse(adapter, raw))]
            direct = await _store(self.app, batch, source)
        return await _answer(self.app, batch, direct)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _body(receive: Any) -> bytes:
    """The whole request body, refused (413) past MAX_BODY before it is all read."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge(f"body: larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _alerts(body: Any) -> list[Any]:
    return body.alerts if isinstance(body, WebhookBody) else body


def router(app: Any, guard: Guard, hot: IngestRoutes) -> APIRouter:
    routes = APIRouter(prefix="/api")

    # The two hot routes are answered by ``hot`` straight from the ASGI scope (see
    # hotline_ops.api.Api); these FastAPI routes put them in the OpenAPI document and
    # answer the same way when the API runs without that shortcut.

    @routes.post("/alertmanager", openapi_extra=_body_schema(WebhookBody))
    async def alertmanager_webhook(request: Request) -> Response:
        """Alertmanager webhook_configs receiver (any 2xx is success for Alertmanager)."""
        return await hot.respond(request.scope, request.receive)

    @routes.post("/v2/alerts", openapi_extra=_body_schema(PostableAlerts))
    async def post_alerts(request: Request) -> Response:
        """Alertmanager's postAlerts: new or still-firing alerts (endsAt past = resolved)."""
        return await hot.respond(request.scope, request.receive)

    @routes.get("/v2/alerts", dependencies=guard.depends(READ))
    def get_alerts(
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        filter: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    ) -> list[dict[str, Any]]:
        matchers = tuple(silences.parse_matchers(filter, "filter"))
        rows = alerts.get_all(
            app, matchers=matchers, active=active, silenced=silenced, inhibited=inhibited
        )
        return [_alert(r) for r in rows]

    @routes.post("/v2/silences", dependencies=guard.depends(SILENCE))
    def post_silence(body: PostableSilence) -> dict[str, str]:
        silence = silences.add(
            app,
            matchers=body.to_matchers(),
            starts_at=body.startsAt.astimezone(UTC),
            ends_at=body.endsAt.astimezone(UTC),
            created_by=body.createdBy,
            comment=body.comment,
            replaces=_silence_id(body.id) if body.id else None,
        )
        return {"silenceID": str(silence.id)}

    @routes.get("/v2/silences", dependencies=guard.depends(READ))
    def get_silences() -> list[dict[str, Any]]:
        now = app.clock.now()
        return [_silence(s, now) for s in silences.get_all(app, active_only=False)]

    @routes.delete("/v2/silence/{silence_id}", dependencies=guard.depends(SILENCE))
    def delete_silence(silence_id: str) -> dict[str, str]:
        silence = silences.expire(app, silence_id=_silence_id(silence_id))
        return {"silenceID": str(silence.id), "state": "expired"}

    return routes


PostableAlerts = Annotated[list[PostableAlert], Field(max_length=MAX_BATCH)]
WEBHOOK = TypeAdapter(WebhookBody)
POSTABLE = TypeAdapter(PostableAlerts)


def _body_schema(shape: Any) -> dict[str, Any]:
    """The request body in the OpenAPI document (the handler reads the body itself)."""
    schema = TypeAdapter(shape).json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


@contextmanager
def _counted(app: Any) -> Iterator[None]:
    """Count the request until its alerts are stored: the journal consumer defers while
    requests wait for the journal (not for their answer to be written)."""
    current = journal.state(app)
    current.in_flight += 1
    try:
        yield
    finally:
        current.in_flight -= 1


def _parse(adapter: TypeAdapter, raw: bytes) -> Any:
    """The validated body; the errors as FastAPI reports a body (400 naming the field)."""
    if not raw.strip():
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required"}
        raise RequestValidationError([missing])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        pos, msg = getattr(exc, "pos", 0), getattr(exc, "msg", str(exc))
        bad = {"type": "json_invalid", "loc": ("body", pos), "msg": "JSON decode error"}
        raise RequestValidationError([{**bad, "ctx": {"error": msg}}]) from None
    try:
        # From Python objects, not validate_json: its messages say "array"/"object" where
        # FastAPI's (and the documented 400s) say "list"/"dictionary".
        return adapter.validate_python(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def _store(app: Any, batch: list[AlertIn], source: str) -> alerts.IngestResult | None:
    """Journal the batch (returns once committed); ``direct`` mode: ingest it now and
    return what that did."""
    alerts.check(batch)
    if app.settings.daemon.alert_ingest == "direct":
        return await asyncio.to_thread(alerts.ingest, app, batch, source=source)
    if batch:
        now = app.clock.now()
        batch, sends = first_notice.plan(app, batch, source, now)
        try:
            await journal.committer(app).append(source, batch, now)
        except Exception:  # not committed (a cancelled request may have been: kept counted)
            first_notice.unplan(app, batch)
            raise
        finally:
            first_notice.appended(app)
        if sends:
            first_notice.start(app, sends, journal.spool(app).record_notices)
    return None


async def _answer(app: Any, batch: list[AlertIn], direct: alerts.IngestResult | None) -> Response:
    """2xx: the alerts are stored. With a consumer running (``serve``) the incidents open
    milliseconds later; without one (the API in-process) the request drains the journal."""
    if direct is not None:
        return JSONResponse(direct.as_dict())
    if journal.state(app).consumers:
        return _Journaled(len(batch))
    drained = await asyncio.to_thread(journal.drain_all, app)
    return JSONResponse({**drained.result.as_dict(), "received": len(batch)})


class _Journaled(JSONResponse):
    """``{"received": N, "stored": "journal"}``, the answer to nearly every request under
    ``serve``: rendered by hand (json.dumps and header building cost more than the rest)."""

    def __init__(self, received: int) -> None:
        self.status_code, self.background = 200, None
        self.body = b'{"received":%d,"stored":"journal"}' % received
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
        ]


def _silence_id(raw: str) -> int:
    if not raw.isdecimal():
        raise NotFound(f"silence {raw} does not exist")
    return int(raw)


def _time(at: datetime | None) -> str:
    return at.isoformat() if at is not None else ZERO_TIME


def _alert(row: Alert) -> dict[str, Any]:
    """Alertmanager's gettableAlert, plus the incident the alert feeds."""
    return {
        "labels": row.labels,
        "annotations": row.annotations,
        "startsAt": _time(row.starts_at),
        "endsAt": _time(row.ends_at),
        "updatedAt": _time(row.updated_at),
        "generatorURL": row.generator_url,
        "fingerprint": row.fingerprint,
        "receivers": [{"name": "hotline-ops"}],
        "status": alerts.state(row),
        "incidentId": row.incident_id,
    }


def _silence(row: Silence, now: datetime) -> dict[str, Any]:
    """Alertmanager's gettableSilence."""
    return {
        "id": str(row.id),
        "status": {"state": silences.state(row, now)},
        "updatedAt": _time(row.expired_at or row.created_at),
        "matchers": row.matchers,
        "startsAt": _time(row.starts_at),
        "endsAt": _time(row.ends_at),
        "createdBy": row.created_by,
        "comment": row.comment,
    }
