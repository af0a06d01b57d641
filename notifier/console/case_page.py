"""The case page: the conversation, every delivery with its attempts, the actions taken, tickets.

The conversation is shown as ``defaults.privacy`` allows (what a channel without its own
policy would be shown): user details only with the user's consent, fields left out of
``include`` hidden, personal data in their text redacted. Links to the page of the chat
are made only for ``http``/``https`` addresses (a visitor may send ``javascript:``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from notifier.cases import timings
from notifier.config.models import Config
from notifier.console.web import Console
from notifier.core.events import Event
from notifier.core.privacy import for_channel
from notifier.store.cases import CaseStore

__all__ = ["case_router", "ticket_url", "web_link"]


def web_link(url: str | None) -> str | None:
    """``url`` when a browser may follow it safely (http or https), else ``None``."""
    if url and url.strip().lower().startswith(("http://", "https://")):
        return url.strip()
    return None


def ticket_url(config: Config, channel: str, ref: str | None) -> str | None:
    """The helpdesk page of the ticket a delivery created, for Zendesk and Freshdesk channels."""
    ch = config.channels.get(channel)
    if ch is None or not ref or not ref.isdigit():
        return None
    kind = getattr(ch, "type", None)
    if kind == "zendesk":
        base = getattr(ch, "base_url", None) or f"https://{ch.subdomain}.zendesk.com"  # type: ignore[union-attr]
        return f"{base.rstrip('/')}/agent/tickets/{ref}"
    if kind == "freshdesk":
        base = getattr(ch, "base_url", None) or f"https://{ch.domain}.freshdesk.com"  # type: ignore[union-attr]
        return f"{base.rstrip('/')}/a/tickets/{ref}"
    return None


def _shown(config: Config, body: Any) -> Event | None:
    # What the default data policy lets a person see of a stored request.
    try:
        event = Event.model_validate(body)
    except ValidationError:
        return None
    policy = config.defaults.privacy
    return for_channel(event, policy.include, policy.redact or (), config.defaults.locale)


def case_router(console: Console) -> APIRouter:
    """The route of ``/console/cases/{id}``."""
    router = APIRouter()

    @router.get("/console/cases/{case_id}", include_in_schema=False)
    async def case_page(request: Request, case_id: str) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        service = console.service
        cases = CaseStore(service.store.connector())
        case = await cases.get(case_id)
        if case is None or (visit.sites is not None and case.site not in visit.sites):
            return console.refuse(visit, 404, "Not found")
        history = await cases.history(case_id)
        requests = [e for e in history["events"] if e["kind"] not in ("escalation", "acknowledgement")]
        latest = _shown(service.config, requests[-1]["event"]) if requests else None
        deliveries = []
        for d in history["deliveries"]:
            stored = await service.store.get_delivery(d["id"])
            ref = stored.ref if stored else None
            deliveries.append({**d, "ref": ref, "ticket": ticket_url(service.config, d["channel"], ref),
                               "attempt_list": await service.store.attempts(d["id"])})
        return console.page(
            visit, "case.html", case=case, timing=timings(case, service.config, service.clock()),
            event=latest, page_link=web_link(latest.page.url if latest and latest.page else None),
            events=history["events"], deliveries=deliveries, actions=history["actions"],
            escalations=history["escalations"], flash=request.query_params.get("done"))

    return router
