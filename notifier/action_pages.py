"""The pages an action link opens: ``GET`` shows what will happen, only ``POST`` does it.

``GET /v1/cases/{id}/act?t=TOKEN`` answers a small page (fr/en, no outside resource) that
names the case and the action, with a button; mail scanners and link previews open every
link they see, so opening one never acts. The button posts the token back to
``POST /v1/cases/{id}/act``, which calls :func:`notifier.cases.act` once.

The token is the credential, not a session: these paths need no API token, and a forged
page on another site cannot act without a genuine token for that very case and action
(a cross-site form post is also refused on its ``Origin``). An expired, altered or foreign
token gets a page that says so (410, 400), and nothing changes. A link sent for an
earlier round of a case that was reopened since (the user came back) gets a page that says
so and shows the case as it is now (409), and nothing changes either: the new round's alert
carries its own links.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from notifier.action_links import LinkGrant, LinkRefused, links_for
from notifier.cases import act
from notifier.core.cases import Action
from notifier.http_guard import read_body
from notifier.render import LABELS
from notifier.store.cases import EARLIER_ROUND, Case, CaseNotFound, CaseStore

__all__ = ["ACT_PATH", "action_page_router"]

#: The paths of action links (they carry their own credential: no API token is asked).
ACT_PATH = re.compile(r"^/v1/cases/[^/]+/act$")
#: A form of a name and a note is small; anything larger is not ours.
_MAX_FORM = 16 * 1024
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")

_WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "claim_heading": "Prendre en charge cette demande ?", "claim_button": "Je m'en occupe",
        "resolve_heading": "Marquer cette demande comme résolue ?", "resolve_button": "Résolu",
        "case": "Demande", "conversation": "Conversation", "opened": "Ouverte le", "status": "État",
        "name": "Votre nom", "note": "Note (facultatif)", "acting_as": "Vous agissez en tant que",
        "nothing_yet": "Rien n'est fait tant que vous n'avez pas cliqué sur le bouton.",
        "open": "ouverte, personne ne l'a prise en charge", "reopened": "rouverte, personne ne l'a prise en charge",
        "claimed": "prise en charge par {by}", "resolved": "résolue par {by}",
        "done_claim": "Pris en charge par {by}. L'équipe en est informée.",
        "done_resolve": "Résolu par {by}. L'équipe en est informée.",
        "same_claim": "Vous aviez déjà pris en charge cette demande : rien n'a changé.",
        "same_resolve": "Cette demande était déjà résolue : rien n'a changé.",
        "refused_claimed": "Rien n'a changé : {by} a déjà pris en charge cette demande.",
        "refused_resolved": "Rien n'a changé : cette demande a été résolue par {by}.",
        "expired": "Ce lien a expiré le {when} (UTC) : rien n'a changé. Utilisez le lien d'une alerte plus "
                   "récente, ou notifier claim / notifier resolve.",
        "invalid": "Ce lien n'est pas valide (modifié, incomplet, d'un autre serveur, ou signé avant un "
                   "changement du secret des liens) : rien n'a changé. Utilisez le lien d'une alerte plus "
                   "récente, ou notifier claim / notifier resolve.",
        "not_found": "Cette demande n'existe pas (ou plus) : rien n'a changé.",
        "earlier_round": "Ce lien vient d'une demande précédente de ce dossier ; le dossier a été rouvert depuis "
                         "(l'utilisateur a réécrit) : rien n'a changé. Son état actuel est ci-dessous. Utilisez les "
                         "liens de l'alerte la plus récente, ou notifier claim / notifier resolve.",
        "off": "Les liens d'action ne sont pas activés sur ce serveur : rien n'a changé.",
        "cross_site": "Cette action ne peut être envoyée que depuis sa page de confirmation : rien n'a changé.",
        "name_missing": "Indiquez votre nom (200 caractères au plus, sur une ligne).",
        "bad_form": "Formulaire illisible : rien n'a changé.",
        "problem_heading": "Lien d'action",
    },
    "en": {
        "claim_heading": "Take this request?", "claim_button": "I'm on it",
        "resolve_heading": "Mark this request as resolved?", "resolve_button": "Resolved",
        "case": "Request", "conversation": "Conversation", "opened": "Opened", "status": "Status",
        "name": "Your name", "note": "Note (optional)", "acting_as": "You act as",
        "nothing_yet": "Nothing is done until you press the button.",
        "open": "open, nobody has taken it", "reopened": "reopened, nobody has taken it",
        "claimed": "taken by {by}", "resolved": "resolved by {by}",
        "done_claim": "Taken by {by}. The team has been told.",
        "done_resolve": "Resolved by {by}. The team has been told.",
        "same_claim": "You had already taken this request: nothing changed.",
        "same_resolve": "This request was already resolved: nothing changed.",
        "refused_claimed": "Nothing changed: {by} has already taken this request.",
        "refused_resolved": "Nothing changed: this request was resolved by {by}.",
        "expired": "This link expired on {when} (UTC): nothing changed. Use the link of a more recent "
                   "alert, or notifier claim / notifier resolve.",
        "invalid": "This link is not valid (altered, cut, from another server, or signed before the link "
                   "secret changed): nothing changed. Use the link of a more recent alert, or notifier claim / "
                   "notifier resolve.",
        "not_found": "This request does not exist (any more): nothing changed.",
        "earlier_round": "This link is from an earlier request on this case; the case was reopened since (the "
                         "user wrote again): nothing changed. Its current state is below. Use the links of the "
                         "latest alert, or notifier claim / notifier resolve.",
        "off": "Action links are not enabled on this server: nothing changed.",
        "cross_site": "This action can only be sent from its confirmation page: nothing changed.",
        "name_missing": "Give your name (at most 200 characters, on one line).",
        "bad_form": "The form could not be read: nothing changed.",
        "problem_heading": "Action link",
    },
}

# The page loads nothing from anywhere, cannot be framed, and leaks no token in a Referer.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _language(request: Request, default: str) -> str:
    """fr or en: the first the browser asks for, else the configuration's language."""
    for part in request.headers.get("accept-language", "").split(","):
        lang = part.split(";")[0].strip().lower()[:2]
        if lang in _WORDS:
            return lang
    return default if default in _WORDS else "en"


def _status_text(case: Case, w: dict[str, str]) -> str:
    by = case.claimed_by if case.status == "claimed" else case.resolved_by
    return w[case.status].format(by=by or "?")


def action_page_router(get_service: Any) -> APIRouter:
    """The confirmation page and its form's target, bound to the running service."""
    router = APIRouter()

    def page(request: Request, status: int, *, state: str, message: str | None = None,
             case: Case | None = None, grant: LinkGrant | None = None, token: str = "",
             by: str | None = None) -> HTMLResponse:
        service = get_service()
        lang = _language(request, service.config.defaults.locale)
        w = _WORDS[lang]
        action: Action | None = grant.action if grant else None
        heading = w[f"{action}_heading"] if action and state == "confirm" else (
            w[f"{action}_button"] if action and state == "done" else w["problem_heading"])
        shown = None
        if case is not None:
            tz = service.config.defaults.timezone
            opened = case.opened_at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y %H:%M" if lang == "fr"
                                                                     else "%Y-%m-%d %H:%M")
            shown = {"kind_label": LABELS[lang].get(case.kind, case.kind), "site": case.site,
                     "conversation_id": case.conversation_id, "opened": f"{opened} ({tz})",
                     "status_text": _status_text(case, w)}
        html = service.renderer.render("pages", "action", lang, "html", {
            "lang": lang, "w": w, "state": state, "heading": heading, "message": message, "case": shown,
            "action": action, "button": w[f"{action}_button"] if action else "", "token": token,
            "recipient": grant.recipient if grant else None, "by": by,
            # Relative: the page's own path, whatever prefix a reverse proxy adds in front.
            "post_path": "act",
        })
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    async def check(request: Request, case_id: str, token: str) -> tuple[LinkGrant, Case] | HTMLResponse:
        """The grant and case of a genuine token for ``case_id``, or the page that says why not."""
        service = get_service()
        w = _WORDS[_language(request, service.config.defaults.locale)]
        links = links_for(service.config)
        if links is None:
            return page(request, 404, state="problem", message=w["off"])
        try:
            grant = links.verify(token, service.clock())
        except LinkRefused as refused:
            if refused.reason == "expired" and refused.expired_at is not None:
                return page(request, 410, state="problem",
                            message=w["expired"].format(when=refused.expired_at.strftime("%Y-%m-%d %H:%M")))
            return page(request, 400, state="problem", message=w["invalid"])
        if grant.case_id != case_id:  # a genuine token pasted under another case's address
            return page(request, 400, state="problem", message=w["invalid"])
        case = await CaseStore(service.store.connector()).get(case_id)
        if case is None:
            return page(request, 404, state="problem", message=w["not_found"])
        if grant.round is not None and grant.round != case.round:
            return page(request, 409, state="problem", message=w["earlier_round"], case=case)
        return grant, case

    @router.get("/v1/cases/{case_id}/act", include_in_schema=False)
    async def confirm(request: Request, case_id: str, t: str = "") -> HTMLResponse:
        """The confirmation page: what the link will do. Opening it changes nothing."""
        checked = await check(request, case_id, t)
        if isinstance(checked, HTMLResponse):
            return checked
        grant, case = checked
        return page(request, 200, state="confirm", case=case, grant=grant, token=t)

    @router.post("/v1/cases/{case_id}/act", include_in_schema=False)
    async def perform(request: Request, case_id: str) -> HTMLResponse:
        """Do what the posted token allows, once, in the name typed (or the link's recipient)."""
        service = get_service()
        w = _WORDS[_language(request, service.config.defaults.locale)]
        if _cross_site(request, service.config.defaults.base_url):
            return page(request, 403, state="problem", message=w["cross_site"])
        raw = await read_body(request, _MAX_FORM)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if raw is None or content_type != "application/x-www-form-urlencoded":
            return page(request, 400, state="problem", message=w["bad_form"])
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), max_num_fields=8))
        except (UnicodeDecodeError, ValueError):
            return page(request, 400, state="problem", message=w["bad_form"])
        token = form.get("t", "")
        checked = await check(request, case_id, token)
        if isinstance(checked, HTMLResponse):
            return checked
        grant, case = checked
        by = grant.recipient or " ".join(form.get("by", "").split())
        if not _NAME.match(by):
            return page(request, 422, state="confirm", message=w["name_missing"], case=case, grant=grant,
                        token=token, by=by[:200])
        note = (form.get("note", "").strip()[:2000] or None) if grant.action == "resolve" else None
        try:
            result = await act(service.store, service.config, case_id, grant.action, by=by, via=grant.via,
                               now=service.clock(), note=note, case_round=grant.round)
        except CaseNotFound:
            return page(request, 404, state="problem", message=w["not_found"])
        after = result.case
        if result.outcome == "done":
            return page(request, 200, state="done", message=w[f"done_{grant.action}"].format(by=by),
                        case=after, grant=grant)
        if result.outcome == "unchanged":
            return page(request, 200, state="done", message=w[f"same_{grant.action}"], case=after, grant=grant)
        if result.reason == EARLIER_ROUND:  # reopened between the check above and the action
            return page(request, 409, state="problem", message=w["earlier_round"], case=after)
        refusal = (w["refused_claimed"].format(by=after.claimed_by) if after.status == "claimed"
                   else w["refused_resolved"].format(by=after.resolved_by))
        return page(request, 409, state="problem", message=refusal, case=after, grant=grant)

    return router


def _cross_site(request: Request, base_url: str | None) -> bool:
    """Whether the browser says this post comes from a page of another site.

    Browsers send ``Origin`` with every form post and ``Sec-Fetch-Site`` too; a page that
    is not ours (the public address, or the host the browser asked for) is refused, though
    its token would still be needed.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin == "null":  # a sandboxed frame or a data: page, never the confirmation page
        return True
    if not origin:
        return False
    seen = urlsplit(origin.rstrip("/").lower())
    # Our page's origin is the public address, or the host the browser asked (a proxy may differ).
    if seen.netloc and seen.netloc == request.headers.get("host", "").lower():
        return False
    if base_url is None:
        return True
    ours = urlsplit(base_url.lower())
    return (seen.scheme, seen.netloc) != (ours.scheme, ours.netloc)
