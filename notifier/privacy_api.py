"""Subject requests over HTTP: ``GET`` (export) and ``DELETE`` (erase) ``/v1/privacy/subjects``.

``?email=…`` names a person, ``?conversation=…`` one conversation; exactly one of them
(neither or both, or a site with an email: 404, no such subject; an address that is not one: 422). A conversation id
that several sites have (each chatbot numbers its own) needs ``&site=…``: without it, 422.
Both methods need an ``admin`` token (a ``read`` token gets 403, whatever the method:
see :func:`notifier.api_access.required_scope`), and one not bound to ``sites``, since a person
is not one site's. The erasure's audit record names the token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from notifier.api_access import principal
from notifier.api_responses import error_response, json_response
from notifier.core.subject import EMAIL_PATTERN, NO_NUL_PATTERN, Subject, SubjectError

__all__ = ["privacy_router"]


def _error(status: int, message: str, field: str | None = None) -> Response:
    return error_response(status, message, None if field is None else [{"path": field, "message": message}])


# The pattern is checked by Subject.email, whose refusal says "not an email address" where
# the framework's would quote the regular expression; /openapi.json still shows it.
Email = Annotated[str | None, Query(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN},
                                    description="the person, by email address (any case, any Unicode form)")]
Conversation = Annotated[str | None, Query(min_length=1, pattern=NO_NUL_PATTERN,
                                           description="one conversation, by its id")]
Site = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$",
                                   description="the conversation's site (needed when several sites have one "
                                               "with that id; empty: the one sent without a site)")]


def _subject(email: str | None, conversation: str | None, site: str | None) -> Subject | Response:
    # A person is found on every site: ?site= names a conversation's, and no person's.
    if (email is None) == (conversation is None) or (email is not None and site is not None):
        return _error(404, "name one subject: ?email=… or ?conversation=… (with its ?site=…)")
    try:
        return Subject.email(email) if email is not None else Subject.conversation(conversation or "", site)
    except SubjectError as exc:
        return _error(422, str(exc), "email" if email is not None else "conversation")


def privacy_router(get_service: Any) -> APIRouter:
    """The routes, bound to the running service (``get_service()`` returns it)."""
    router = APIRouter()

    async def refused(request: Request, subject: Subject) -> Response | None:
        who = principal(request)
        if who is not None and who.sites is not None:
            return _error(403, f"token {who.name!r} is limited to some sites: a person's data spans them all")
        from notifier.privacy import site_to_name

        if (why := await site_to_name(get_service().store, subject, flag="?site=…", empty="?site=")) is not None:
            return _error(422, why, "site")
        return None

    @router.get("/v1/privacy/subjects")
    async def export(request: Request, email: Email = None, conversation: Conversation = None,
                     site: Site = None) -> Response:
        """Everything stored about a person (``email``) or a conversation: events, deliveries
        as sent, cases and their actions, and the helpdesk tickets created for them."""
        from notifier.privacy import export_subject

        subject = _subject(email, conversation, site)
        if isinstance(subject, Response):
            return subject
        if (no := await refused(request, subject)) is not None:
            return no
        service = get_service()
        return json_response(await export_subject(service.config, service.store, subject, service.clock()))

    @router.delete("/v1/privacy/subjects")
    async def erase(request: Request, email: Email = None, conversation: Conversation = None,
                    site: Site = None) -> Response:
        """Erase a person (``email``) or a conversation; answers the counts, the audit hash and
        the helpdesk tickets to erase there too."""
        from notifier.privacy import erase_subject

        subject = _subject(email, conversation, site)
        if isinstance(subject, Response):
            return subject
        if (no := await refused(request, subject)) is not None:
            return no
        who = principal(request)
        service = get_service()
        report = await erase_subject(service.config, service.store, subject,
                                     erased_by=who.name if who is not None else "(no token)", via="api",
                                     now=service.clock())
        return json_response(report)

    return router
