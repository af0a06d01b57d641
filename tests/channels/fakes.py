"""Small real HTTP servers that stand in for the SaaS APIs we cannot reach in tests.

Each fake listens on 127.0.0.1 (a free port), records every request, and answers like
the real service would: it checks the credentials, the content type and the payload
(Slack's Block Kit limits, the Teams Workflows envelope, Zendesk's and Freshdesk's ticket
fields) and answers with the service's own error format. A test can also script what
comes next — statuses, a ``Retry-After``, a server that never answers, a reply lost
after the work was done::

    with FakeServer() as server:
        server.script(503, Reply(429, headers={"Retry-After": "7"}), 200)
        ...                      # three requests get 503, 429 and the normal answer
        server.requests[0].json()

:class:`FakeServer` is generic (any JSON endpoint, e.g. a webhook receiver);
:class:`FakeSlack`, :class:`FakeTeams`, :class:`FakeZendesk` and :class:`FakeFreshdesk`
add the services' own checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "FakeFreshdesk",
    "FakeServer",
    "FakeSlack",
    "FakeTeams",
    "FakeZendesk",
    "FlowRun",
    "Reply",
    "Request",
    "closed_url",
]


@dataclass(frozen=True)
class Request:
    """One request as the fake received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Reply:
    """What the fake answers. ``body`` may be bytes, text, or JSON-ready data.

    ``action``: ``answer`` normally; ``hang`` never answers (until the server stops);
    ``drop`` closes the connection without doing anything; ``lose`` does the work (the
    service's normal handling) and then closes the connection without answering — a
    reply lost on the way back.
    """

    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: Literal["answer", "hang", "drop", "lose", "normal"] = "answer"

    @classmethod
    def hang(cls) -> Reply:
        return cls(action="hang")

    @classmethod
    def drop(cls) -> Reply:
        return cls(action="drop")

    @classmethod
    def lose(cls) -> Reply:
        return cls(action="lose")

    @classmethod
    def normal(cls) -> Reply:
        """The service's normal answer (to script what comes after it)."""
        return cls(action="normal")

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


Handler = Callable[[Request], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return None

    def _serve(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, split.path, dict(parse_qsl(split.query)),
                          {k.lower(): v for k, v in self.headers.items()}, body)
        reply = fake._next(request)
        if reply.action == "hang":
            fake._stopping.wait(30)
            self.close_connection = True
            return
        if reply.action == "lose":
            fake.handle(request)
        if reply.action in ("drop", "lose"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload, content_type = reply.encoded()
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class FakeServer:
    """A real HTTP server on 127.0.0.1 that records requests and plays scripted replies.

    Without a script it answers with ``handler(request)`` (or :meth:`handle` in a
    subclass); by default ``200 ok``.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._script: list[Reply] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeServer:
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ behaviour
    def script(self, *replies: Reply | int) -> None:
        """Answer the next requests with these replies, in order (ints are bare statuses)."""
        with self._lock:
            self._script.extend(Reply(r) if isinstance(r, int) else r for r in replies)

    def reset(self) -> None:
        """Forget recorded requests and any script left (to reuse one server across tests)."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def handle(self, request: Request) -> Reply:
        """The normal answer; subclasses check the request like the real service."""
        return self.handler(request) if self.handler else Reply(200, "ok")

    def _next(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
            scripted = self._script.pop(0) if self._script else None
        return scripted if scripted is not None and scripted.action != "normal" else self.handle(request)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        """The first ``count`` requests, once they arrived (fails after ``timeout``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests[:count])


def closed_url() -> str:
    """A URL on a local port where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _basic(header: str | None) -> str | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        return base64.b64decode(header[6:]).decode()
    except ValueError:
        return None


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


# ====================================================================== Slack

#: Block Kit limits (https://api.slack.com/reference/block-kit/blocks).
SLACK_MAX_BLOCKS = 50
#: The total text of a message's blocks that ``chat.postMessage`` accepts: undocumented,
#: "12,000 text characters with a buffer for block containers" (Slack's maintainer in
#: https://github.com/slackapi/bolt-js/issues/2509; rejected at 11,341 counted characters in
#: https://github.com/slackapi/bolt-js/issues/2867). The fake counts every ``text`` and
#: ``url`` in UTF-16 code units and refuses above 12,000 with ``msg_blocks_too_long``.
SLACK_MAX_TOTAL_TEXT = 12_000
#: Rich text: https://docs.slack.dev/reference/block-kit/blocks/rich-text-block and
#: https://docs.slack.dev/reference/block-kit/block-elements/rich-text-section-element
_RICH_CONTAINERS = {"rich_text_section", "rich_text_quote", "rich_text_preformatted", "rich_text_list"}
_RICH_ELEMENTS = {"text", "link", "emoji", "user", "usergroup", "channel", "broadcast", "date", "color"}


def slack_text_size(value: Any) -> int:
    """Every ``text`` and ``url`` string in ``value``, in UTF-16 code units (as JavaScript counts)."""
    if isinstance(value, list):
        return sum(slack_text_size(v) for v in value)
    if isinstance(value, dict):
        return sum(len(v.encode("utf-16-le")) // 2 if k in ("text", "url") and isinstance(v, str)
                   else slack_text_size(v) for k, v in value.items())
    return 0


def rich_text_errors(block: dict[str, Any], at: str) -> list[str]:
    """What Slack would refuse in a ``rich_text`` block."""
    errors = []
    containers = block.get("elements")
    if not isinstance(containers, list) or not containers:
        return [f"must provide elements [json-pointer:{at}/elements]"]
    for i, container in enumerate(containers):
        where = f"{at}/elements/{i}"
        if not isinstance(container, dict) or container.get("type") not in _RICH_CONTAINERS:
            errors.append(f"unsupported type [json-pointer:{where}/type]")
            continue
        for j, element in enumerate(container.get("elements") or []):
            kind = element.get("type") if isinstance(element, dict) else None
            if kind not in _RICH_ELEMENTS:
                errors.append(f"unsupported type [json-pointer:{where}/elements/{j}/type]")
            elif kind == "text" and not (isinstance(element.get("text"), str) and element["text"]):
                errors.append(f"must be more than 0 characters [json-pointer:{where}/elements/{j}/text]")
            elif kind == "link" and not re.match(r"^(https?|mailto):", str(element.get("url", ""))):
                errors.append(f"invalid url [json-pointer:{where}/elements/{j}/url]")
    return errors
SLACK_MAX_SECTION = 3000
SLACK_MAX_HEADER = 150
_BLOCK_TYPES = {"header", "section", "context", "divider", "actions", "image", "rich_text"}


def block_kit_errors(blocks: Any) -> list[str]:
    """What Slack would say is wrong with ``blocks`` (empty when valid)."""
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    errors = []
    if len(blocks) > SLACK_MAX_BLOCKS:
        errors.append(f"must provide no more than {SLACK_MAX_BLOCKS} items [json-pointer:/blocks]")

    def text_obj(obj: Any, where: str, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
            errors.append(f"invalid text object [json-pointer:{where}]")
        elif not obj["text"]:
            errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
        elif len(obj["text"]) > limit:
            errors.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")

    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type [json-pointer:{at}/type]")
            continue
        if kind == "header":
            text_obj(block.get("text"), f"{at}/text", SLACK_MAX_HEADER, ("plain_text",))
        elif kind == "rich_text":
            errors += rich_text_errors(block, at)
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{at}]")
            if "text" in block:
                text_obj(block["text"], f"{at}/text", SLACK_MAX_SECTION)
            for j, item in enumerate(block.get("fields", [])):
                text_obj(item, f"{at}/fields/{j}", 2000)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                errors.append(f"must provide 1 to 10 elements [json-pointer:{at}/elements]")
            for j, item in enumerate(elements):
                text_obj(item, f"{at}/elements/{j}", SLACK_MAX_SECTION)
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                errors.append(f"must provide 1 to 25 elements [json-pointer:{at}/elements]")
            for j, item in enumerate(elements):
                if item.get("type") != "button":
                    errors.append(f"unsupported element [json-pointer:{at}/elements/{j}]")
                    continue
                text_obj(item.get("text"), f"{at}/elements/{j}/text", 75, ("plain_text",))
                url = item.get("url", "")
                if url and (len(url) > 3000 or not re.match(r"^https?://", url)):
                    errors.append(f"invalid url [json-pointer:{at}/elements/{j}/url]")
                # Button element (https://docs.slack.dev/reference/block-kit/block-elements/button-element):
                # action_id up to 255 characters and unique in the block, value up to 2000,
                # style primary or danger.
                if len(str(item.get("action_id", ""))) > 255 or len(str(item.get("value", ""))) > 2000:
                    errors.append(f"action_id or value too long [json-pointer:{at}/elements/{j}]")
                if item.get("style") not in (None, "primary", "danger"):
                    errors.append(f"invalid style [json-pointer:{at}/elements/{j}/style]")
            ids = [e.get("action_id") for e in elements if isinstance(e, dict) and e.get("action_id")]
            if len(ids) != len(set(ids)):
                errors.append(f"action_id must be unique [json-pointer:{at}/elements]")
        # block_id: "Maximum length for this field is 255 characters ... should be unique for
        # each message" (https://docs.slack.dev/reference/block-kit/blocks).
        if isinstance(block, dict) and len(str(block.get("block_id", ""))) > 255:
            errors.append(f"block_id too long [json-pointer:{at}/block_id]")
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        errors.append("duplicate block_id [json-pointer:/blocks]")
    return errors


class FakeSlack(FakeServer):
    """Slack's Web API (``/api/chat.postMessage``) and incoming webhooks (``/services/…``).

    ``channels`` maps names to ids; the bot is a member of ``member_of`` (default: all).
    The Web API answers HTTP 200 with ``ok: false`` and an error code, like Slack does.
    """

    def __init__(self, token: str = "xoxb-test-token", *, channels: dict[str, str] | None = None,
                 member_of: set[str] | None = None, hook_path: str = "/services/T000/B000/hooksecret",
                 per_second: float | None = None, signing_secret: str = "8f742231b10e8888abcd99yyyzzz85a5") -> None:
        super().__init__()
        #: chat.postMessage "allows one message per second per channel, with short bursts"
        #: (https://docs.slack.dev/apis/web-api/rate-limits): above it, HTTP 429 with
        #: ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``. ``None``: no limit.
        self.per_second = per_second
        self._last_post: dict[str, float] = {}
        self.token = token
        self.channels = channels if channels is not None else {"#support": "C0SUPPORT"}
        self.member_of = member_of if member_of is not None else set(self.channels)
        self.hook_path = hook_path
        #: Messages Slack accepted: ``{"channel", "ts", "thread_ts", "text", "blocks", "metadata"}``.
        self.messages: list[dict[str, Any]] = []
        #: ``chat.update`` calls Slack accepted, in order: ``{"channel", "ts", "text", "blocks", "at"}``.
        self.updates: list[dict[str, Any]] = []
        self._ts = itertools.count(1)
        #: The app's signing secret, which signs the interactions the fake sends.
        self.signing_secret = signing_secret
        #: Ephemeral messages (through a ``response_url`` or ``chat.postEphemeral``):
        #: ``{"user", "text", "via"}``.
        self.ephemerals: list[dict[str, Any]] = []
        #: User groups (``S…``) and their members, for ``usergroups.users.list``.
        self.usergroups: dict[str, list[str]] = {}
        #: The app-level token and the WebSocket URL ``apps.connections.open`` hands out.
        self.app_token = "xapp-1-A000-test"
        self.socket_url: str | None = None
        #: More app-level tokens ``apps.connections.open`` accepts, and the URL each buys
        #: (another app, or the same app's regenerated token).
        self.more_socket_urls: dict[str, str] = {}
        self._response_urls: dict[str, str] = {}
        #: An error code the next ``chat.postMessage`` answers *after* posting the message, as
        #: Slack's ``fatal_error`` may ("It's possible some aspect of the operation succeeded").
        self.fail_after_posting: str | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def hook_url(self) -> str:
        return f"{self.url}{self.hook_path}"

    def handle(self, request: Request) -> Reply:
        if request.path.startswith("/services/"):
            return self._webhook(request)
        if request.path == "/api/chat.postMessage":
            return self._post_message(request)
        if request.path == "/api/chat.update":
            return self._update(request)
        if request.path == "/api/chat.postEphemeral":
            return self._post_ephemeral(request)
        if request.path == "/api/usergroups.users.list":
            return self._usergroup(request)
        if request.path == "/api/apps.connections.open":
            return self._connections_open(request)
        if request.path.startswith("/actions/"):
            return self._response_url(request)
        if request.path in ("/api/conversations.history", "/api/conversations.replies", "/api/conversations.list"):
            return self._read(request)
        return Reply(404, {"ok": False, "error": "unknown_method"})

    def _read(self, request: Request) -> Reply:
        """``conversations.list``, ``.history`` and ``.replies`` (https://docs.slack.dev/reference/methods/
        conversations.history): ids only, newest first, ``oldest`` exclusive, message ``metadata``
        only with ``include_all_metadata``; replies hold the parent and its thread."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        args = dict(parse_qsl(request.text)) if request.body else dict(request.query)
        if request.path.endswith(".list"):
            listed = [{"id": i, "name": n.lstrip("#")} for n, i in self.channels.items()]
            return Reply(200, {"ok": True, "channels": listed, "response_metadata": {"next_cursor": ""}})
        channel = args.get("channel", "")
        if channel not in self.channels.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        oldest = float(args.get("oldest") or 0)
        with_metadata = args.get("include_all_metadata") in ("1", "true", "True")
        if request.path.endswith(".replies"):
            ts = args.get("ts")
            chosen = [m for m in self.messages if m["ts"] == ts or m["thread_ts"] == ts]
        else:
            chosen = [m for m in self.messages if not m["thread_ts"]]
        chosen = [m for m in chosen if m["channel"] == channel and float(m["ts"]) > oldest]
        out = [{"type": "message", "ts": m["ts"], "text": m["text"],
                **({"metadata": m["metadata"]} if with_metadata and m.get("metadata") else {})}
               for m in reversed(chosen)]
        return Reply(200, {"ok": True, "messages": out, "has_more": False})

    def _post_message(self, request: Request) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth:
            return Reply(200, {"ok": False, "error": "not_authed"})
        if auth != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if not _is_json(request):
            return Reply(200, {"ok": False, "error": "invalid_arguments"})
        body = request.json()
        name = body.get("channel")
        channel_id = self.channels.get(name) or (name if name in self.channels.values() else None)
        if channel_id is None:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        members = {self.channels.get(m, m) for m in self.member_of}  # by name or by id, as Slack takes both
        if channel_id not in members:
            return Reply(200, {"ok": False, "error": "not_in_channel"})
        problem = self._message_problem(body)
        if problem:
            return Reply(200, {"ok": False, **problem})
        if self.per_second:
            now, last = time.monotonic(), self._last_post.get(channel_id)
            # 10% slack for timer jitter between the client's pacing and this clock.
            if last is not None and now - last < 0.9 / self.per_second:
                return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
            self._last_post[channel_id] = now
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        self.messages.append({"channel": channel_id, "ts": ts, "thread_ts": body.get("thread_ts"),
                              "text": body.get("text"), "blocks": body.get("blocks"),
                              "metadata": body.get("metadata")})
        if self.fail_after_posting:
            error, self.fail_after_posting = self.fail_after_posting, None
            return Reply(200, {"ok": False, "error": error})
        return Reply(200, {"ok": True, "channel": channel_id, "ts": ts,
                           "message": {"text": body.get("text"), "ts": ts}})

    def _update(self, request: Request) -> Reply:
        """``chat.update`` (https://docs.slack.dev/reference/methods/chat.update): the ``channel``
        must be the conversation's id (a name is ``channel_not_found``), ``ts`` a message of
        that channel (else ``message_not_found``); the bot may only edit its own messages
        (``cant_update_message``). ``blocks`` replace the message's blocks. Every update is
        recorded in :attr:`updates`, and the message holds its latest text and blocks."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if not _is_json(request):
            return Reply(200, {"ok": False, "error": "invalid_arguments"})
        body = request.json()
        channel = body.get("channel")
        if channel not in self.channels.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        with self._lock:
            message = next((m for m in self.messages if m["channel"] == channel and m["ts"] == body.get("ts")),
                           None)
        if message is None:
            return Reply(200, {"ok": False, "error": "message_not_found"})
        if message.get("by_user"):
            return Reply(200, {"ok": False, "error": "cant_update_message"})
        problem = self._message_problem(body)
        if problem:
            return Reply(200, {"ok": False, **problem})
        with self._lock:
            message["text"], message["blocks"] = body.get("text"), body.get("blocks")
            self.updates.append({"channel": channel, "ts": body["ts"], "text": body.get("text"),
                                 "blocks": body.get("blocks"), "at": time.monotonic()})
            self._lock.notify_all()
        return Reply(200, {"ok": True, "channel": channel, "ts": body["ts"], "text": body.get("text")})

    def _post_ephemeral(self, request: Request) -> Reply:
        """``chat.postEphemeral`` (https://docs.slack.dev/reference/methods/chat.postEphemeral):
        ``channel`` and ``user`` required; the message is shown to that user only."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        body = request.json() if _is_json(request) else dict(parse_qsl(request.text))
        channel = self.channels.get(body.get("channel"), body.get("channel"))
        if channel not in self.channels.values():
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if not body.get("user"):
            return Reply(200, {"ok": False, "error": "user_not_in_channel"})
        with self._lock:
            self.ephemerals.append({"user": body["user"], "text": body.get("text"), "via": "chat.postEphemeral"})
            self._lock.notify_all()
        return Reply(200, {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"})

    def _response_url(self, request: Request) -> Reply:
        """A click's ``response_url``: JSON with ``response_type: ephemeral`` shows the text to the
        clicker alone; ``replace_original: false`` leaves the message as it is
        (https://docs.slack.dev/interactivity/handling-user-interaction#message_responses)."""
        user = self._response_urls.get(request.path)
        if user is None:
            return Reply(404, "used_url")
        if not _is_json(request):
            return Reply(400, "invalid_payload")
        body = request.json()
        with self._lock:
            self.ephemerals.append({"user": user, "text": body.get("text"), "via": "response_url",
                                    "response_type": body.get("response_type"),
                                    "replace_original": body.get("replace_original")})
            self._lock.notify_all()
        return Reply(200, "ok")

    def _usergroup(self, request: Request) -> Reply:
        """``usergroups.users.list`` (https://docs.slack.dev/reference/methods/usergroups.users.list)."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        args = dict(parse_qsl(request.text)) if request.body else dict(request.query)
        group = args.get("usergroup", "")
        if group not in self.usergroups:
            return Reply(200, {"ok": False, "error": "no_such_subteam"})
        return Reply(200, {"ok": True, "users": self.usergroups[group]})

    def _connections_open(self, request: Request) -> Reply:
        """``apps.connections.open`` (https://docs.slack.dev/reference/methods/apps.connections.open):
        an app-level token buys a temporary WebSocket URL (here, a local one)."""
        urls = {self.app_token: self.socket_url, **self.more_socket_urls}
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in urls:
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        url = urls[token]
        if url is None:
            return Reply(200, {"ok": False, "error": "internal_error"})
        return Reply(200, {"ok": True, "url": url})

    def click_payload(self, ts: str, action_id: str, *, user: str = "U0MARIE", name: str = "marie") -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends when ``user`` clicks the button ``action_id``
        of the message ``ts`` (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload):
        the button's ``action_id``, ``block_id`` and ``value`` as the message holds them now,
        the user, the channel, the message and a ``response_url`` for this click."""
        message = self.message(ts)
        found = [(block, element) for block in message["blocks"] or [] if block.get("type") == "actions"
                 for element in block.get("elements", []) if element.get("action_id") == action_id]
        if not found:
            raise AssertionError(f"message {ts} has no button {action_id!r} now")
        block, button = found[0]
        path = f"/actions/T000/{next(self._ts)}/{uuid.uuid4().hex}"
        self._response_urls[path] = user
        name_of = {v: k for k, v in self.channels.items()}
        return {
            "type": "block_actions",
            "user": {"id": user, "username": name, "name": name, "team_id": "T000"},
            "api_app_id": "A000", "token": "legacy-verification-token", "trigger_id": "1.2.3",
            "team": {"id": "T000", "domain": "acme"},
            "container": {"type": "message", "message_ts": ts, "channel_id": message["channel"], "is_ephemeral": False},
            "channel": {"id": message["channel"], "name": name_of.get(message["channel"], "").lstrip("#")},
            "message": {"type": "message", "ts": ts, "text": message["text"], "blocks": message["blocks"]},
            "response_url": f"{self.url}{path}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": block.get("block_id"),
                         "value": button.get("value"), "text": button.get("text"), "action_ts": f"{time.time():.6f}"}],
        }

    def signed(self, payload: dict[str, Any], *, timestamp: int | None = None,
               secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """An interaction request as Slack sends it: ``payload=<json>`` form-encoded, signed with
        ``v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")`` in ``X-Slack-Signature``
        (https://docs.slack.dev/authentication/verifying-requests-from-slack)."""
        body = urlencode({"payload": json.dumps(payload)}).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new((secret or self.signing_secret).encode(), f"v0:{ts}:".encode() + body,
                          hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                      "X-Slack-Signature": f"v0={digest}"}

    def wait_for_ephemerals(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` ephemeral messages, once shown (fails after ``timeout``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.ephemerals) >= count, timeout):
                raise AssertionError(f"expected {count} ephemeral messages, got {len(self.ephemerals)}")
            return list(self.ephemerals[:count])

    def wait_for_updates(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` ``chat.update`` calls, once they arrived (fails after ``timeout``)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.updates) >= count, timeout):
                raise AssertionError(f"expected {count} updates, got {len(self.updates)}")
            return list(self.updates[:count])

    def message(self, ts: str) -> dict[str, Any]:
        """The message posted with ``ts``, as it stands now."""
        return next(m for m in self.messages if m["ts"] == ts)

    def replies(self, thread_ts: str) -> list[dict[str, Any]]:
        """The messages posted in the thread of ``thread_ts``, oldest first."""
        return [m for m in self.messages if m["thread_ts"] == thread_ts]

    @staticmethod
    def _message_problem(body: dict[str, Any]) -> dict[str, Any] | None:
        if not body.get("text") and not body.get("blocks"):
            return {"error": "no_text"}
        if len(body.get("text") or "") > 40000:
            return {"error": "msg_too_long"}
        if "blocks" in body:
            errors = block_kit_errors(body["blocks"])
            if errors:
                return {"error": "invalid_blocks", "errors": errors}
            if slack_text_size(body["blocks"]) > SLACK_MAX_TOTAL_TEXT:
                return {"error": "msg_blocks_too_long"}
        return None

    def _webhook(self, request: Request) -> Reply:
        if request.path != self.hook_path:
            return Reply(403, "invalid_token")
        if not _is_json(request):
            return Reply(400, "invalid_payload")
        try:
            body = request.json()
        except ValueError:
            return Reply(400, "invalid_payload")
        problem = self._message_problem(body)
        if problem:
            return Reply(400, problem["error"])
        self.messages.append({"channel": "webhook", "ts": None, "thread_ts": None,
                              "text": body.get("text"), "blocks": body.get("blocks")})
        return Reply(200, "ok")


# ====================================================================== Teams


#: "When the action posts a message, the message size limit is approximately 28 KB … the
#: action fails with a 'Request Entity Too Large' error" (Teams connector, known issues and
#: limitations: https://learn.microsoft.com/connectors/teams/). Counted on the UTF-8 body.
TEAMS_MAX_BYTES = 28 * 1024
_TEAMS_ELEMENTS = {"TextBlock", "RichTextBlock", "FactSet", "ColumnSet", "Container", "Image", "ActionSet"}


def teams_envelope_errors(body: Any, size: int | None = None) -> list[str]:
    """What the flow's "Post card in a chat or channel" action would reject in ``body``.

    ``size``: the bytes received (the limit is on the wire, not on characters).
    """
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["type must be 'message'"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["attachments must hold exactly one card"]
    att = attachments[0]
    errors = []
    if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
        errors.append("contentType must be application/vnd.microsoft.card.adaptive")
    if "contentUrl" not in att:
        errors.append("contentUrl is required (null)")
    card = att.get("content") or {}
    if card.get("type") != "AdaptiveCard":
        errors.append("content.type must be AdaptiveCard")
    if card.get("$schema") != "http://adaptivecards.io/schemas/adaptive-card.json":
        errors.append("content.$schema must be the Adaptive Card schema")
    if card.get("version") not in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5"):
        errors.append("content.version must be 1.0 to 1.5")
    body_items = card.get("body")
    if not isinstance(body_items, list) or not body_items:
        errors.append("content.body must be a non-empty array")
    for i, item in enumerate(body_items or []):
        kind = item.get("type")
        if kind not in _TEAMS_ELEMENTS:
            errors.append(f"body[{i}]: unknown element type {kind!r}")
        if kind == "TextBlock" and not isinstance(item.get("text"), str):
            errors.append(f"body[{i}]: TextBlock needs text")
        if kind == "RichTextBlock":
            # https://learn.microsoft.com/adaptive-cards/schema-explorer/rich-text-block: inlines of
            # TextRun (or plain strings); a TextRun's selectAction may not be Action.ShowCard.
            for j, run in enumerate(item.get("inlines") or []):
                if isinstance(run, str):
                    continue
                if run.get("type") != "TextRun" or not isinstance(run.get("text"), str):
                    errors.append(f"body[{i}].inlines[{j}]: must be a TextRun with text")
                action = run.get("selectAction")
                if action and not str(action.get("url", "")).startswith(("http://", "https://")):
                    errors.append(f"body[{i}].inlines[{j}]: selectAction needs an absolute url")
        if kind == "FactSet":
            for fact in item.get("facts", []):
                if set(fact) != {"title", "value"} or not all(isinstance(v, str) for v in fact.values()):
                    errors.append(f"body[{i}]: facts need a string title and value")
    for i, action in enumerate(card.get("actions") or []):
        if action.get("type") == "Action.OpenUrl" and not str(action.get("url", "")).startswith(("http://", "https://")):
            errors.append(f"actions[{i}]: Action.OpenUrl needs an absolute url")
    if (size if size is not None else len(json.dumps(body).encode())) > TEAMS_MAX_BYTES:
        errors.append("RequestEntityTooLarge: the message is larger than 28 KB")
    return errors


@dataclass
class FlowRun:
    """One run of the workflow, as its run history shows it."""

    status: Literal["Succeeded", "Failed"]
    error: str = ""


class FakeTeams(FakeServer):
    """A Teams Workflows webhook ("When a Teams webhook request is received", then "Post card
    in a chat or channel").

    Like the real trigger, it only checks the request itself (``sig``, JSON) before answering
    ``202 Accepted``: the card is posted later, by the flow run, which fails on a card Teams
    refuses (too large, malformed) — where only the run history shows it (:attr:`runs`).
    So a 202 means *queued*, never *delivered*.
    """

    def __init__(self, sig: str = "teams-signature-secret") -> None:
        super().__init__()
        self.sig = sig
        #: The Adaptive Cards the flow posted to the channel.
        self.cards: list[dict[str, Any]] = []
        #: Every flow run, in order.
        self.runs: list[FlowRun] = []

    @property
    def workflow_url(self) -> str:
        return (f"{self.url}/workflows/abc123/triggers/manual/paths/invoke"
                f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}")

    def handle(self, request: Request) -> Reply:
        if request.query.get("sig") != self.sig:
            return Reply(401, {"error": {"code": "DirectApiAuthorizationRequired",
                                         "message": "The request must be authenticated."}})
        if not _is_json(request):
            return Reply(415, {"error": {"code": "UnsupportedMediaType",
                                         "message": "The media type is not supported."}})
        try:
            body = request.json()
        except ValueError:
            return Reply(400, {"error": {"code": "InvalidRequestContent", "message": "Invalid JSON."}})
        # Accepted first; the run validates and posts afterwards.
        errors = teams_envelope_errors(body, len(request.body))
        if errors:
            self.runs.append(FlowRun("Failed", "; ".join(errors)))
        else:
            self.runs.append(FlowRun("Succeeded"))
            self.cards.append(body["attachments"][0]["content"])
        return Reply(202, b"")


# ====================================================================== Zendesk

_ZENDESK_PRIORITIES = {"low", "normal", "high", "urgent"}


class FakeZendesk(FakeServer):
    """Zendesk's tickets API with API-token auth, following
    https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/ and
    https://developer.zendesk.com/api-reference/ticketing/introduction/#idempotency:

    - ``POST /api/v2/tickets.json`` with ``Idempotency-Key``: a repeat within the key's life
      (two hours) answers the first result (``x-idempotency-lookup: hit``); the same key with
      a different body answers ``400 IdempotentRequestError``; after two hours the key is
      forgotten and a repeat creates a second ticket;
    - ``GET /api/v2/tickets.json?external_id=`` lists the tickets with that external id;
    - ``PUT /api/v2/tickets/{id}.json`` with a ``comment`` adds it to the ticket, private when
      ``public`` is false ("Ticket comments are created by including a comment object in the
      ticket object when … updating the ticket", https://developer.zendesk.com/api-reference/
      ticketing/tickets/ticket_comments/); ``GET`` of the same path shows the ticket;
    - 422 ``RecordInvalid`` with ``details`` for invalid fields, an invalid requester email included.

    :attr:`now` is the fake's clock (seconds); tests move it to pass the two hours.
    """

    IDEMPOTENCY_TTL = 2 * 3600

    def __init__(self, email: str = "agent@acme.test", api_token: str = "zd-secret-token") -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.tickets: list[dict[str, Any]] = []
        self._ids = itertools.count(101)
        self._idempotent: dict[str, tuple[Any, Reply, float]] = {}
        #: Addresses Zendesk refuses as a requester although they parse (its own rules).
        self.refused_emails: set[str] = set()
        self.now = 0.0
        self._changes = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        if _basic(request.headers.get("authorization")) != f"{self.email}/token:{self.api_token}":
            return Reply(401, {"error": "Couldn't authenticate you"})
        one = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", request.path)
        if one and request.method == "PUT":
            return self._update(int(one.group(1)), request)
        if one and request.method == "GET":  # "Show Ticket"
            shown = next((t for t in self.tickets if t["id"] == int(one.group(1))), None)
            return Reply(200, {"ticket": shown}) if shown else Reply(404, {"error": "RecordNotFound",
                                                                           "description": "Not found"})
        if request.path == "/api/v2/tickets.json" and request.method == "GET":
            external = request.query.get("external_id")
            found = [t for t in self.tickets if external is None or t.get("external_id") == external]
            return Reply(200, {"tickets": found, "count": len(found), "next_page": None})
        if request.path != "/api/v2/tickets.json" or request.method != "POST":
            return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"})
        if not _is_json(request):
            return Reply(415, {"error": "Unsupported Media Type"})
        body = request.json()
        key = request.headers.get("idempotency-key")
        if key and key in self._idempotent and self.now - self._idempotent[key][2] < self.IDEMPOTENCY_TTL:
            seen, reply, _ = self._idempotent[key]
            if seen != body:
                return Reply(400, {"error": "IdempotentRequestError",
                                   "description": "Idempotency key already used with a different payload"})
            return Reply(reply.status, reply.body, {**reply.headers, "x-idempotency-lookup": "hit"})
        reply = self._create(body)
        if key and reply.status == 201:
            self._idempotent[key] = (body, reply, self.now)
        return reply

    def _update(self, ticket_id: int, request: Request) -> Reply:
        ticket = next((t for t in self.tickets if t["id"] == ticket_id), None)
        if ticket is None:
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"})
        update = (request.json() or {}).get("ticket") or {}
        # "Protecting against ticket update collisions": with safe_update, an updated_stamp that
        # is not the ticket's updated_at any more is refused (409 UpdateConflict).
        if update.get("safe_update") and update.get("updated_stamp") != ticket.get("updated_at"):
            return Reply(409, {"error": "UpdateConflict",
                               "description": "Safe Update prevented the update due to outdated ticket data. "
                                              "Please fetch the latest ticket data and try again."})
        comment = update.get("comment") or {}
        if not (comment.get("body") or comment.get("html_body")):
            return Reply(422, {"error": "RecordInvalid", "description": "Record validation errors",
                               "details": {"base": [{"description": "Comment: cannot be blank"}]}})
        ticket.setdefault("comments", []).append(comment)
        ticket["tags"] = list(dict.fromkeys([*ticket.get("tags", []), *update.get("additional_tags", [])]))
        if update.get("priority"):
            ticket["priority"] = update["priority"]
        ticket["updated_at"] = self._stamp()
        return Reply(200, {"ticket": ticket})

    def _stamp(self) -> str:
        """A new ``updated_at`` (each change moves it, as on the real service)."""
        n = next(self._changes)
        return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"

    def _create(self, body: dict[str, Any]) -> Reply:
        ticket = body.get("ticket") if isinstance(body, dict) else None
        details: dict[str, list[dict[str, str]]] = {}
        if not isinstance(ticket, dict):
            return Reply(400, {"error": "InvalidRequest", "description": "ticket is required"})
        comment = ticket.get("comment") or {}
        if not (comment.get("body") or comment.get("html_body")):
            details["base"] = [{"description": "Description: cannot be blank", "error": "BlankValue"}]
        if ticket.get("priority") not in (None, *_ZENDESK_PRIORITIES):
            details["priority"] = [{"description": "Priority: is not valid", "error": "InvalidValue"}]
        for tag in ticket.get("tags", []):
            if not isinstance(tag, str) or " " in tag:
                details["tags"] = [{"description": f"Tags: {tag!r} is invalid", "error": "InvalidValue"}]
        requester = ticket.get("requester")
        email = str((requester or {}).get("email", ""))
        if requester is not None and (not re.match(r"^[^@\s]+@[^@\s]+$", email) or email in self.refused_emails):
            details["requester"] = [{"description": "Requester: Email is not properly formatted",
                                     "error": "InvalidValue"}]
        if details:
            return Reply(422, {"error": "RecordInvalid", "description": "Record validation errors",
                               "details": details})
        created = {"id": next(self._ids), "status": "new", **ticket, "updated_at": self._stamp()}
        self.tickets.append(created)
        return Reply(201, {"ticket": created},
                     {"Location": f"{self.url}/api/v2/tickets/{created['id']}.json"})


# ====================================================================== Freshdesk

_SEARCH_TAG = re.compile(r"^tag:'([^']+)'$")


class FakeFreshdesk(FakeServer):
    """Freshdesk's tickets API (basic auth ``key:X``), following https://developers.freshdesk.com/api/:

    - ``POST /api/v2/tickets`` creates (400 "Validation failed" with per-field ``errors``);
    - ``GET /api/v2/tickets`` ("List all tickets", filters ``email``, ``updated_since``) reads
      the tickets themselves: consistent, a new ticket is there at once;
    - ``GET /api/v2/search/tickets`` ("Filter tickets") reads the search index, which the docs
      say lags behind: a ticket only appears there :attr:`search_lag` seconds (of :attr:`now`)
      after its creation — a few minutes on the real service;
    - ``POST /api/v2/tickets/{id}/notes`` adds a note, private unless ``private`` is false
      ("Add Note to a ticket": ``body`` HTML, required; ``private`` default true,
      https://developers.freshdesk.com/api/#add_note_to_a_ticket); 404 for an unknown ticket.
    """

    def __init__(self, api_key: str = "fd-secret-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.tickets: list[dict[str, Any]] = []
        self._ids = itertools.count(5001)
        self._notes = itertools.count(90001)
        #: Addresses Freshdesk refuses although they parse (its own rules).
        self.refused_emails: set[str] = set()
        self.now = 0.0
        self.search_lag = 180.0
        self._created_at: dict[int, float] = {}

    def handle(self, request: Request) -> Reply:
        if _basic(request.headers.get("authorization")) != f"{self.api_key}:X":
            return Reply(401, {"code": "invalid_credentials",
                               "message": "You have to be logged in to perform this action."})
        if request.path == "/api/v2/tickets" and request.method == "POST":
            return self._create(request)
        if request.path == "/api/v2/tickets" and request.method == "GET":
            return self._list(request.query)
        notes = re.fullmatch(r"/api/v2/tickets/(\d+)/notes", request.path)
        if notes and request.method == "POST":
            return self._note(int(notes.group(1)), request)
        if request.path == "/api/v2/search/tickets" and request.method == "GET":
            return self._search(request.query.get("query", ""))
        return Reply(404, {"code": "not_found", "message": "Not found"})

    def _list(self, query: dict[str, str]) -> Reply:
        if "updated_since" in query and not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", query["updated_since"]):
            return Reply(400, {"description": "Validation failed", "errors": [
                {"field": "updated_since", "message": "It should be in the 'yyyy-mm-ddThh:mm:ssZ' format",
                 "code": "invalid_value"}]})
        found = [t for t in self.tickets if "email" not in query or t.get("email") == query["email"]]
        return Reply(200, list(reversed(found)))

    def _note(self, ticket_id: int, request: Request) -> Reply:
        ticket = next((t for t in self.tickets if t["id"] == ticket_id), None)
        if ticket is None:
            return Reply(404, {"code": "not_found", "message": "Not found"})
        body = request.json()
        if not body.get("body"):
            return Reply(400, {"description": "Validation failed", "errors": [
                {"field": "body", "message": "It should not be blank", "code": "missing_field"}]})
        note = {"id": next(self._notes), "ticket_id": ticket_id, "private": body.get("private", True),
                "body": body["body"]}
        ticket.setdefault("notes", []).append(note)
        return Reply(201, note)

    def _create(self, request: Request) -> Reply:
        if not _is_json(request):
            return Reply(415, {"code": "invalid_content_type",
                               "message": "Content-Type header should have application/json"})
        body = request.json()
        errors = []

        def bad(field_name: str, message: str, code: str = "invalid_value") -> None:
            errors.append({"field": field_name, "message": message, "code": code})

        if not any(body.get(k) for k in ("requester_id", "email", "phone", "twitter_id", "facebook_id",
                                         "unique_external_id")):
            bad("requester_id", "Please fill at least 1 of requester_id, phone, email, twitter_id, "
                "facebook_id, unique_external_id fields", "missing_field")
        elif "email" in body and (not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", str(body["email"]))
                                  or body["email"] in self.refused_emails):
            bad("email", "It should be in the 'valid email address' format")
        for name in ("subject", "description"):
            if not body.get(name):
                bad(name, "It should not be blank as this is a mandatory field", "missing_field")
        if body.get("priority") not in (1, 2, 3, 4):
            bad("priority", "It should be one of these values: '1,2,3,4'")
        if body.get("status") not in (2, 3, 4, 5):
            bad("status", "It should be one of these values: '2,3,4,5'")
        if body.get("source", 2) not in (1, 2, 3, 5, 6, 7, 9, 11, 10):
            bad("source", "It should be one of these values: '1,2,3,5,6,7,9,11,10'")
        for tag in body.get("tags", []):
            if not isinstance(tag, str) or len(tag) > 32:
                bad("tags", "It should only contain elements that have maximum of 32 characters")
        if errors:
            return Reply(400, {"description": "Validation failed", "errors": errors})
        ticket = {"id": next(self._ids), **body}
        self.tickets.append(ticket)
        self._created_at[ticket["id"]] = self.now
        return Reply(201, ticket, {"Location": f"{self.url}/api/v2/tickets/{ticket['id']}"})

    def _search(self, query: str) -> Reply:
        if not (len(query) >= 2 and query.startswith('"') and query.endswith('"')):
            return Reply(400, {"description": "Validation failed", "errors": [
                {"field": "query", "message": "Given query is invalid: it should be enclosed in double quotes",
                 "code": "invalid_value"}]})
        tags = []
        for part in query[1:-1].split(" AND "):
            m = _SEARCH_TAG.match(part.strip())
            if not m:
                return Reply(400, {"description": "Validation failed", "errors": [
                    {"field": "query", "message": f"Unsupported condition {part!r}", "code": "invalid_value"}]})
            tags.append(m.group(1))
        indexed = [t for t in self.tickets if self.now - self._created_at[t["id"]] >= self.search_lag]
        found = [t for t in indexed if all(tag in t.get("tags", []) for tag in tags)]
        return Reply(200, {"results": found, "total": len(found)})


# ====================================================================== helpdesks calling us


def zendesk_webhook(secret: str, payload: dict[str, Any], when: float | None = None) -> tuple[bytes, dict[str, str]]:
    """A request as a Zendesk webhook with a signing secret sends it: the body and its headers.

    "Webhook requests will contain two headers … X-Zendesk-Webhook-Signature … and
    X-Zendesk-Webhook-Signature-Timestamp"; the signature is ``base64(HMACSHA256(TIMESTAMP
    + BODY))`` keyed with the secret as Zendesk shows it, and the timestamp is ISO 8601
    (``2021-07-25T10:00:00Z``) — https://developer.zendesk.com/documentation/webhooks/verifying/.
    """
    import hashlib
    import hmac
    from datetime import UTC, datetime

    body = json.dumps(payload).encode()
    stamp = datetime.fromtimestamp(time.time() if when is None else when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return body, {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
                  "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def freshdesk_webhook(payload: dict[str, Any], *, secret: str | None = None,
                      basic: tuple[str, str] | None = None) -> tuple[bytes, dict[str, str]]:
    """A request as Freshdesk's "Trigger webhook" automation action sends it.

    It signs nothing; the admin adds custom headers, or "Requires authentication" with a
    username and password (https://support.freshdesk.com/support/solutions/articles/132589-
    using-webhooks-in-automation-rules), and writes the JSON content with placeholders
    such as ``{{ticket.id}}`` and ``{{ticket.status}}`` (the status's name, e.g. ``Resolved``).
    """
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Notifier-Webhook-Secret"] = secret
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    return json.dumps(payload).encode(), headers
