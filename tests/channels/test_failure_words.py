"""Failure reasons say where and what in words: host and port, DNS, refused, timeout, TLS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from notifier.channels import webhook
from notifier.channels.base import SendResult
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


async def _sent_to(receive: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
                   ) -> tuple[int, SendResult]:
    """(port, result) of one webhook send to a raw receiver on 127.0.0.1 that ``receive`` plays."""
    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hook = _hook(f"http://127.0.0.1:{port}/hook")
    try:
        return port, await hook.send(outbound())
    finally:
        await hook.aclose()
        server.close()


async def test_webhook_server_that_hangs_up_is_told_as_such() -> None:
    """A receiver that reads the request and closes the connection without an answer."""
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    port, result = await _sent_to(hang_up)
    assert result.status == "retry"
    assert result.reason == f"127.0.0.1:{port}: the server closed the connection unexpectedly"


async def test_a_retry_after_in_bytes_outside_utf8_still_says_429() -> None:
    """A receiver whose Retry-After is not text: the answer is still a 429, retried."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: \xff\xfe\r\nContent-Length: 4\r\n\r\nslow")
        await writer.drain()
        writer.close()

    _, result = await _sent_to(answer)
    assert result.status == "retry"
    assert result.reason == "HTTP 429 Too Many Requests: slow"


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Callable[[], Awaitable[int]], Path]]:
    """A webhook receiver over HTTPS whose certificate a private CA signed, and that CA's file."""
    ca = trustme.CA()
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    servers: list[asyncio.Server] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    async def start() -> int:
        server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start, ca_file
    for server in servers:
        server.close()


async def _notifier_test(config: Path, **env: str) -> dict[str, Any]:
    """``notifier test hook --json`` in a process of its own, with ``env`` added to its environment."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "notifier.cli", "test", "hook", "--config", str(config), "--db",
        f"sqlite:///{config.parent / 'n.db'}", "--json", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **env})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert out, err.decode()
    return json.loads(out)  # type: ignore[no-any-return]


async def test_a_webhook_to_a_private_ca_fails_for_good_and_says_how_to_trust_it(
        tls_receiver: tuple[Callable[[], Awaitable[int]], Path], tmp_path: Path) -> None:
    start, ca_file = tls_receiver
    port = await start()
    config = tmp_path / "channels.yaml"
    config.write_text(f"version: 1\nchannels:\n  hook: {{type: webhook, url: 'https://127.0.0.1:{port}/hook'}}\n"
                      "routes: []\n")
    system = ssl.get_default_verify_paths().openssl_cafile  # the system's bundle, whatever the caller set
    untrusted = await _notifier_test(config, SSL_CERT_FILE=system)
    # Not a passing network problem: trying again changes nothing until someone acts.
    assert untrusted["status"] == "permanent", untrusted
    assert untrusted["reason"].startswith(f"127.0.0.1:{port}: TLS certificate "), untrusted
    assert untrusted["reason"].endswith("for a private CA, add it to the system's certificates or start notifier "
                                        "with SSL_CERT_FILE naming a bundle holding it"), untrusted
    # Doing what it says is enough.
    trusted = await _notifier_test(config, SSL_CERT_FILE=str(ca_file))
    assert trusted["status"] == "sent", trusted


async def test_aiohttps_hang_up_and_connect_timeout_are_told_as_such(silent_port: int) -> None:
    # Slack's client sends with aiohttp, loaded only where a Slack channel is: its errors are
    # still read for what they are (the server hung up; no connection in time).
    import aiohttp

    from notifier.channels.http import network_problem

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ServerDisconnectedError) as hung_up:
                await asyncio.wait_for(session.post(f"http://127.0.0.1:{port}/api/chat.postMessage", data=b"{}"), 10)
    finally:
        server.close()
    assert network_problem(hung_up.value, "127.0.0.1", port) == \
        (f"127.0.0.1:{port}: the server closed the connection unexpectedly", "connection")

    # One connection allowed, held by a request the server never answers: the next one
    # cannot get a connection within its connect timeout.
    url = f"http://127.0.0.1:{silent_port}/"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        held = asyncio.create_task(session.get(url))
        try:
            with pytest.raises(aiohttp.ConnectionTimeoutError) as timed_out:
                await asyncio.wait_for(session.get(url, timeout=aiohttp.ClientTimeout(connect=0.2)), 10)
        finally:
            held.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await held
    assert network_problem(timed_out.value, "127.0.0.1", silent_port) == \
        (f"127.0.0.1:{silent_port}: timed out connecting", "timeout")
