"""The route tester: paste or edit an event, see which routes match and why, and what each
channel would receive — the engine of ``notifier explain --render``, nothing sent or stored.

Slack blocks and Teams cards are also drawn approximately as they look
(:mod:`notifier.console.drawing`). A ``read`` token may use it: it changes nothing.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from notifier.config.errors import format_path
from notifier.console.drawing import slack_parts, teams_parts
from notifier.console.web import Console
from notifier.core.events import Event
from notifier.explain import explain, previews

__all__ = ["SAMPLE", "route_tester_router"]

#: The event the tester starts with.
SAMPLE = {
    "kind": "support_request", "site": "shop.example.com", "conversation_id": "c-42",
    "message": "Bonjour, je voudrais parler à un conseiller pour un remboursement.",
    "user": {"name": "Léa Martin", "email": "lea@example.com", "consent": True},
    "page": {"url": "https://shop.example.com/commande", "title": "Ma commande"},
    "transcript": [{"role": "user", "text": "Ma commande n'est pas arrivée"},
                   {"role": "assistant", "text": "Je peux transmettre votre demande à l'équipe."}],
    "locale": "fr",
}
MAX_EVENT = 256 * 1024


def route_tester_router(console: Console) -> APIRouter:
    """The routes of ``/console/routes``."""
    router = APIRouter()

    @router.get("/console/routes", include_in_schema=False)
    async def tester(request: Request) -> Response:
        visit = await console.visit(request)
        if visit.who is None:
            return console.to_login(visit)
        text = orjson.dumps(SAMPLE, option=orjson.OPT_INDENT_2).decode()
        return console.page(visit, "routes.html", text=text, result=None, problems=[], drawn=[])

    @router.post("/console/routes", include_in_schema=False)
    async def try_event(request: Request) -> Response:
        visit = await console.visit(request)
        form = await console.form(request)
        if not console.csrf_ok(visit, form):
            return console.refuse(visit, 403, "Your session expired or the form is stale: try again.")
        if visit.who is None:
            return console.to_login(visit)
        text = form.get("event", "")[:MAX_EVENT]
        problems: list[dict[str, str]] = []
        try:
            event = Event.model_validate(orjson.loads(text))
        except orjson.JSONDecodeError as exc:
            problems = [{"path": "", "message": f"invalid JSON: {exc}"}]
        except ValidationError as exc:
            problems = [{"path": format_path(list(e["loc"])), "message": "unknown field"
                         if e["type"] == "extra_forbidden" else e["msg"]} for e in exc.errors(include_url=False)]
        if problems:
            return console.page(visit, "routes.html", code=422, text=text, result=None, problems=problems, drawn=[])
        service = console.service
        now = service.clock()
        event = event.completed(now, "route-tester")
        result, routed = explain(service.config, event, now)
        drawn = []
        for p in await previews(service.config, event, routed):
            parts = None
            if p.body is not None:
                parts = slack_parts(p.body) if p.type == "slack" else teams_parts(p.body)
            drawn.append({"preview": p, "parts": parts})
        return console.page(visit, "routes.html", text=text, result=result, problems=[], drawn=drawn)

    return router
