"""No token, password or API key ever appears in a failure reason.

Every HTTP channel is configured with recognisable secrets and sent to a server that
echoes the whole request back (URL, headers, body) in its error, to a closed port, and
to a server that never answers. The reasons a user reads (``deliveries``, dead letters,
logs) must carry none of the secrets, not even part of one, nor their base64 form.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from notifier.channels import build_channel
from notifier.channels.base import Channel, SendResult
from notifier.config.models import (
    FreshdeskChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    ZendeskChannel,
)
from tests.channels.fakes import FakeServer, Reply, Request, closed_url
from tests.channels.samples import context, outbound

SHORT = timedelta(milliseconds=300)
SLACK_TOKEN = "xoxb-1234-SECRETslacktoken"
HOOK_PATH = "/services/T0/B0/SECREThookpath"
TEAMS_SIG = "SECRETteamssignature0123"
ZD_TOKEN = "SECRETzendesktoken"
FD_KEY = "SECRETfreshdeskkey"
HOOK_TOKEN = "SECRETwebhookheader"
HOOK_URL_PATH = "SECRETwebhookpath42"
HOOK_URL_KEY = "SECRETquerykey7"
SIGNING = "whsec_" + base64.b64encode(b"SECRETsigning-key-0123456789abcd").decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Target:
    name: str
    make: Callable[[str], Channel]
    secrets: tuple[str, ...]


def _build(config: Any) -> Channel:
    return build_channel("under-test", config, context())


TARGETS = [
    Target("slack", lambda base: _build(SlackChannel(type="slack", token=SLACK_TOKEN, channel="#support",
                                                    base_url=base + "/api/", timeout=SHORT, rate=1000)),
           (SLACK_TOKEN,)),
    Target("slack-webhook", lambda base: _build(SlackChannel(type="slack", webhook_url=base + HOOK_PATH,
                                                            timeout=SHORT, rate=1000)),
           ("SECREThookpath", HOOK_PATH)),
    Target("teams", lambda base: _build(TeamsChannel(type="teams", timeout=SHORT,
                                                    url=f"{base}/workflows/SECRETworkflow42/invoke?api-version=1&sig={TEAMS_SIG}")),
           (TEAMS_SIG, "SECRETworkflow42")),
    Target("zendesk", lambda base: _build(ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                                        api_token=ZD_TOKEN, base_url=base, timeout=SHORT)),
           (ZD_TOKEN, b64(f"a@acme.test/token:{ZD_TOKEN}"))),
    Target("freshdesk", lambda base: _build(FreshdeskChannel(type="freshdesk", domain="acme", api_key=FD_KEY,
                                                            base_url=base, timeout=SHORT)),
           (FD_KEY, b64(f"{FD_KEY}:X"))),
    Target("webhook", lambda base: _build(WebhookChannel(type="webhook", url=base + "/hook", timeout=SHORT,
                                                        headers={"X-Token": HOOK_TOKEN})),
           (HOOK_TOKEN,)),
    # A receiver whose path and query are its password, and a signed webhook.
    Target("webhook-secret-url", lambda base: _build(WebhookChannel(
        type="webhook", url=f"{base}/in/{HOOK_URL_PATH}?key={HOOK_URL_KEY}", timeout=SHORT,
        signing_secret=SIGNING)),
           (HOOK_URL_PATH, HOOK_URL_KEY, SIGNING)),
]


def assert_no_secret(result: SendResult, secrets: tuple[str, ...]) -> None:
    assert result.status != "sent"
    for secret in secrets:
        # Not the secret, nor any 8-character piece of it (an excerpt cut in the middle).
        pieces = {secret[i:i + 8] for i in range(len(secret) - 7)}
        leaked = [p for p in pieces if p in result.reason]
        assert not leaked, f"{secret!r} leaked into {result.reason!r}"


def echo(status: int, *, pad: int = 0) -> Callable[[Request], Reply]:
    """An error body that repeats the request, its secrets placed across the excerpt's cut."""
    def handler(request: Request) -> Reply:
        path = request.path + ("?" + "&".join(f"{k}={v}" for k, v in request.query.items()) if request.query else "")
        seen = {"url": path, "auth": request.headers.get("authorization"), "headers": request.headers,
                "body": request.text[:500]}
        return Reply(status, "x" * pad + json.dumps(seen))
    return handler


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def server(shared_server: FakeServer) -> FakeServer:
    shared_server.reset()
    shared_server.handler = None
    return shared_server


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@pytest.mark.parametrize("status", [401, 429, 500])
@pytest.mark.parametrize("pad", [0, 270, 290])
async def test_errors_that_echo_the_request(server: FakeServer, target: Target, status: int, pad: int) -> None:
    server.handler = echo(status, pad=pad)
    channel = target.make(server.url)
    result = await channel.send(outbound())
    await channel.aclose()
    assert_no_secret(result, target.secrets)


async def test_slack_error_code_echoing_the_token(server: FakeServer) -> None:
    server.handler = lambda request: Reply(200, {"ok": False, "error": request.headers["authorization"]})
    channel = TARGETS[0].make(server.url)
    result = await channel.send(outbound())
    await channel.aclose()
    assert_no_secret(result, TARGETS[0].secrets)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_connection_and_timeout_errors(server: FakeServer, target: Target) -> None:
    server.script(Reply.hang())
    results = []
    for base in (closed_url(), server.url, closed_url().replace("http://", "http://user:SECRETpassword@")):
        channel = target.make(base)
        results.append(await channel.send(outbound()))
        await channel.aclose()
    for result in results:
        assert result.status == "retry"
        assert_no_secret(result, (*target.secrets, "SECRETpassword"))
