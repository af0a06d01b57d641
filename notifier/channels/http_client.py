"""The HTTP client of the HTTP channels: pyreqwest (Rust's reqwest over hyper), behind a small interface.

Per request it spends as much CPU as aiohttp, the fastest client written in Python, with 8
requests in flight, and about a quarter less with 32 (each wake-up of the event loop then
collects more answers); a tenth of httpx's or less. Under load (the 20,000-event run
against Alertmanager) notifier spends about a tenth less CPU with it than with aiohttp
(``bench/http_clients.py``, ``bench/alertmanager.py``, docs/benchmarks.md).

The channels keep the few calls they need, in httpx's words (``post(url, json=…)``,
``response.status_code``, ``response.json()``), so the shared retry/classification/redaction
code reads one kind of response.

What the channels rely on, set here: no redirects followed, no proxy taken from the
environment, no cookies, one timeout for the whole request, the certificate authorities
of the system (``SSL_CERT_FILE`` names another bundle). Errors are translated into
:class:`TransportError` (``raise … from cause``), which names the host and port and says
what happened in the words :func:`notifier.channels.http.network_problem` reads (refused,
DNS, timeout, TLS, a connection closed).

Example::

    client = HttpClient(limit=8, timeout=10.0, headers={"User-Agent": "notifier"})
    response = await client.post("http://127.0.0.1:8080/hook", json={"hello": "world"})
    response.status_code, response.json()
    await client.aclose()
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.exceptions import RequestError, RequestTimeoutError
from pyreqwest.http import Url
from yarl import URL

__all__ = ["HttpClient", "Response", "TransportError", "basic_auth"]


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value of HTTP Basic auth (RFC 7617, UTF-8)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class TransportError(Exception):
    """The request did not get an answer: connection refused or reset, DNS, TLS, timeout.

    ``__cause__`` is the library's error; ``host`` and ``port`` say where it went.
    """

    def __init__(self, message: str, host: str, port: int | None) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class Response:
    """An answer, its body read in full (the services' answers are small).

    A plain class with slots, built once per request: most answers are a 2xx whose headers
    and body nobody reads, so the headers are the client's own mapping, read in place.
    """

    __slots__ = ("content", "headers", "status_code", "url")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes, url: str) -> None:
        self.status_code = status_code
        #: Case-insensitive: ``headers.get("retry-after")``.
        self.headers = headers
        self.content = content
        self.url = url

    def __repr__(self) -> str:
        return f"<Response {self.status_code} {self.url}>"

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not JSON."""
        return orjson.loads(self.content)  # orjson.JSONDecodeError is a ValueError


def _causes(exc: RequestError) -> str:
    """The library's chain of causes in its own words, the generic first one left out."""
    details = getattr(exc, "details", None) or {}
    words = [str(c.get("message", "")) for c in details.get("causes") or []]
    words = [w for w in words if w and not w.startswith("error sending request for url")]
    return ": ".join(words) or str(exc)


def _cause(exc: RequestError, words: str) -> BaseException:
    """The standard exception for what happened, for the words of the failure: a timeout is
    a ``TimeoutError`` whose text says which phase ran out (the library calls a request
    that got no answer in time a connect timeout, even once connected)."""
    if isinstance(exc, RequestTimeoutError):
        connecting = "connect" in words.lower()
        return TimeoutError("timed out connecting" if connecting else "no answer in time")
    return exc


class HttpClient:
    """Requests over one connection pool of at most ``limit`` idle connections per host.

    The client is built on first use, inside the running event loop (a channel is built
    before the loop that sends with it may exist), and built again if that loop ended.
    """

    def __init__(self, *, limit: int, timeout: float, headers: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.limit = limit
        self.timeout = timeout
        self.headers = dict(headers or {})
        if auth:
            self.headers.setdefault("Authorization", basic_auth(*auth))
        self._has_auth = any(k.lower() == "authorization" for k in self.headers)
        self._targets: dict[str, tuple[URL, str | None, str, Url]] = {}
        self._client: Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            self._client = (ClientBuilder()
                            .max_connections(self.limit)
                            .pool_max_idle_per_host(self.limit)
                            .timeout(timedelta(seconds=self.timeout))
                            .default_headers(self.headers)
                            .follow_redirects(False)
                            .no_proxy()  # as aiohttp: a proxy is the channel's to set, not the environment's
                            .default_cookie_store(False)
                            .error_for_status(False)
                            .build())
        return self._client

    def _target(self, url: str) -> tuple[URL, str | None, str, Url]:
        """``url`` parsed once: the URL to request (credentials removed), the Basic auth
        they make (unless the client sets its own ``Authorization``), its text, and the same
        URL parsed by the client (which would otherwise parse the text on every request)."""
        known = self._targets.get(url)
        if known is None:
            target, auth = URL(url), None
            if not target.is_absolute() or target.scheme not in ("http", "https"):
                # A configuration problem: permanent. (Named without any credentials it holds.)
                raise ValueError(f"not an http(s) URL: {target.with_user(None) if target.is_absolute() else url}")
            if target.user is not None:
                # Credentials in the URL (user:password@) become Basic auth, unless the channel
                # sets its own Authorization header.
                if not self._has_auth:
                    auth = basic_auth(target.user, target.password or "")
                target = target.with_user(None)
            text = str(target)
            known = (target, auth, text, Url(text))
            if len(self._targets) < 64:  # a channel posts to one or a few URLs; an API's ids vary
                self._targets[url] = known
        return known

    async def request(self, method: str, url: str, *, content: bytes | None = None, json: Any = None,
                      headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None) -> Response:
        """Send one request and read its answer; :class:`TransportError` when none came."""
        target, auth, text, parsed = self._target(url)
        if params is not None:
            target = target.update_query(params)
            text = str(target)
            parsed = Url(text)
        sent_headers = headers
        if auth is not None or json is not None:
            sent_headers = dict(headers or {})
            if auth is not None and not any(k.lower() == "authorization" for k in sent_headers):
                sent_headers["Authorization"] = auth
            if json is not None:
                content = orjson.dumps(json)
                if not any(k.lower() == "content-type" for k in sent_headers):
                    sent_headers["Content-Type"] = "application/json"
        builder = self._open().request(method, parsed)
        if sent_headers:
            builder = builder.headers(sent_headers)
        if content is not None:
            builder = builder.body_bytes(content)
        try:
            answer = await builder.build().send()
            body = await answer.bytes()
        except RequestError as exc:
            port = target.port
            words = _causes(exc)
            raise TransportError(f"{method} {target.host}:{port}: {words}", target.host or "the server",
                                 port) from _cause(exc, words)
        return Response(answer.status, answer.headers, bytes(body), text)

    async def get(self, url: str, *, params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None) -> Response:
        """``GET url``."""
        return await self.request("GET", url, params=params, headers=headers)

    async def post(self, url: str, *, content: bytes | None = None, json: Any = None,
                   headers: Mapping[str, str] | None = None) -> Response:
        """``POST url`` with ``content`` (bytes) or ``json`` (encoded here)."""
        return await self.request("POST", url, content=content, json=json, headers=headers)

    async def put(self, url: str, *, content: bytes | None = None, json: Any = None,
                  headers: Mapping[str, str] | None = None) -> Response:
        """``PUT url`` with ``content`` (bytes) or ``json`` (encoded here)."""
        return await self.request("PUT", url, content=content, json=json, headers=headers)

    async def aclose(self) -> None:
        """Close the connections."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()
