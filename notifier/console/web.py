"""What every console page shares: the visitor (session, token, language), rendering, headers.

Pages are rendered by Jinja2 with autoescaping on: what visitors typed (their messages,
names, pages) is data, escaped for HTML wherever it lands; no template marks user data
``|safe``. Every answer carries a Content-Security-Policy that allows only this server's
own scripts, styles and images, so even a missed escape could not run a script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from notifier.auth import Authenticator, Principal
from notifier.config.auth import SCOPES
from notifier.console.i18n import choose, translator
from notifier.console.session import COOKIE, EndedSessions, Session, Sessions
from notifier.http_guard import read_body
from notifier.service import Service

__all__ = ["CSP", "Console", "Visit"]

#: Only this server's own files; no inline script or style, no framing, forms post here only.
CSP = ("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'; object-src 'none'")

LANG_COOKIE = "notifier_lang"
#: What a visitor reads while the database cannot be reached.
UNAVAILABLE = "The database is unavailable for a moment: try again shortly."
#: The most a posted form may hold (bytes).
MAX_FORM = 1_000_000
#: Who acts when the API has no token at all (the console is then as open as the API).
OPEN = Principal("console", frozenset(SCOPES))

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Visit:
    """One request's visitor: their session, who their token is, their language."""

    request: Request
    session: Session | None
    who: Principal | None
    lang: str
    csrf: str
    new_cookie: str | None = None

    @property
    def may_act(self) -> bool:
        return self.who is not None and self.who.allows("admin")

    @property
    def sites(self) -> frozenset[str] | None:
        return None if self.who is None else self.who.sites


def duration(seconds: float, lang: str) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``2 h 05``, ``3 d 4 h`` (``j`` in French)."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d}"
    day = "j" if lang == "fr" else "d"
    return f"{s // 86400} {day} {s % 86400 // 3600} h"


class Console:
    """The console's shared machinery, bound to the running service."""

    def __init__(self, get_service: Callable[[], Service],
                 get_authenticator: Callable[[], Authenticator], sessions: Sessions | None = None) -> None:
        self.get_service = get_service
        self.get_authenticator = get_authenticator
        self.sessions = sessions or Sessions()
        self.ended = EndedSessions()
        self.env = Environment(loader=PackageLoader("notifier.console", "templates"),
                               autoescape=select_autoescape(["html", "svg"], default=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["duration"] = lambda s, lang="en": duration(s, lang)

    @property
    def service(self) -> Service:
        return self.get_service()

    # ----------------------------------------------------------------- visitors
    async def visit(self, request: Request) -> Visit:
        """The visitor of ``request``; an anonymous session is started when they have none.

        A cookie whose session a logout ended counts as none (see :class:`EndedSessions`).
        """
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is not None and session.logged_in and await self.session_ended(session):
            session = None
        new_cookie = None
        if session is None:
            session, new_cookie = self.sessions.issue(None)
        auth = self.get_authenticator()
        who: Principal | None = None
        if not auth.enabled:
            who = OPEN
        elif session.digest is not None:
            who = auth.by_digest(session.digest)
        return Visit(request, session, who, self._lang(request), self.sessions.csrf(session), new_cookie)

    def _lang(self, request: Request) -> str:
        """The visitor's language: ``?lang=``, then their choice remembered in a cookie, then
        their browser's, then the configuration's."""
        wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return choose(wanted, request.headers.get("accept-language"), self.service.config.defaults.locale)

    def login(self, token: str) -> tuple[Principal | None, str | None]:
        """The principal of ``token`` and a logged-in session cookie, or ``(None, None)``."""
        auth = self.get_authenticator()
        digest = hashlib.sha256(token.strip().encode()).digest()
        who = auth.by_digest(digest) if auth.enabled else OPEN
        if who is None:
            return None, None
        _, cookie = self.sessions.issue(digest)
        return who, cookie

    async def session_ended(self, session: Session) -> bool:
        """Whether a logout, in this process or another sharing the store, ended ``session``."""
        return await self.ended.is_ended(self.service.store.connector(), session)

    async def log_out(self, visit: Visit) -> None:
        """End the visitor's session on the server: a copy of its cookie is refused from now on.

        Only a logged-in session is recorded (an anonymous one gives nothing to a copier; only
        a login signs a cookie with a token's digest), so a visitor without a token cannot
        fill the table.
        """
        if visit.session is not None and visit.session.logged_in:
            await self.ended.end(self.service.store.connector(), visit.session)

    async def form(self, request: Request) -> dict[str, str]:
        """The posted form (URL-encoded, a browser's default), last value of each field.

        A body over :data:`MAX_FORM` is refused with ``413`` before it is read whole (the
        largest form, the route tester's event, is far smaller).
        """
        body = await read_body(request, MAX_FORM)
        if body is None:
            raise HTTPException(413, f"a form is at most {MAX_FORM} bytes")
        raw = body.decode("utf-8", "replace")
        return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    def csrf_ok(self, visit: Visit, form: dict[str, str]) -> bool:
        """Whether the form carries this session's CSRF token."""
        return self.sessions.csrf_ok(visit.session, form.get("csrf"))

    # ----------------------------------------------------------------- answers
    def finish(self, visit: Visit, response: Response) -> Response:
        """Add the security headers, and the cookies a visit set."""
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        if visit.new_cookie is not None:
            self.set_session(visit.request, response, visit.new_cookie)
        if visit.request.query_params.get("lang") in ("fr", "en"):
            response.set_cookie(LANG_COOKIE, visit.lang, max_age=365 * 86400, path="/console",
                                samesite="strict", httponly=True)
        return response

    def set_session(self, request: Request, response: Response, value: str) -> None:
        """Set the session cookie: script-proof, same-site only, HTTPS-only over HTTPS."""
        response.set_cookie(COOKIE, value, max_age=self.sessions.max_age, path="/console", httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")

    def page(self, visit: Visit, template: str, code: int = 200, **context: Any) -> Response:
        """A rendered page for ``visit``, answered with HTTP status ``code``."""
        html = self.render(visit, template, **context)
        return self.finish(visit, HTMLResponse(html, status_code=code))

    def render(self, visit: Visit, template: str, **context: Any) -> str:
        """``template`` rendered in the visitor's language."""
        service = self.service
        tz = ZoneInfo(service.config.defaults.timezone)
        lang = visit.lang

        def when(value: datetime | str | None) -> str:
            if isinstance(value, str):  # an ISO time from a JSON-ready record
                text = value
                try:
                    value = datetime.fromisoformat(text)
                except ValueError:
                    return text
            if not isinstance(value, datetime):
                return "—"
            return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

        def here(**changes: Any) -> str:
            # This page's URL with some query parameters changed (pagination, filters).
            params = dict(visit.request.query_params)
            params.pop("lang", None)
            params.pop("done", None)
            params.update({k: str(v) for k, v in changes.items() if v is not None})
            return visit.request.url.path + "?" + urlencode(params)

        return self.env.get_template(template).render(
            _=translator(lang), lang=lang, visit=visit, who=visit.who, csrf=visit.csrf, now=service.clock(),
            when=when, dur=lambda s: duration(s.total_seconds() if isinstance(s, timedelta) else s, lang),
            here=here, path=visit.request.url.path, **context)

    def to_login(self, visit: Visit) -> Response:
        """Send a visitor who is not logged in to the login page, coming back here afterwards."""
        target = visit.request.url.path + (f"?{visit.request.url.query}" if visit.request.url.query else "")
        return self.finish(visit, RedirectResponse("/console/login?" + urlencode({"next": target}), 303))

    def refuse(self, visit: Visit, status: int, message: str) -> Response:
        """An error page (403 for a read token acting or a form without its CSRF token)."""
        return self.page(visit, "error.html", code=status, message=message)

    def unavailable(self, request: Request, retry_after: int) -> Response:
        """The ``503`` page for a request that met an unavailable store, with ``Retry-After``.

        Rendered without a session (checking it may be what failed) and without the
        exception's text, which may name the database's host or user: the caller logs it.
        """
        visit = Visit(request, None, None, self._lang(request), csrf="")
        response = self.page(visit, "error.html", code=503, message=UNAVAILABLE)
        response.headers["Retry-After"] = str(retry_after)
        return response


def safe_next(value: str | None) -> str:
    """Where to go after a form: only a path of the console (never another site)."""
    if value and value.startswith("/console") and "//" not in value and "\\" not in value:
        return value
    return "/console/"
