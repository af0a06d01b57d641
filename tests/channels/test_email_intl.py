"""Internationalised names and addresses, against a real aiosmtpd server with and without SMTPUTF8.

A consenting visitor named Jörg, writing from ``jörg@example.com`` or ``jorg@müller.de``:
the agent's Reply must reach them when the server allows it, and the mail must never be
a dead letter because of it (RFC 6531 SMTPUTF8, RFC 5890 IDNA, RFC 2047 encoded words).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_string, policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from notifier.channels.base import Outbound
from tests.channels.samples import event, outbound
from tests.channels.test_email import channel, consenting


@dataclass
class Got:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        # Read as a mail client does: RFC 6532 headers are UTF-8 text.
        parsed: EmailMessage = message_from_string(self.raw.decode("utf-8"), policy=policy.default)
        return parsed

    @property
    def header_lines(self) -> list[bytes]:
        return self.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@dataclass
class Recorder:
    received: list[Got] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(Got(str(envelope.mail_from), list(envelope.rcpt_tos),
                                 list(envelope.mail_options), envelope.original_content or b""))
        return "250 2.0.0 Ok: queued"


Start = Callable[[bool], Awaitable[int]]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def smtp(recorder: Recorder) -> AsyncIterator[Start]:
    """``port = await smtp(smtputf8)``: aiosmtpd offering SMTPUTF8 or not."""
    servers: list[asyncio.Server] = []

    async def start(smtputf8: bool) -> int:
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(recorder, hostname="mx.test", enable_SMTPUTF8=smtputf8), "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()


def jorg(email: str) -> Outbound:
    return outbound(event(user={"name": "Jörg Müller", "email": email, "consent": True}, priority=None))


@pytest.mark.parametrize("email", ["jörg@example.com", "jorg@müller.de"])
async def test_utf8_server_gets_the_address_as_written(smtp: Start, recorder: Recorder, email: str) -> None:
    port = await smtp(True)
    result = await channel(port).send(jorg(email))
    assert result.ok, result.reason
    [got] = recorder.received
    assert "SMTPUTF8" in [o.upper() for o in got.mail_options]
    local, _, domain = email.partition("@")
    assert got.message["Reply-To"].addresses == (Address("Jörg Müller", local, domain),)
    assert f"Reply-To: Jörg Müller <{email}>".encode() in got.header_lines


async def test_ascii_server_gets_the_idna_domain_and_an_encoded_name(smtp: Start, recorder: Recorder) -> None:
    port = await smtp(False)
    result = await channel(port).send(jorg("jorg@müller.de"))
    assert result.ok, result.reason
    [got] = recorder.received
    assert not any(o.upper() == "SMTPUTF8" for o in got.mail_options)
    assert all(line.isascii() for line in got.header_lines)  # what a 7-bit relay accepts
    # The agent's client shows the name decoded and replies to a domain that resolves.
    assert got.message["Reply-To"].addresses == (Address("Jörg Müller", "jorg", "xn--mller-kva.de"),)


async def test_ascii_server_and_non_ascii_local_part_still_delivers(smtp: Start, recorder: Recorder) -> None:
    port = await smtp(False)
    result = await channel(port).send(jorg("jörg@example.com"))
    assert result.ok, result.reason  # never a dead letter for the visitor's address
    [got] = recorder.received
    assert all(line.isascii() for line in got.header_lines)
    assert got.message["Reply-To"] is None  # no header can carry it here...
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None and "jörg@example.com" in body.get_content()  # ...the body still does


async def test_configured_idn_recipient_works_without_smtputf8(smtp: Start, recorder: Recorder) -> None:
    port = await smtp(False)
    result = await channel(port, to=["support@müller.de"]).send(outbound(consenting()))
    assert result.ok, result.reason
    [got] = recorder.received
    assert got.rcpt_tos == ["support@xn--mller-kva.de"]
    assert got.message["To"].addresses == (Address("", "support", "xn--mller-kva.de"),)
