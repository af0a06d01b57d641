"""The Deliveries page: every delivery filtered by status, channel, route and time; dead letters
with their reason, replayed one by one or all at once after a fix (scope ``admin``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from notifier.console.queries import ConsoleReads
from notifier.console.web import Console, Visit
from notifier.store.base import STATUSES
from notifier.store.privacy import SubjectStore

__all__ = ["deliveries_router", "local_time"]

PER_PAGE = 100


def local_time(value: str | None, timezone: str) -> datetime | None:
    """A ``datetime-local`` form value (``2026-03-09T10:00``) in ``timezone``; ``None`` if empty or invalid."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def deliveries_router(console: Console) -> APIRouter:
    """The routes of ``/console/deliveries`` and its replay forms."""
    router = APIRouter()

    def choice(value: str | None, allowed: list[str]) -> str | None:
        return value if value in allowed else None

    async def dead_visible(visit: Visit) -> list[str]:
        reads = ConsoleReads(console.service.store.connector())
        return [d.id for d in await reads.deliveries(status="dead", sites=visit.sites, limit=10_000)]

    @router.get("/console/deliveries", include_in_schema=False)
    async def deliveries(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        service = console.service
        config = service.config
        q = request.query_params
        channels = sorted(config.channels)
        routes = [r.name for r in config.routes] + ["fallback"]
        filters = {"status": choice(q.get("status"), list(STATUSES)), "channel": choice(q.get("channel"), channels),
                   "route": choice(q.get("route"), routes)}
        tz = config.defaults.timezone
        since, until = local_time(q.get("since"), tz), local_time(q.get("until"), tz)
        page = int(q["page"]) if q.get("page", "").isdigit() and len(q["page"]) < 6 else 1
        reads = ConsoleReads(service.store.connector())
        rows = await reads.deliveries(**filters, since=since, until=until, sites=visit.sites,
                                      limit=PER_PAGE + 1, offset=(max(page, 1) - 1) * PER_PAGE)
        dead = await reads.deliveries(status="dead", sites=visit.sites, limit=50)
        return console.page(visit, "deliveries.html", rows=rows[:PER_PAGE], more=len(rows) > PER_PAGE, page=page,
                            dead=dead, filters=filters, statuses=STATUSES, channels=channels, routes=routes,
                            since=q.get("since", ""), until=q.get("until", ""),
                            replayed=q.get("replayed"), erased=q.get("erased") == "1")

    async def may_replay(request: Request) -> tuple[Visit, Response | None]:
        visit = await console.visit(request)
        if not console.csrf_ok(visit, await console.form(request)):
            return visit, console.refuse(visit, 403, "Your session expired or the form is stale: try again.")
        if visit.who is None:
            return visit, console.to_login(visit)
        if not visit.may_act:
            return visit, console.refuse(visit, 403, "Your token may only read: acting needs the admin scope.")
        return visit, None

    @router.post("/console/deliveries/replay-dead", include_in_schema=False)
    async def replay_dead(request: Request) -> Response:
        visit, refused = await may_replay(request)
        if refused is not None:
            return refused
        store, now = console.service.store, console.service.clock()
        if visit.sites is None:
            ids = await store.replay(now, all_dead=True)
        else:  # only the dead letters of this token's sites
            ids = [i for d in await dead_visible(visit) for i in await store.replay(now, d)]
        return console.finish(visit, RedirectResponse(f"/console/deliveries?replayed={len(ids)}", 303))

    @router.post("/console/deliveries/{delivery_id}/replay", include_in_schema=False)
    async def replay_one(request: Request, delivery_id: str) -> Response:
        visit, refused = await may_replay(request)
        if refused is not None:
            return refused
        if visit.sites is not None and delivery_id not in await dead_visible(visit):
            return console.refuse(visit, 404, "Not found")
        store = console.service.store
        ids = await store.replay(console.service.clock(), delivery_id)
        found = None if ids else await store.get_delivery(delivery_id)
        if found is not None and await SubjectStore(store.connector()).erased_among([found.event_id]):
            # Its visitor was erased: the page says why nothing went, not just "0".
            return console.finish(visit, RedirectResponse("/console/deliveries?replayed=0&erased=1", 303))
        return console.finish(visit, RedirectResponse(f"/console/deliveries?replayed={len(ids)}", 303))

    return router
