"""The console's entry: login and logout, the queue of cases, its live stream, claim and resolve.

The queue lists cases newest first, fifty a page, with how long each person has waited
against the response target (late ones stand out) and how far it escalated. A stream of
server-sent events replaces the page's rows when a case opens or changes; it reads the
store about once a second, so cases accepted by another process appear as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from notifier.cases import act, timings
from notifier.console.queries import QUEUE_FILTERS, ConsoleReads, QueuePage
from notifier.console.session import COOKIE
from notifier.console.web import Console, Visit, safe_next
from notifier.core.cases import ACTIONS
from notifier.store.cases import CaseNotFound, CaseStore

__all__ = ["POLL_SECONDS", "STREAM_SECONDS", "queue_router"]

#: How often the live queue reads the store.
POLL_SECONDS = 1.0
#: How long one stream lasts before the browser reconnects (a stopping server is not held up long).
STREAM_SECONDS = 30.0
#: A chatbot's token is valid but opens no page: say so, rather than "unknown token".
_ONLY_POSTS = "This token may only post events (events:write): log in with a read or admin token."


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and 0 < len(value) < 7 else 1


def queue_router(console: Console) -> APIRouter:
    """The routes of login, logout, the queue and case actions."""
    router = APIRouter()

    async def queue_page(visit: Visit, status: str, page: int) -> tuple[QueuePage, list[dict[str, Any]]]:
        service = console.service
        found = await ConsoleReads(service.store.connector()).queue(
            statuses=QUEUE_FILTERS[status], sites=visit.sites, page=page)
        now = service.clock()
        rows = []
        for row in found.rows:
            case = row.case
            timing = timings(case, service.config, now)
            target = (case.expected_response_at - case.round_opened_at).total_seconds() \
                if case.expected_response_at else None
            rows.append({"case": case, "level": row.level, "late": timing["late"],
                         "waited": (timing["waiting"] or timing["to_claim"] or timing["to_resolve"]
                                    or {"seconds": 0})["seconds"],
                         "target": target})
        return found, rows

    def status_of(request: Request) -> str:
        status = request.query_params.get("status", "active")
        return status if status in QUEUE_FILTERS else "active"

    async def version() -> str:
        n, at = await ConsoleReads(console.service.store.connector()).queue_version()
        return f"{n}-{at:.6f}"

    @router.get("/console", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/console/", 307)

    @router.get("/console/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is not None and console.get_authenticator().enabled is False:
            return console.finish(visit, RedirectResponse("/console/", 303))
        return console.page(visit, "login.html", next=safe_next(request.query_params.get("next")), error=None)

    @router.post("/console/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        visit = await console.visit(request)
        form = await console.form(request)
        nxt = safe_next(form.get("next"))
        if not console.csrf_ok(visit, form):
            return console.page(visit, "login.html", code=403, next=nxt,
                                error="Your session expired or the form is stale: try again.")
        who, cookie = console.login(form.get("token", ""))
        if who is None or cookie is None:
            return console.page(visit, "login.html", code=401, next=nxt, error="Wrong or unknown token.")
        if not who.allows("read"):
            return console.page(visit, "login.html", code=403, next=nxt, error=_ONLY_POSTS)
        response = RedirectResponse(nxt, 303)
        console.set_session(request, response, cookie)
        visit.new_cookie = None
        return console.finish(visit, response)

    @router.post("/console/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        visit = await console.visit(request)
        if not console.csrf_ok(visit, await console.form(request)):
            return console.refuse(visit, 403, "Your session expired or the form is stale: try again.")
        # Ended on the server first: deleting the cookie only reaches this browser, not a copy.
        await console.log_out(visit)
        response = RedirectResponse("/console/login", 303)
        response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")
        visit.new_cookie = None
        return console.finish(visit, response)

    @router.get("/console/", include_in_schema=False)
    async def queue(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        status = status_of(request)
        current = await version()
        found, rows = await queue_page(visit, status, _page_number(request.query_params.get("page")))
        return console.page(visit, "queue.html", status=status, found=found, rows=rows, version=current,
                            filters=list(QUEUE_FILTERS), flash=request.query_params.get("done"))

    @router.get("/console/queue/stream", include_in_schema=False)
    async def stream(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return Response(status_code=401)
        status = status_of(request)
        page = _page_number(request.query_params.get("page"))
        seen = request.query_params.get("v", "")

        async def events() -> AsyncIterator[str]:
            nonlocal seen
            loop = asyncio.get_running_loop()
            deadline = loop.time() + STREAM_SECONDS
            yield "retry: 1000\n\n"
            while loop.time() < deadline and not getattr(request.app.state, "closing", False):
                if visit.session is not None and visit.session.logged_in \
                        and await console.session_ended(visit.session):
                    return  # logged out meanwhile (here or in another process): the reconnect gets 401
                current = await version()
                if current != seen:
                    seen = current
                    found, rows = await queue_page(visit, status, page)
                    html = console.render(visit, "_queue_rows.html", rows=rows, found=found, status=status)
                    yield "event: queue\n" + "".join(f"data: {line}\n" for line in html.splitlines()) + "\n"
                    yield f"event: version\ndata: {current}\n\n"
                else:
                    yield ": idle\n\n"  # a comment: finds a browser that left
                await asyncio.sleep(POLL_SECONDS)

        return console.finish(visit, StreamingResponse(events(), media_type="text/event-stream",
                                                       headers={"X-Accel-Buffering": "no"}))

    @router.post("/console/cases/{case_id}/{action}", include_in_schema=False)
    async def act_on_case(request: Request, case_id: str, action: str) -> Response:
        visit = await console.visit(request)
        form = await console.form(request)
        if not console.csrf_ok(visit, form):
            return console.refuse(visit, 403, "Your session expired or the form is stale: try again.")
        if visit.who is None:
            return console.to_login(visit)
        if not visit.may_act:
            return console.refuse(visit, 403, "Your token may only read: acting needs the admin scope.")
        if action not in ACTIONS:
            return console.refuse(visit, 404, "Not found")
        service = console.service
        case = await CaseStore(service.store.connector()).get(case_id)
        if case is None or (visit.sites is not None and case.site not in visit.sites):
            return console.refuse(visit, 404, "Not found")
        try:
            result = await act(service.store, service.config, case_id, action, by=visit.who.name, via="console",
                               now=service.clock(), note=form.get("note") or None)
        except CaseNotFound:
            return console.refuse(visit, 404, "Not found")
        nxt = safe_next(form.get("next"))
        sep = "&" if "?" in nxt else "?"
        return console.finish(visit, RedirectResponse(f"{nxt}{sep}done={result.outcome}", 303))

    return router
