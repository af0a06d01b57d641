"""Failure reasons say where and what in words: host and port, DNS, refused, timeout, TLS."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from notifier.channels import webhook
from notifier.config.models import WebhookChannel
from tests.channels.samples import context, outbound
from tests.channels.test_email import channel, free_port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


async def test_smtp_refused_names_host_and_port_never_the_password() -> None:
    port = free_port()
    result = await channel(smtp=f"smtp://agent:pw-7c1d9@127.0.0.1:{port}", inbox=False).send(outbound())
    assert result.status == "retry"
    assert result.reason.startswith(f"127.0.0.1:{port}: connection refused")
    assert "pw-7c1d9" not in result.reason and "***:" not in result.reason
    assert "Errno" not in result.reason and "Error(" not in result.reason


async def test_smtp_host_that_does_not_resolve_is_named() -> None:
    result = await channel(smtp="smtp+starttls://agent:pw-7c1d9@mail.no-such-host.invalid",
                           inbox=False).send(outbound())
    assert result.status == "retry"
    assert "mail.no-such-host.invalid:587: cannot resolve the host name" in result.reason
    assert "(DNS)" in result.reason and "gaierror" not in result.reason


async def test_smtp_server_that_never_answers_times_out_in_words(silent_port: int) -> None:
    result = await channel(smtp=f"smtp://127.0.0.1:{silent_port}", inbox=False, timeout="300ms").send(outbound())
    assert result.status == "retry"
    assert result.reason.startswith(f"127.0.0.1:{silent_port}: timed out")


def _hook(url: str) -> webhook.Webhook:
    config = WebhookChannel.model_validate({"type": "webhook", "url": url, "timeout": "300ms"})
    return webhook.create("hook", config, context())


async def test_webhook_failures_in_words(silent_port: int) -> None:
    refused = free_port()
    hook = _hook(f"http://127.0.0.1:{refused}/hook?token=s3cret-query")
    try:
        result = await hook.send(outbound())
    finally:
        await hook.aclose()
    assert result.status == "retry"
    assert result.reason == (f"127.0.0.1:{refused}: connection refused "
                             "(nothing listens on that port, or a firewall rejects it)")

    hook = _hook(f"http://127.0.0.1:{silent_port}/hook")
    try:
        result = await hook.send(outbound())
    finally:
        await hook.aclose()
    assert result.status == "retry"
    assert result.reason == f"127.0.0.1:{silent_port}: timed out waiting for an answer"

    hook = _hook("https://hooks.no-such-host.invalid/x")
    try:
        result = await hook.send(outbound())
    finally:
        await hook.aclose()
    assert result.reason.startswith("hooks.no-such-host.invalid:443: cannot resolve the host name")


async def test_webhook_server_that_hangs_up_is_told_as_such() -> None:
    """A receiver that reads the request and closes the connection without an answer."""
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hook = _hook(f"http://127.0.0.1:{port}/hook")
    try:
        result = await hook.send(outbound())
    finally:
        await hook.aclose()
        server.close()
    assert result.status == "retry"
    assert result.reason == f"127.0.0.1:{port}: the server closed the connection unexpectedly"
