"""One HTTP status table, applied to every HTTP channel.

Each channel meets a plain :class:`FakeServer` scripted to answer one status (or to
refuse the connection, or never answer); what the channel reports must match the shared
policy: 2xx sent, 408/429/5xx and transport failures retried, other 4xx permanent.

To cover a new HTTP channel, add a :class:`Target` to ``TARGETS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from notifier.channels import build_channel
from notifier.channels.base import Channel
from notifier.config.models import (
    FreshdeskChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
    ZendeskChannel,
)
from tests.channels.fakes import FakeServer, Reply, closed_url
from tests.channels.samples import context, outbound

SHORT = timedelta(milliseconds=300)
#: For sends that get an answer: generous, so a loaded machine never turns one into a timeout.
GENEROUS = timedelta(seconds=15)


@dataclass(frozen=True)
class Target:
    """How to point one channel type at a server (``base`` is ``http://127.0.0.1:PORT``)."""

    name: str
    make: Callable[[str, timedelta], Channel]
    #: The body the real service answers on success.
    ok_body: Any = b""


def _build(config: Any) -> Channel:
    return build_channel("under-test", config, context())


TARGETS = [
    Target("slack", lambda base, t: _build(SlackChannel(type="slack", token="xoxb-1", channel="#support",
                                                       base_url=base + "/api/", timeout=t, rate=1000)),
           {"ok": True, "ts": "1700000000.000100"}),
    Target("slack-webhook", lambda base, t: _build(SlackChannel(type="slack", webhook_url=base + "/services/T/B/x",
                                                               timeout=t, rate=1000)), "ok"),
    Target("teams", lambda base, t: _build(TeamsChannel(type="teams", url=base + "/workflows/w?sig=s", timeout=t))),
    Target("zendesk", lambda base, t: _build(ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                                           api_token="tok", base_url=base, timeout=t)),
           {"ticket": {"id": 7}}),
    Target("freshdesk", lambda base, t: _build(FreshdeskChannel(type="freshdesk", domain="acme", api_key="key",
                                                               base_url=base, timeout=t)),
           {"id": 7}),
    Target("webhook", lambda base, t: _build(WebhookChannel(type="webhook", url=base + "/hook", timeout=t))),
]

SENT = [200, 201, 202]
PERMANENT = [400, 401, 403, 404, 422]
RETRY = [408, 429, 500, 502, 503, 504]
EXPECTED = {**dict.fromkeys(SENT, "sent"), **dict.fromkeys(PERMANENT, "permanent"),
            **dict.fromkeys(RETRY, "retry")}


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def server(shared_server: FakeServer) -> FakeServer:
    shared_server.reset()
    return shared_server


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
@pytest.mark.parametrize("status", list(EXPECTED))
async def test_status_decides_the_outcome(server: FakeServer, target: Target, status: int) -> None:
    body = target.ok_body if status < 300 else {"error": "scripted failure"}
    server.script(Reply(status, body, {"Retry-After": "12"} if status in (429, 503) else {}))
    channel = target.make(server.url, GENEROUS)
    result = await channel.send(outbound())
    await channel.aclose()

    assert result.status == EXPECTED[status], result.reason
    assert len(server.requests) == 1  # one attempt per send: our retry policy owns retries
    if result.status != "sent":
        assert str(status) in result.reason
    if status in (429, 503):
        assert result.retry_after == 12.0


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_connection_refused_is_retried(target: Target) -> None:
    channel = target.make(closed_url(), GENEROUS)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and result.label == "connection", result.reason


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
async def test_no_answer_within_the_timeout_is_retried(server: FakeServer, target: Target) -> None:
    server.script(Reply.hang())
    channel = target.make(server.url, SHORT)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and result.label == "timeout", result.reason


SLACK_CODES = {
    "invalid_auth": "permanent", "not_authed": "permanent", "account_inactive": "permanent",
    "token_revoked": "permanent", "channel_not_found": "permanent", "not_in_channel": "permanent",
    "is_archived": "permanent", "msg_too_long": "permanent", "invalid_blocks": "permanent",
    "missing_scope": "permanent", "ratelimited": "retry", "internal_error": "retry",
    "fatal_error": "retry", "service_unavailable": "retry", "request_timeout": "retry",
}


@pytest.mark.parametrize(("code", "expected"), list(SLACK_CODES.items()))
async def test_slack_error_codes(server: FakeServer, code: str, expected: str) -> None:
    server.script(Reply(200, {"ok": False, "error": code}))
    channel = TARGETS[0].make(server.url, GENEROUS)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == expected and f"({code})" in result.reason
