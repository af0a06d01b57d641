"""The Digest page: any configured digest previewed for any past day, in each channel's look.

The period is the one the digest's schedule gives that day (``notifier digest --preview
--date D``); the statistics are read from the store, nothing is sent or recorded. The email
form is served on its own URL and shown in a sandboxed frame: an email carries inline
styles, which the console's own pages never allow.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from notifier.channels.base import Report
from notifier.console.drawing import slack_parts, teams_parts
from notifier.console.web import Console, Visit
from notifier.core.digest import period_for_date
from notifier.digest.scheduler import DigestScheduler, digest_zone

__all__ = ["EMAIL_CSP", "digest_router"]

#: The email preview may style itself inline, and do nothing else (no script, no request out).
EMAIL_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"


def digest_router(console: Console) -> APIRouter:
    """The routes of ``/console/digest``."""
    router = APIRouter()

    def chosen(request: Request) -> tuple[str | None, date, str | None]:
        service = console.service
        names = [d.name for d in service.config.digests]
        name = request.query_params.get("name")
        name = name if name in names else (names[0] if names else None)
        today = service.clock().astimezone(ZoneInfo(service.config.defaults.timezone)).date()
        problem = None
        try:
            day = date.fromisoformat(request.query_params.get("date") or (today - timedelta(days=1)).isoformat())
        except ValueError:
            day, problem = today - timedelta(days=1), "not a date"
        if day >= today:
            day, problem = today - timedelta(days=1), "a past day only"
        return name, day, problem

    async def report(name: str, day: date) -> Report:
        service = console.service
        digest = next(d for d in service.config.digests if d.name == name)
        scheduler = DigestScheduler(service.config, service.store, service.channels, service.renderer, "console")
        period = period_for_date(digest.schedule, ZoneInfo(digest_zone(service.config, digest)), day)
        return scheduler.report(digest, period, await scheduler.stats(digest, period))

    def login_needed(visit: Visit) -> Response | None:
        return console.to_login(visit) if visit.who is None else None

    @router.get("/console/digest", include_in_schema=False)
    async def digest_page(request: Request) -> Response:
        visit = await console.visit(request)
        if (refused := login_needed(visit)) is not None:
            return refused
        name, day, problem = chosen(request)
        context: dict[str, Any] = {"names": [d.name for d in console.service.config.digests], "name": name,
                                   "day": day.isoformat(), "problem": problem, "report": None}
        if name is not None:
            r = await report(name, day)
            context.update(report=r, slack=slack_parts({"blocks": r.blocks}) if r.blocks else None,
                           teams=teams_parts(r.card) if r.card else None)
        return console.page(visit, "digest.html", **context)

    @router.get("/console/digest/email", include_in_schema=False)
    async def digest_email(request: Request) -> Response:
        visit = await console.visit(request)
        if (refused := login_needed(visit)) is not None:
            return refused
        name, day, _ = chosen(request)
        html = (await report(name, day)).html if name is not None else None
        response = HTMLResponse(html or "<p>—</p>")
        response.headers["Content-Security-Policy"] = EMAIL_CSP
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        return console.finish(visit, response)

    return router
