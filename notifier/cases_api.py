"""The cases endpoints of the HTTP API.

``GET /v1/cases`` and ``GET /v1/cases/{id}`` read (scope ``read``);
``POST /v1/cases/{id}/claim|resolve|reopen`` act (scope ``admin``), with an optional JSON
body ``{"by": "marie", "note": "…"}``. ``by`` defaults to the token's name. An action is
idempotent; claiming a case somebody else holds answers ``409`` naming the holder.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from notifier.api_access import principal
from notifier.api_responses import error_response, json_response
from notifier.cases import act, timings
from notifier.core.cases import ACTIONS, STATUSES, Action
from notifier.http_guard import read_body
from notifier.store.cases import Case, CaseNotFound, CaseStore
from notifier.store.measures import MeasureStore

__all__ = ["case_router"]

#: A name as people type it: no control characters (it is shown in chat and email).
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]


#: An action says who acts and a note of at most 2,000 characters: 16 KB is ample.
MAX_ACTION_BODY = 16 * 1024


class ActionBody(BaseModel):
    """What an action may say: who acts (default: the token's name) and a note."""

    model_config = ConfigDict(extra="forbid")
    by: Name | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


def case_router(get_service: Any) -> APIRouter:
    """The routes, bound to the running service (``get_service()`` returns it)."""
    router = APIRouter()

    def visible(request: Request, case: Case | None) -> bool:
        who = principal(request)
        return case is not None and (who is None or who.may_site(case.site))

    @router.get("/v1/cases")
    async def list_cases(request: Request, status: str | None = None, site: str | None = None,
                         limit: int = 100) -> Response:
        """Cases, most recently active first, filtered by status or site."""
        if status is not None and status not in STATUSES:
            return error_response(422, f"unknown status {status!r}",
                                  details=[{"path": "status", "message": f"allowed: {', '.join(STATUSES)}"}])
        service = get_service()
        who = principal(request)
        # A token bound to sites: filtered in the query, so the limit counts its cases only.
        rows = await CaseStore(service.store.connector()).find(
            status=status, site=site, sites=who.sites if who is not None else None, limit=max(1, min(limit, 1000)))
        now = service.clock()
        return json_response({"cases": [{**c.to_json(), "timings": timings(c, service.config, now)} for c in rows]})

    @router.get("/v1/cases/{case_id}")
    async def get_case(request: Request, case_id: str) -> Response:
        """One case with its events, deliveries, actions, escalations and timings."""
        service = get_service()
        cases = CaseStore(service.store.connector())
        case = await cases.get(case_id)
        if case is None or not visible(request, case):
            return error_response(404, f"no case {case_id!r}")
        return json_response({**case.to_json(), **await cases.history(case_id),
                              "timings": timings(case, service.config, service.clock()),
                              # The users' ratings of this case (feedback events of its conversation).
                              "satisfaction": await MeasureStore(service.store.connector()).case_rating(case_id)})

    @router.post("/v1/cases/{case_id}/{action}")
    async def act_on_case(request: Request, case_id: str, action: str) -> Response:
        """Claim, resolve or reopen a case (idempotent; 409 names who holds it)."""
        if action not in ACTIONS:
            return error_response(404, f"unknown action {action!r}: use {', '.join(ACTIONS)}")
        raw = await read_body(request, MAX_ACTION_BODY)
        if raw is None:  # refused before it is read whole: nobody's memory for a visitor's megabytes
            return error_response(413, f"an action's body is at most {MAX_ACTION_BODY} bytes")
        try:
            body = ActionBody.model_validate_json(raw) if raw.strip() else ActionBody()
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if errors[0]["type"] == "json_invalid":  # the only error then: nothing else was read
                # Not JSON at all: a 400, as /v1/events answers, not a field at fault.
                where = errors[0]["msg"].removeprefix("Invalid JSON: ")
                return error_response(400, f"invalid JSON: {where}; send a JSON object such as"
                                           ' {"by": "marie"} (Content-Type: application/json)')
            return error_response(422, "invalid action", details=[
                {"path": ".".join(str(x) for x in e["loc"]) or "body",
                 "message": "unknown field" if e["type"] == "extra_forbidden" else e["msg"]}
                for e in errors])
        who = principal(request)
        by = body.by or (who.name if who is not None else None)
        if by is None:
            return error_response(422, "say who acts",
                                  details=[{"path": "by", "message": "required when no token is used"}])
        service = get_service()
        # A token bound to sites acts only on their cases (others do not exist for it).
        if who is not None and who.sites is not None and not visible(
                request, await CaseStore(service.store.connector()).get(case_id)):
            return error_response(404, f"no case {case_id!r}")
        verb: Action = action
        try:
            result = await act(service.store, service.config, case_id, verb, by=by, via="api",
                               now=service.clock(), note=body.note)
        except CaseNotFound:
            return error_response(404, f"no case {case_id!r}")
        if result.outcome == "refused":
            return error_response(409, f"case {case_id} is {result.reason}", holder=result.case.claimed_by,
                                  case=result.case.to_json())
        return json_response({"outcome": result.outcome, "case": result.case.to_json()})

    return router
