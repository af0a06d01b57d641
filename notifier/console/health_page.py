"""The Health page: throughput, send time and errors over the last 24 hours, and deliveries by
status, from what the store records (every attempt with its outcome and duration), so the
charts hold for every process sharing the database. Drawn as inline SVG."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from notifier.console.charts import bar_chart, hourly, percentile
from notifier.console.queries import ConsoleReads
from notifier.console.web import Console

__all__ = ["health_router"]


def health_router(console: Console) -> APIRouter:
    """The route of ``/console/health``."""
    router = APIRouter()

    @router.get("/console/health", include_in_schema=False)
    async def health(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        service = console.service
        now = service.clock()
        end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        attempts = await ConsoleReads(service.store.connector()).attempts_since(end - timedelta(hours=24))
        tz = ZoneInfo(service.config.defaults.timezone)
        labels = [(end - timedelta(hours=24 - i)).astimezone(tz).strftime("%H:00") for i in range(24)]
        sent = hourly(((at, 1.0) for at, outcome, _ in attempts if outcome == "sent"), end)
        failed = hourly(((at, 1.0) for at, outcome, _ in attempts if outcome != "sent"), end)
        times = hourly(((at, ms) for at, _, ms in attempts), end)
        counts = await service.store.count_deliveries()
        statuses = sorted(counts)
        charts = {
            "throughput": bar_chart([float(len(b)) for b in sent], labels),
            "latency": bar_chart([percentile(b, 95) for b in times], labels, unit="ms"),
            "errors": bar_chart([float(len(b)) for b in failed], labels),
            "statuses": bar_chart([float(counts[s]) for s in statuses], statuses, width=320),
        }
        totals = {"sent": sum(len(b) for b in sent), "failed": sum(len(b) for b in failed),
                  "p95": percentile([ms for _, _, ms in attempts], 95)}
        return console.page(visit, "health.html", charts=charts, totals=totals, counts=counts)

    return router
