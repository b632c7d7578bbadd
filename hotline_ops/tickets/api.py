"""The ticket HTTP API under /api/tickets (OpenAPI at /openapi.json, docs at /docs).

Every route checks the caller's role (core.ticket_roles) from a bearer token: a ticket
token (stored hashed, ``hotline-ops ticket token add``) or a configured admin API token.
Bad bodies are 400 naming the field (hotline_ops.api), refused transitions 409.
"""

from collections.abc import Callable
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hotline_ops.core import ticket_roles as roles
from hotline_ops.core import ticket_rules as rules
from hotline_ops.errors import Overrun
from hotline_ops.services import auth
from hotline_ops.services.auth import Denied
from hotline_ops.tickets import attachments, cdr, kpi, service, survey_api, tokens, view
from hotline_ops.tickets.schemas import ActionIn, SearchIn, SyntheticIn, TicketIn

TicketId = Annotated[int, Path(ge=1, le=2**31 - 1)]
SEARCH_ON_LOOP_S = 0.02
WRITE_ON_LOOP_S = 0.02


class Caller(BaseModel):
    name: str
    role: str


def guard(app: Any) -> Callable[[str], Any]:
    config_tokens = auth.load_tokens(app.settings)

    def require(permission: str) -> Any:
        # async: run on the event loop, not a worker thread. A token is looked up in the
        # store at most once per tokens.CACHE_S; every other check is a dict hit, cheaper
        # than the thread hand-over a sync dependency costs on each request.
        async def check(request: Request) -> Caller:
            presented = auth.bearer(request.headers.get("authorization"))
            if presented is None:
                raise Denied(401, "a bearer token is required (Authorization: Bearer <token>)")
            caller = _identify(app, config_tokens, presented)
            if caller is None:
                raise Denied(401, "unknown token")
            if not roles.may(caller.role, permission):
                raise Denied(
                    403, f"token '{caller.name}' (role {caller.role}) may not {permission}"
                )
            return caller

        return Depends(check)

    return require


def _identify(app: Any, config_tokens: auth.Tokens, presented: str) -> Caller | None:
    found = tokens.identify(app, presented)
    if found is not None:
        return Caller(name=found[0], role=found[1])
    config = config_tokens.identify(presented)
    # A configured admin API token is admin here too; other config roles have no ticket role.
    if config is not None:
        return Caller(name=config.name, role="admin" if config.role == "admin" else "none")
    return None


def router(app: Any) -> APIRouter:
    routes = APIRouter(prefix="/api", tags=["tickets"])
    require = guard(app)
    _reading(routes, app, require)
    _writing(routes, app, require)
    for action in sorted(set(rules.ACTIONS) - rules.INTERNAL):
        _action_route(routes, app, require, action)
    survey_api.add_routes(routes, app, require)  # P6.1: IVR keypress and the SMS link
    return routes


async def _on_the_loop(work: Callable[..., Any], budget_s: float, *args: Any, **kw: Any) -> Any:
    """``work`` on the event loop within ``budget_s``, else (store Overrun: nothing written)
    again on a worker thread. A search is one statement of ~1-2 ms and a create three (five
    round trips on PostgreSQL, with BEGIN and COMMIT); on one of the 40 threads each paid
    the hand-over and the GIL passing between threads and loop (a thread waits up to the
    5 ms switch interval each time): under 200 users the query p99 was ~200 ms threaded
    against ~40 ms here, the create p99 ~160 against ~40 ms."""
    try:
        return work(*args, **kw, budget_s=budget_s)
    except Overrun:
        return await run_in_threadpool(work, *args, **kw)


def _reading(routes: APIRouter, app: Any, require: Callable[[str], Any]) -> None:
    @routes.get("/tickets")
    async def search_tickets(
        query: Annotated[SearchIn, Query()], caller: Annotated[Caller, require(roles.READ)]
    ) -> JSONResponse:
        """Search by number, caller, status, category prefix, region, overdue; paginated,
        urgent open tickets pinned on top (P4.2)."""
        # A search past SEARCH_ON_LOOP_S is cut off and run again on a thread, so a heavy
        # one stalls the other requests (alert ingest too) for that long at most.
        rows, more = await _on_the_loop(service.search, SEARCH_ON_LOOP_S, app, query=query)
        items = [view.summary(t, caller.role) for t in rows]
        # A JSONResponse is sent as built: view.summary already gives JSON types, and
        # FastAPI's encoder walking 20 summaries cost more than the search's SQL.
        return JSONResponse(
            {"items": items, "page": query.page, "per_page": query.per_page, "more": more}
        )

    @routes.get("/tickets/{ticket_id}")
    def get_ticket(
        ticket_id: TicketId, caller: Annotated[Caller, require(roles.READ)]
    ) -> dict[str, Any]:
        """One ticket with its deadlines, attachments and the caller's earlier tickets."""
        return view.detail(app, ticket_id, caller.role)

    @routes.get("/tickets/{ticket_id}/events")
    def ticket_events(
        ticket_id: TicketId, caller: Annotated[Caller, require(roles.READ)]
    ) -> dict[str, Any]:
        """The hash-chained audit trail and whether it verifies."""
        return view.trail(app, ticket_id)

    @routes.get("/ticket-popups")
    def popups(
        caller: Annotated[Caller, require(roles.READ)],
        after: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ) -> list[dict[str, Any]]:
        """Console popups (P8.2 warnings, breaches, supervision) after id ``after``."""
        return view.popups(app, after)

    @routes.get("/ticket-kpi")
    def ticket_kpi(
        period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}(-\d{2})?$")],
        caller: Annotated[Caller, require(roles.KPI)],
    ) -> dict[str, Any]:
        """KPIs of a month (2027-03) or a day (2027-03-05) in the site's time zone."""
        return kpi.compute(app, period=kpi.parse_period(period, app.settings.tz))


def _writing(routes: APIRouter, app: Any, require: Callable[[str], Any]) -> None:
    @routes.post("/tickets", status_code=201)
    async def create_ticket(
        body: TicketIn, caller: Annotated[Caller, require(roles.CREATE)]
    ) -> JSONResponse:
        """Intake from any channel (P1.1)."""
        # On the loop only when the store's writer is free: one that would wait (another
        # thread or process writing) or runs past WRITE_ON_LOOP_S is rolled back first.
        ticket = await _on_the_loop(
            service.create, WRITE_ON_LOOP_S, app, body=body, actor=caller.name
        )
        return JSONResponse(view.summary(ticket, caller.role), status_code=201)

    @routes.post("/tickets/synthetic", status_code=201)
    def create_synthetic(
        body: SyntheticIn, caller: Annotated[Caller, require(roles.PROBE)]
    ) -> dict[str, Any]:
        """The P9.1 probe's ticket (``ticket_service`` probe): out of searches and KPIs."""
        return view.summary(service.create_synthetic(app, body=body, actor=caller.name))

    @routes.post("/tickets/{ticket_id}/synthetic-close")
    def close_synthetic(
        ticket_id: TicketId, caller: Annotated[Caller, require(roles.PROBE)]
    ) -> dict[str, Any]:
        """End a synthetic probe ticket (refused for any other ticket)."""
        return view.summary(service.close_synthetic(app, ticket_id=ticket_id, actor=caller.name))

    @routes.put("/tickets/{ticket_id}/attachments/{name}", status_code=201)
    async def put_attachment(
        ticket_id: TicketId,
        name: str,
        request: Request,
        caller: Annotated[Caller, require(roles.ATTACH)],
    ) -> Any:
        """Upload the raw body as an attachment (≤ 200 MB, P2.1), streamed to disk."""
        declared = request.headers.get("content-length", "")
        if declared.isdecimal() and int(declared) > attachments.MAX_BYTES:
            return JSONResponse(
                {"error": f"body: attachment larger than {attachments.MAX_BYTES} bytes (P2.1)"},
                status_code=413,
            )
        chunks = _sync_chunks(request)
        try:
            row = await run_in_threadpool(
                attachments.add,
                app,
                ticket_id=ticket_id,
                name=name,
                chunks=chunks,
                actor=caller.name,
            )
        except attachments.TooLarge as exc:  # a chunked body with no Content-Length
            return JSONResponse({"error": str(exc)}, status_code=413)
        return view.attachment(row)

    @routes.post("/call-records")
    def import_calls(body: list[cdr.CallIn], caller: Annotated[Caller, require(roles.CDR)]) -> dict:
        """Call records from the ACD (接通率, 15 s answer rate); known call ids are skipped."""
        return cdr.store(app, body)


def _sync_chunks(request: Request):
    """The async body stream as a blocking iterator for the worker thread."""
    stream = request.stream().__aiter__()

    def chunks():
        while True:
            try:
                chunk = anyio.from_thread.run(stream.__anext__)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    return chunks()


def _action_route(routes: APIRouter, app: Any, require: Callable[[str], Any], action: str) -> None:
    spec = rules.ACTIONS[action]

    def act(
        ticket_id: TicketId, body: ActionIn, caller: Annotated[Caller, require(action)]
    ) -> dict:
        ticket = service.act(app, ticket_id=ticket_id, action=action, actor=caller.name, body=body)
        return view.summary(ticket, caller.role)

    routes.add_api_route(
        f"/tickets/{{ticket_id}}/{action}",
        act,
        methods=["POST"],
        name=f"ticket_{action}",
        summary=f"{spec.label} ({action})",
        description=f"Allowed from: {', '.join(sorted(spec.sources))}.",
    )
