"""The HTTP client of the HTTP channels: aiohttp's ``ClientSession``, behind a small interface.

aiohttp sends about three times as many requests per second as httpx over an aiohttp
transport, and ten to twenty times as many as httpx's own pool (``bench/http_clients.py``,
docs/benchmarks.md). The channels keep the few calls they need, in httpx's words
(``post(url, json=…)``, ``response.status_code``, ``response.json()``), so the shared
retry/classification/redaction code reads one kind of response.

Errors of aiohttp are translated here into :class:`TransportError` (``raise … from exc``),
which names the host and port; :func:`notifier.channels.http.classify_exception` reads the
chain underneath for the words (refused, DNS, timeout, TLS).

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
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy
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


@dataclass(frozen=True)
class Response:
    """An answer, its body read in full (the services' answers are small)."""

    status_code: int
    reason_phrase: str
    headers: CIMultiDictProxy[str]
    content: bytes
    url: str

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


class HttpClient:
    """Requests over one aiohttp connection pool of at most ``limit`` connections.

    The session is opened on first use, inside the running event loop (a channel is built
    before the loop that sends with it may exist), and opened again if that loop ended.
    """

    def __init__(self, *, limit: int, timeout: float, headers: Mapping[str, str] | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.limit = limit
        self.timeout = timeout
        self.headers = dict(headers or {})
        if auth:
            self.headers.setdefault("Authorization", basic_auth(*auth))
        self._header_names = CIMultiDict(self.headers)
        self._targets: dict[str, tuple[URL, str | None, str]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self.headers,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )
        return self._session

    def _target(self, url: str) -> tuple[URL, str | None, str]:
        """``url`` parsed once: the URL to request (credentials removed), the Basic auth
        they make (unless the client sets its own ``Authorization``), and its text."""
        known = self._targets.get(url)
        if known is None:
            target, auth = URL(url), None
            if target.user is not None:
                # Credentials in the URL (user:password@) become Basic auth, unless the channel
                # sets its own Authorization header.
                if "Authorization" not in self._header_names:
                    auth = basic_auth(target.user, target.password or "")
                target = target.with_user(None)
            known = (target, auth, str(target))
            if len(self._targets) < 64:  # a channel posts to one or a few URLs; an API's ids vary
                self._targets[url] = known
        return known

    async def request(self, method: str, url: str, *, content: bytes | None = None, json: Any = None,
                      headers: Mapping[str, str] | None = None,
                      params: Mapping[str, str] | None = None) -> Response:
        """Send one request and read its answer; :class:`TransportError` when none came."""
        target, auth, text = self._target(url)
        sent_headers: CIMultiDict[str] | Mapping[str, str] | None = headers
        if auth is not None or json is not None:
            sent_headers = CIMultiDict(headers or {})
            if auth is not None and "Authorization" not in sent_headers:
                sent_headers["Authorization"] = auth
            if json is not None:
                content = orjson.dumps(json)
                sent_headers.setdefault("Content-Type", "application/json")
        try:
            async with self._open().request(method, target, data=content, headers=sent_headers, params=params,
                                            allow_redirects=False) as answer:
                body = await answer.read()
                # Without redirects (and params) the answer's URL is the one requested.
                return Response(answer.status, answer.reason or "", answer.headers, body,
                                text if params is None else str(answer.url))
        except aiohttp.InvalidURL:
            raise  # a configuration problem, not the network's: permanent
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            port = target.port if target.is_absolute() else None
            raise TransportError(f"{method} {target.host}:{port}: {type(exc).__name__}: {exc}",
                                 target.host or "the server", port) from exc

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
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
