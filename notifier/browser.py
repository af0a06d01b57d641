"""What a web browser gets from the API: offline docs at ``/docs``, CORS for allowed sites.

``/docs`` is Swagger UI served from the files the ``swagger-ui-py`` package ships, so the
page works on a machine without Internet access and tells no outside host who reads it.

CORS (``cors.origins`` in ``channels.yaml``) opens ``POST /v1/events`` — and nothing else —
to pages of the listed origins. A token sent from such a page is readable by every visitor,
so from those origins only a token bound to sites and limited to ``events:write`` is taken.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.middleware.cors import CORSMiddleware

from notifier.auth import Authenticator, Principal
from notifier.config.cors import CorsConfig

__all__ = ["DOCS_ASSETS", "BrowserAccess", "add_docs", "browser_safe"]

#: The Swagger UI files served under ``/docs/assets/``, with their media types.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

#: Headers a page may send with an event.
_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Notifier-Timestamp", "X-Notifier-Signature"]


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI over ``/openapi.json``) with every asset from this machine."""
    static = files("swagger_ui") / "static"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            # Swagger UI would otherwise ask an outside validator about the spec.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/assets/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = DOCS_ASSETS.get(name)
        if media_type is None:
            return Response(status_code=404)
        return Response((static / name).read_bytes(), media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})


def browser_safe(who: Principal) -> bool:
    """Whether a token may be used from a web page: bound to sites, able only to post events."""
    return who.sites is not None and who.scopes == frozenset({"events:write"})


class BrowserAccess:
    """Pure ASGI middleware: CORS on ``/v1/events`` for the configured origins.

    ``settings`` returns the CORS section and the authenticator of the configuration in force,
    so that a reload's new origins apply at once.
    """

    def __init__(self, app: Any, settings: Callable[[], tuple[CorsConfig, Authenticator]]) -> None:
        self.app = app
        self.settings = settings
        self.state = app.state
        self.router = app.router
        self._built: tuple[CorsConfig | None, Any] = (None, None)

    def _cors(self, cors: CorsConfig) -> Any:
        if self._built[0] is not cors:
            self._built = (cors, CORSMiddleware(self.app, allow_origins=cors.origins, allow_methods=["POST"],
                                                allow_headers=_HEADERS, max_age=600))
        return self._built[1]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/events":
            await self.app(scope, receive, send)
            return
        cors, auth = self.settings()
        if not cors.origins:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin in cors.origins and scope["method"] != "OPTIONS" and auth.enabled:
            who = auth.identify(headers.get(b"authorization", b"").decode("latin-1"))
            if who is not None and not browser_safe(who):
                response = JSONResponse({"error": (
                    f"token {who.name!r} may not be used from a web page ({origin}): anyone can read it "
                    "there. Post from your server, or give the page a token with sites and only the "
                    "events:write scope")}, status_code=403)
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"
                await response(scope, receive, send)
                return
        await self._cors(cors)(scope, receive, send)
