"""The HTTP API (FastAPI): ``POST /v1/events`` and friends.

``202`` means the events and their planned deliveries are committed. Errors are JSON
objects that name the field: ``{"error": "…", "details": [{"path": "[3].kind", "message": "…"}]}``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from notifier import metrics
from notifier.access_log import AccessLog, logged_elsewhere
from notifier.api_access import AccessGuard, principal
from notifier.api_responses import JSONBody, error_response, validation_details
from notifier.auth import ENV_TOKEN, Authenticator, signature_problem
from notifier.browser import BrowserAccess, add_docs
from notifier.config.cors import CorsConfig
from notifier.config.errors import format_path
from notifier.core.events import LIMITS, MAX_BATCH, NUL_FREE, Event, addressable, received_json
from notifier.health import due_age, judge, stuck_after_from_env
from notifier.http_guard import read_body
from notifier.openapi import document
from notifier.service import Service
from notifier.store.base import STATUSES, StoreUnavailable
from notifier.store.privacy import SubjectStore, erased_delivery

__all__ = ["MAX_BATCH", "MAX_BODY", "AccessGuard", "create_app"]

MAX_BODY = 1024 * 1024

log = structlog.get_logger(__name__)

_one = TypeAdapter(Event)
_many = TypeAdapter(list[Event])


def key_problem(key: str, event_id: str | None, *, batch: bool) -> str | None:
    """Why an ``Idempotency-Key`` header cannot name the posted event, or ``None``.

    >>> key_problem("k-1", None, batch=False) is None
    True
    >>> key_problem("k-1", "e-1", batch=False)
    "differs from the event's id 'e-1': send one of them (or the same value in both)"
    """
    if batch:
        return "names one event: in a batch, give each event its own `id` instead"
    if len(key) > LIMITS["id"]:  # the event's id, as the body's ``id`` would give it
        return f"is longer than {LIMITS['id']} characters"
    try:
        addressable(key)
    except ValueError as exc:
        return str(exc)
    if event_id is not None and event_id != key:
        return f"differs from the event's id {event_id!r}: send one of them (or the same value in both)"
    return None


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _not_json(request: Request, exc: orjson.JSONDecodeError) -> JSONBody:
    """The answer to a body that is not JSON; a form (PHP's and HTML's default) gets a 415
    that says what to send. Logged: the sender's developer may never read the answer."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORMS:
        log.warning("event refused: form-encoded body", path=request.url.path, content_type=content_type,
                    client=request.client.host if request.client else None)
        return error_response(415, f"the body is form data ({content_type}): send JSON (Content-Type: "
                                    "application/json), e.g. in PHP: 'body' => wp_json_encode($event) "
                                    "or json_encode($event); see /docs")
    log.warning("event refused: invalid JSON", path=request.url.path, content_type=content_type or None,
                error=str(exc), client=request.client.host if request.client else None)
    return error_response(400, f"invalid JSON: {exc}; send one JSON event or an array "
                                "(Content-Type: application/json)")


def create_app(service: Service, *, run_worker: bool = True, manage: bool = True,
               stuck_after: timedelta | None = None) -> FastAPI:
    """The ASGI app for ``service``. With ``manage`` it opens and closes the service itself.

    ``/healthz`` turns unhealthy when the oldest due delivery waited longer than
    ``stuck_after`` (default ``NOTIFIER_STUCK_AFTER``, else 10 minutes).
    """
    stuck_after = stuck_after or stuck_after_from_env()

    from notifier.mcp_http import McpEndpoint

    mcp_endpoint = McpEndpoint(lambda: service)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        task = None
        if manage:
            await service.open()
            task = asyncio.create_task(service.run(worker=run_worker, digests=run_worker))
        try:
            yield
        finally:
            await mcp_endpoint.aclose()
            if manage:
                service.stop()
                if task is not None:
                    await asyncio.gather(task, return_exceptions=True)
                await service.close()

    # The docs are served from local files (see notifier.browser): FastAPI's own pages load
    # their scripts from a CDN and stay blank offline.
    app = FastAPI(title="notifier", version="0.1.0", lifespan=lifespan,
                  default_response_class=JSONBody, docs_url=None, redoc_url=None)
    add_docs(app)
    document(app, max_batch=MAX_BATCH)
    env_token = os.environ.get(ENV_TOKEN) or None
    cached: list[Any] = [None, None]

    def authenticator() -> tuple[Authenticator, bool]:
        # Built once per loaded configuration, so a reload's new tokens apply at once.
        auth = service.config.auth
        if cached[0] is not auth:
            cached[0], cached[1] = auth, Authenticator(auth.tokens, env_token)
        return cached[1], auth.metrics_public

    async def site_of_event(event_id: str) -> str | None:
        found = await service.store.get_event(event_id)
        return None if found is None else found[0].site

    async def may_see_delivery(request: Request, event_id: str) -> bool:
        who = principal(request)
        if who is None or who.sites is None:
            return True
        site = await site_of_event(event_id)
        return site is not None and who.may_site(site)

    from starlette.routing import Route

    from notifier.action_pages import action_page_router
    from notifier.cases_api import case_router
    from notifier.console import add_console, is_console_path
    from notifier.tools_api import tool_router

    # Before the cases' routes: ``POST /v1/cases/{id}/act`` is a link's form, not an action name.
    app.include_router(action_page_router(lambda: service))
    from notifier.helpdesk_inbound import helpdesk_router

    app.include_router(helpdesk_router(lambda: service))
    app.include_router(case_router(lambda: service))
    console = add_console(app, lambda: service, lambda: authenticator()[0])
    app.include_router(tool_router())
    # MCP over Streamable HTTP (notifier.mcp_server): an ASGI endpoint, guarded like the API.
    app.router.routes.append(Route("/mcp", endpoint=mcp_endpoint,
                                   methods=["GET", "POST", "DELETE"], include_in_schema=False))

    from notifier.privacy_api import privacy_router

    app.include_router(privacy_router(lambda: service))

    from notifier.slack_interactions import slack_router

    app.include_router(slack_router(lambda: service))

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> Response:
        # Down, locked, disk full, read-only: nothing was stored, the client may post again
        # (with the same ids: a retry is never processed twice).
        # One line when it starts, then at most one per 10 s (notifier.store.outage_log),
        # and no access-log line per answer.
        service.store.outage.failed(exc, path=request.url.path)
        logged_elsewhere(request.scope)
        retry_after = max(1, math.ceil(exc.retry_after))
        if is_console_path(request.url.path):
            # A person in a browser: a page in the console's look, no connection detail.
            return console.unavailable(request, retry_after)
        # The exception's text stays in the log: PostgreSQL's names the server, the database
        # and the user, none of which is any client's business.
        response = error_response(503, exc.public)
        response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # A query or path parameter of the wrong type: the same error shape as everywhere.
        return error_response(422, "invalid request", [
            {"path": format_path([x for x in e["loc"] if x not in ("query", "path", "body")]) or e["loc"][0],
             "message": e["msg"]} for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def framework_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        # No such path, or not with this method: the framework's {"detail": …}, in our shape.
        return JSONBody({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client left, or was dropped for sending its body too slowly: nothing was stored,
        # and this answer reaches nobody. Not an error of ours, so no traceback in the logs.
        return error_response(408, "the request body was not received in full")

    @app.post("/v1/events", status_code=202)
    async def post_events(request: Request) -> Response:
        """Accept one event or a JSON array of up to 1,000."""
        raw = await read_body(request, MAX_BODY)
        if raw is None:
            return error_response(413, f"body is larger than {MAX_BODY} bytes")
        who = principal(request)
        if who is not None and who.hmac_secret:
            problem = signature_problem(who.hmac_secret, request.headers.get("x-notifier-timestamp"),
                                        request.headers.get("x-notifier-signature"), raw, time.time())
            if problem:
                return error_response(401, problem)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _not_json(request, exc)
        batch = isinstance(data, list)
        if batch and len(data) > MAX_BATCH:
            return error_response(413, f"a batch holds at most {MAX_BATCH} events, this one has {len(data)}")
        if batch and not data:
            return error_response(422, "empty batch")
        # A body without an escaped NUL holds none (JSON strings cannot carry it raw): the
        # events need not be searched for one, each on its own (see Event._tool_arguments).
        context = {NUL_FREE: True} if b"\\u0000" not in raw else None
        events = received_json(raw, batch=batch)  # the common body, without building its dicts
        if events is None:
            try:
                events = _many.validate_python(data, context=context) if batch else \
                    [_one.validate_python(data, context=context)]
            except ValidationError as exc:
                return error_response(422, "invalid event" + (" in batch: nothing was stored" if batch else ""),
                                      validation_details(exc, batch=batch))
        if who is not None and who.sites is not None:
            refused = [{"path": f"[{i}].site" if batch else "site", "message":
                        f"token {who.name!r} may not post for site {ev.site!r} (allowed: "
                        f"{', '.join(sorted(who.sites))})", **({"index": i} if batch else {})}
                       for i, ev in enumerate(events) if not who.may_site(ev.site)]
            if refused:
                stored = ": nothing was stored" if batch else ""
                return error_response(403, "site not allowed for this token" + stored, refused)
        now = service.clock()
        key = request.headers.get("idempotency-key")
        if key:
            # The header names one event. Ignored, it would leave a client believing its
            # retries safe when they are not: refused instead, saying what to do.
            problem = key_problem(key, events[0].id, batch=batch)
            if problem:
                return error_response(422, f"Idempotency-Key {problem}",
                                      [{"path": "Idempotency-Key", "message": problem}])
            events = [events[0].completed(now, key)]
        # No time given: concurrent requests share transactions (notifier/intake.py).
        results = await service.accept(events)
        counted: dict[tuple[str, str], int] = {}
        for ev, res in zip(events, results, strict=True):
            labels = (ev.kind.value, "true" if res.duplicate else "false")
            counted[labels] = counted.get(labels, 0) + 1
        for labels, n in counted.items():
            metrics.accepted.labels(*labels).inc(n)
        body = [r.to_json() for r in results]
        return JSONBody({"events": body} if batch else body[0], status_code=202)

    # ``:path``: an id is the client's key, any text; "shop/order/1234" arrives as
    # ``%2F``-encoded in the alerts' links, which the server decodes before routing.
    @app.get("/v1/events/{event_id:path}")
    async def get_event(event_id: str, request: Request) -> Response:
        """The event and its deliveries."""
        found = await service.store.get_event(event_id)
        who = principal(request)
        # Another site's event is answered like a missing one: its existence is not for this token.
        if found is None or (who is not None and not who.may_site(found[0].site)):
            return error_response(404, f"no event {event_id!r}")
        event, received = found
        deliveries = await service.store.list_deliveries(event_id=event_id, limit=1000)
        return JSONBody({
            "event": event.to_json(),
            "received_at": received.isoformat(),
            "deliveries": [d.to_json() for d in deliveries],
        })

    @app.get("/v1/deliveries")
    async def list_deliveries(request: Request, status: str | None = None, channel: str | None = None,
                              event_id: str | None = None, limit: int = 100) -> Response:
        """Deliveries, newest first, filtered by status, channel or event."""
        if status is not None and status not in STATUSES:
            return error_response(422, f"unknown status {status!r}",
                                  [{"path": "status", "message": f"allowed: {', '.join(STATUSES)}"}])
        limit = max(1, min(limit, 10_000))
        who = principal(request)
        bound = who is not None and who.sites is not None
        # A site-bound token sees its sites' deliveries among the most recent ones (each
        # event's site is looked up, so the look-back is bounded).
        rows = await service.store.list_deliveries(status=status, channel=channel, event_id=event_id,
                                                   limit=min(limit * 4, 2_000) if bound else limit)
        if bound:
            allowed: dict[str, bool] = {}
            kept = []
            for d in rows:
                if d.event_id not in allowed:
                    allowed[d.event_id] = await may_see_delivery(request, d.event_id)
                if allowed[d.event_id]:
                    kept.append(d)
            rows = kept[:limit]
        return JSONBody({"deliveries": [d.to_json() for d in rows]})

    @app.get("/v1/deliveries/{delivery_id}")
    async def get_delivery(delivery_id: str, request: Request) -> Response:
        """One delivery with its attempts."""
        d = await service.store.get_delivery(delivery_id)
        if d is None or not await may_see_delivery(request, d.event_id):
            return error_response(404, f"no delivery {delivery_id!r}")
        attempts = await service.store.attempts(delivery_id)
        return JSONBody({**d.to_json(), "attempt_history": [
            {"number": a.number, "at": a.at.isoformat(), "outcome": a.outcome, "reason": a.reason,
             "duration_ms": round(a.duration_ms, 1)} for a in attempts]})

    @app.post("/v1/deliveries/{delivery_id}/replay", status_code=202)
    async def replay(delivery_id: str, request: Request) -> Response:
        """Send a dead (or sent) delivery again."""
        found = await service.store.get_delivery(delivery_id)
        if found is None or not await may_see_delivery(request, found.event_id):
            return error_response(404, f"no delivery {delivery_id!r}")
        ids = await service.store.replay(service.clock(), delivery_id)
        if not ids:
            d = await service.store.get_delivery(delivery_id)
            if d is None:
                return error_response(404, f"no delivery {delivery_id!r}")
            if await SubjectStore(service.store.connector()).erased_among([d.event_id]):
                return error_response(409, f"not replayed: {erased_delivery(delivery_id)}")
            return error_response(409, f"delivery {delivery_id} is {d.status}: "
                                       "only dead or sent deliveries are replayed")
        return JSONBody({"replayed": ids}, status_code=202)

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        """Whether delivery moves: the store answers, the worker loop lives, the queue is not stuck.

        ``200 {"status": "ok", …}`` or ``503 {"status": "unhealthy", "error": why, …}``; both
        carry the worker's heartbeat and the age of the oldest due delivery, and, when this
        process runs the worker, ``channels``: each channel's current in-flight limit
        (``concurrency_limit``), its bounds, ``rate`` and ``paused_for_seconds``; under
        ``serve --workers N``, ``worker.processes_beside``: how many of the ``N - 1`` worker
        processes beside it run.
        """
        if gone := service.store.file_problem():
            # What the store writes now would not outlive the process: not healthy, whatever it answers.
            return JSONBody({"status": "unhealthy", "error": gone}, status_code=503)
        try:
            counts = await service.store.count_deliveries()
            next_due = await service.store.next_due()
        except StoreUnavailable as exc:  # this path needs no token: say nothing of the connection
            service.store.outage.failed(exc, path=request.url.path)
            return JSONBody({"status": "unhealthy", "error": exc.public}, status_code=503)
        except Exception:
            log.exception("health check: the store failed", path=request.url.path)
            return JSONBody({"status": "unhealthy", "error": "the database does not answer as expected "
                                                             "(see notifier's log)"}, status_code=503)
        verdict = judge(worker=service.worker_liveness(), oldest_due_age=due_age(next_due, service.clock()),
                        stuck_after=stuck_after)
        body: dict[str, Any] = {"status": "ok" if verdict.ok else "unhealthy", **verdict.details,
                                "deliveries": counts}
        if service.worker is not None and service.worker_liveness() is not None:
            # Per channel: how many sends it may have in flight now (adaptive), and any pause.
            body["channels"] = service.worker.concurrency()
        children = getattr(app.state, "worker_processes", None)
        if children is not None and children.count > 1:
            # `serve --workers N`: the N - 1 worker processes beside this one (a dead one is
            # started again; one that keeps dying shows here).
            body["worker"]["processes_beside"] = children.running()
        if not verdict.ok:
            body["error"] = "; ".join(verdict.problems)
        return JSONBody(body, status_code=200 if verdict.ok else 503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        """Prometheus metrics."""
        try:
            for status, count in (await service.store.count_deliveries()).items():
                metrics.deliveries_by_status.labels(status).set(count)
        except Exception:  # metrics still answer when the database does not
            pass
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    def browser_settings() -> tuple[CorsConfig, Authenticator]:
        return service.config.cors, authenticator()[0]

    from notifier.direct_route import DirectRoute

    direct = DirectRoute(app, "POST", "/v1/events", post_events)
    # AccessLog is the outermost layer: it also marks each request's store calls as made for
    # a waiting client (notifier.store.outage_log.for_a_client), the lifespan's not.
    return AccessLog(BrowserAccess(AccessGuard(direct, authenticator), browser_settings))  # type: ignore[arg-type,return-value]
