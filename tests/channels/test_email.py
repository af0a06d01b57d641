"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifier.channels import email as email_channel
from notifier.channels._smtp import parse_smtp_url
from notifier.channels.base import Outbound, Report, SendResult
from notifier.config.models import EmailChannel
from notifier.core.events import Event, Priority
from tests.channels.samples import context, event, outbound

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
USER, PASSWORD = "agent", "p@ss w0rd/secret"
ENCODED = "p%40ss%20w0rd%2Fsecret"


# --------------------------------------------------------------------------- the SMTP server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = message_from_bytes(self.raw, policy=policy.default)
        return parsed

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype
        # Mail clients show lines, whatever the wire's CRLF.
        return str(body.get_content()).replace("\r\n", "\n")


@dataclass
class Mailbox:
    """An aiosmtpd handler that records mails and answers as scripted."""

    received: list[Received] = field(default_factory=list)
    #: address -> replies to its RCPT TO, used in order (then "250 OK").
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    #: replies to the next DATA commands, used in order (then "250 OK").
    data: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    tls_seen: list[bool] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        replies = self.rcpt.get(address)
        if replies:
            return replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data:
            return self.data.pop(0)
        self.tls_seen.append(session.ssl is not None)
        self.received.append(Received(envelope.mail_from or "", list(envelope.rcpt_tos),
                                      envelope.original_content or b""))
        return "250 2.0.0 Ok: queued as 4F2A"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        if ok:
            self.logins.append(f"{mechanism}:{auth_data.login.decode()}")
        return AuthResult(success=ok, handled=False)


@dataclass
class Tls:
    ca: trustme.CA
    server: ssl.SSLContext
    ca_file: str


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return Tls(ca, server, str(path))


Start = Callable[..., Awaitable[int]]


@pytest.fixture
async def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
async def smtp_server(mailbox: Mailbox, tls: Tls) -> AsyncIterator[Start]:
    """``port = await smtp_server(mode="plain"|"starttls"|"implicit", auth=False, exclude=())``."""
    servers: list[asyncio.Server] = []

    async def start(mode: str = "plain", auth: bool = False, exclude: tuple[str, ...] = ()) -> int:
        def factory() -> SMTP:
            return SMTP(mailbox, hostname="mx.test",
                        tls_context=tls.server if mode == "starttls" else None,
                        require_starttls=mode == "starttls",
                        authenticator=mailbox.authenticate if auth else None,
                        auth_required=auth, auth_require_tls=True,
                        auth_exclude_mechanism=list(exclude))

        server = await asyncio.get_running_loop().create_server(
            factory, "127.0.0.1", 0, ssl=tls.server if mode == "implicit" else None)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()


def channel(port: int | None = None, *, smtp: str | None = None, inbox: bool = True,
            locale: str = "fr", ctx_locale: str = "fr", admin_email: str | None = "admin@example.com",
            **config: Any) -> email_channel.EmailTarget:
    settings: dict[str, Any] = {"type": "email", "to": ["support@votresite.com"],
                                "from": "Chatbot AAIA <no-reply@votresite.com>", "locale": locale,
                                "timeout": "5s", **config}
    if smtp is not None:
        settings["smtp"] = smtp
    ctx = context(admin_email=admin_email, locale=ctx_locale)
    if inbox and port is not None:
        ctx.inbox = f"127.0.0.1:{port}"
    return email_channel.create("support-email", EmailChannel.model_validate(settings), ctx)


def consenting(**changes: Any) -> Event:
    user = {"name": "Marie Dupont", "email": "marie@example.com", "phone": "+33 6 12 34 56 78",
            "ip": "203.0.113.7", "consent": True}
    return event(user=user, priority=None, **changes)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --------------------------------------------------------------------------- content


async def test_french_support_request_as_promised(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    message = outbound(consenting(), priority=Priority.normal, folded=3, keywords=("humain",))
    result = await channel(port).send(message)
    assert result.ok, result.reason
    (mail,) = mailbox.received
    msg = mail.message
    assert msg["Subject"] == "Nouvelle Demande de Support du Chatbot AAIA"
    text = mail.part("plain")
    assert text.startswith("Bonjour,\n\nUn utilisateur a demandé du support via votre chatbot AAIA.\n")
    assert "Message Utilisateur : Bonjour, ma commande n'est jamais arrivée." in text
    assert "Contexte : Mes commandes — https://shop.example.com/orders/1234" in text
    assert "Heure : 14/05/2024 14:03 (Europe/Paris)" in text  # 12:03 UTC is 14:03 in Paris in May
    assert "Adresse IP : 203.0.113.7" in text
    assert "Email : marie@example.com" in text and "Téléphone : +33 6 12 34 56 78" in text
    assert "Chatbot : Elle a été expédiée le 10 mai." in text
    assert "+3 similaires regroupés" in text and "Mots-clés : humain" in text
    assert "Voir l'événement : https://notifier.example.com/v1/events/evt-0001" in text
    assert "L'historique complet de conversation est disponible" in text
    assert text.rstrip().endswith("Cordialement,\nSystème Chatbot AAIA")
    assert msg["Reply-To"] == "Marie Dupont <marie@example.com>"  # an agent presses Reply
    assert mail.rcpt_tos == ["support@votresite.com"] and mail.mail_from == "no-reply@votresite.com"


async def test_english_email(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    result = await channel(port, locale="en").send(outbound(consenting(), priority=Priority.normal))
    assert result.ok, result.reason
    mail = mailbox.received[0]
    assert mail.message["Subject"] == "New Support Request from the AAIA Chatbot"
    text = mail.part("plain")
    assert text.startswith("Hello,\n\nA user asked for support through your AAIA chatbot.")
    assert "User Message: Bonjour, ma commande" in text
    assert "Time: 2024-05-14 14:03 (Europe/Paris)" in text
    assert "IP Address: 203.0.113.7" in text
    assert text.rstrip().endswith("Best regards,\nAAIA Chatbot System")


async def test_user_details_and_ip_only_with_consent(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    private = event(user={"name": "Marie Dupont", "email": "marie@example.com", "ip": "203.0.113.7",
                          "consent": False})
    assert (await channel(port).send(outbound(private))).ok
    mail = mailbox.received[0]
    for part in (mail.part("plain"), mail.part("html"), mail.raw.decode()):
        assert "203.0.113.7" not in part and "marie@example.com" not in part and "Dupont" not in part
    assert mail.message["Reply-To"] is None


async def test_html_part_is_escaped_and_self_contained(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    hostile = consenting(message='<script>alert("x")</script> & <b>gras</b>',
                         page={"url": "javascript:alert(1)", "title": "<img src=x onerror=alert(1)>"})
    assert (await channel(port).send(outbound(hostile))).ok
    html = mailbox.received[0].part("html")
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;gras&lt;/b&gt;" in html
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript:' not in html  # only web links become clickable
    assert "<style" not in html and "<link" not in html and "src=" not in html.replace("&lt;img src=", "")
    assert "Message Utilisateur :" in html and "Bonjour," in html
    assert '<table role="presentation"' in html
    assert mailbox.received[0].part("plain").count("<script>") == 1  # plain text stays literal


async def test_headers_and_stable_message_id(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    target = channel(port, cc=["lead@votresite.com"], bcc=["audit@votresite.com"])
    result = await target.send(outbound(consenting(), delivery_id="dlv-7", priority=Priority.high))
    assert result.ok and result.ref == "<dlv-7@votresite.com>" and result.thread_ref == result.ref
    msg = mailbox.received[0].message
    assert msg["Message-ID"] == "<dlv-7@votresite.com>"
    assert msg["X-Notifier-Kind"] == "support_request"
    assert msg["X-Notifier-Site"] == "shop.example.com"
    assert msg["X-Notifier-Priority"] == "high"
    assert msg["X-Notifier-Event"] == "evt-0001"
    assert msg["Cc"] == "lead@votresite.com" and msg["Bcc"] is None
    assert mailbox.received[0].rcpt_tos == ["support@votresite.com", "lead@votresite.com",
                                            "audit@votresite.com"]
    assert "Chatbot AAIA <no-reply@votresite.com>" in str(msg["From"])


@pytest.mark.parametrize(("locale", "priority", "test", "kind", "subject"), [
    ("fr", Priority.urgent, False, "support_request", "[URGENT] Nouvelle Demande de Support du Chatbot AAIA"),
    ("fr", Priority.high, False, "support_request",
     "[PRIORITÉ HAUTE] Nouvelle Demande de Support du Chatbot AAIA"),
    ("en", Priority.high, False, "support_request", "[HIGH PRIORITY] New Support Request from the AAIA Chatbot"),
    ("fr", Priority.normal, True, "support_request", "[TEST] Nouvelle Demande de Support du Chatbot AAIA"),
    ("fr", Priority.normal, False, "contact_request", "Nouvelle Demande de Contact du Chatbot AAIA"),
    ("fr", Priority.normal, False, "tool_call", "Nouvelle Demande de Support du Chatbot AAIA"),
    ("fr", Priority.normal, False, "message", "Mot-Clé Surveillé dans le Chatbot AAIA : remboursement"),
    ("en", Priority.low, False, "feedback", "New User Feedback from the AAIA Chatbot"),
])
async def test_subjects(smtp_server: Start, mailbox: Mailbox, locale: str, priority: Priority, test: bool,
                        kind: str, subject: str) -> None:
    port = await smtp_server()
    extra = {"tool": {"name": "send_support_email", "arguments": {}}} if kind == "tool_call" else {}
    message = outbound(consenting(kind=kind, **extra), priority=priority, test=test,
                       keywords=("remboursement",) if kind == "message" else ())
    assert (await channel(port, locale=locale).send(message)).ok
    assert mailbox.received[0].message["Subject"] == subject
    if test:
        assert "Ceci est un message de test" in mailbox.received[0].part("plain")


async def test_subject_override_keeps_the_tags(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    target = channel(port, subject="{{ site }} : {{ kind_label }}")
    assert (await target.send(outbound(consenting(), priority=Priority.urgent))).ok
    assert mailbox.received[0].message["Subject"] == "[URGENT] shop.example.com : Demande de support"


async def test_follow_up_threads_under_the_first_mail(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    target = channel(port)
    first = await target.send(outbound(consenting(), delivery_id="dlv-1"))
    second = await target.send(outbound(consenting(id="evt-0002"), delivery_id="dlv-2",
                                        thread_ref=first.thread_ref))
    assert first.thread_ref == "<dlv-1@votresite.com>" and second.ok
    reply = mailbox.received[1].message
    assert reply["In-Reply-To"] == "<dlv-1@votresite.com>"
    assert reply["References"] == "<dlv-1@votresite.com>"
    assert mailbox.received[0].message["In-Reply-To"] is None


# --------------------------------------------------------------------------- TLS and auth


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_starttls_and_auth(smtp_server: Start, mailbox: Mailbox, tls: Tls, mechanism: str) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    port = await smtp_server("starttls", auth=True, exclude=(other,))
    target = channel(smtp=f"smtp+starttls://{USER}:{ENCODED}@127.0.0.1:{port}", ca_file=tls.ca_file)
    result = await target.send(outbound(consenting()))
    assert result.ok, result.reason
    assert mailbox.logins == [f"{mechanism}:{USER}"] and mailbox.tls_seen == [True]


async def test_implicit_tls(smtp_server: Start, mailbox: Mailbox, tls: Tls) -> None:
    port = await smtp_server("implicit")
    result = await channel(smtp=f"smtps://127.0.0.1:{port}", ca_file=tls.ca_file).send(outbound(consenting()))
    assert result.ok, result.reason
    assert len(mailbox.received) == 1


async def test_untrusted_certificate_is_permanent_and_says_how_to_fix(smtp_server: Start,
                                                                       mailbox: Mailbox) -> None:
    port = await smtp_server("implicit")
    result = await channel(smtp=f"smtps://127.0.0.1:{port}").send(outbound(consenting()))
    assert result.status == "permanent" and "ca_file" in result.reason, result.reason
    unchecked = await channel(smtp=f"smtps://127.0.0.1:{port}", tls_verify=False).send(outbound(consenting()))
    assert unchecked.ok and len(mailbox.received) == 1


async def test_wrong_password_is_permanent_without_the_password(smtp_server: Start, mailbox: Mailbox,
                                                                tls: Tls) -> None:
    port = await smtp_server("starttls", auth=True)
    target = channel(smtp=f"smtp+starttls://{USER}:wrong-{ENCODED}@127.0.0.1:{port}", ca_file=tls.ca_file)
    result = await target.send(outbound(consenting()))
    assert result.status == "permanent" and result.label == "auth" and "535" in result.reason, result.reason
    assert_no_secret(result, "wrong-")
    assert not mailbox.received


# --------------------------------------------------------------------------- failures


def assert_no_secret(result: SendResult, prefix: str = "") -> None:
    for secret in (PASSWORD, ENCODED, prefix + PASSWORD, prefix + ENCODED, "w0rd"):
        assert secret not in result.reason, result.reason


async def test_451_then_accepted(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    mailbox.data.append("451 4.3.0 Try again later")
    target = channel(port)
    first = await target.send(outbound(consenting()))
    assert first.status == "retry" and "451" in first.reason
    second = await target.send(outbound(consenting(), attempt=2, progress=first.progress or {}))
    assert second.ok and len(mailbox.received) == 1


async def test_550_is_permanent(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    mailbox.data.append("550 5.7.1 Message rejected as spam")
    result = await channel(port).send(outbound(consenting()))
    assert result.status == "permanent" and "550 5.7.1 Message rejected as spam" in result.reason


async def test_every_recipient_refused_is_permanent(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    mailbox.rcpt["support@votresite.com"] = ["550 5.1.1 No such user"]
    result = await channel(port).send(outbound(consenting()))
    assert result.status == "permanent"
    assert "support@votresite.com refused: 550 5.1.1 No such user" in result.reason


async def test_partial_recipients(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    mailbox.rcpt["gone@votresite.com"] = ["550 5.1.1 No such user"]
    mailbox.rcpt["busy@votresite.com"] = ["452 4.2.2 Mailbox full"]
    target = channel(port, to=["support@votresite.com", "gone@votresite.com", "busy@votresite.com"])
    first = await target.send(outbound(consenting()))
    assert first.status == "retry" and "busy@votresite.com refused: 452" in first.reason
    assert first.progress is not None and first.progress["accepted"] == ["support@votresite.com"]
    second = await target.send(outbound(consenting(), attempt=2, progress=first.progress))
    assert second.ok and "gone@votresite.com refused: 550" in second.reason
    # Whoever accepted the mail once never receives it again.
    assert [m.rcpt_tos for m in mailbox.received] == [["support@votresite.com"], ["busy@votresite.com"]]


async def test_one_refused_one_accepted_is_sent_and_reported(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    mailbox.rcpt["gone@votresite.com"] = ["550 5.1.1 No such user"]
    result = await channel(port, to=["support@votresite.com", "gone@votresite.com"]).send(outbound(consenting()))
    assert result.ok and "gone@votresite.com refused: 550 5.1.1 No such user" in result.reason
    assert mailbox.received[0].rcpt_tos == ["support@votresite.com"]


async def test_connection_refused_is_retryable_without_password() -> None:
    port = free_port()
    target = channel(smtp=f"smtp+starttls://{USER}:{ENCODED}@127.0.0.1:{port}")
    result = await target.send(outbound(consenting()))
    assert result.status == "retry" and result.label == "connection", result.reason
    assert f"127.0.0.1:{port}" in result.reason
    assert_no_secret(result)


async def test_a_silent_server_times_out_and_is_retried() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets: the client must give up on its own
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await channel(port, timeout="300ms").send(outbound(consenting()))
    finally:
        server.close()
    assert result.status == "retry" and result.label == "timeout", result.reason


async def test_a_broken_subject_template_is_permanent(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    for subject in ("{{ site ", "{{ site | no_such_filter }}"):
        result = await channel(port, subject=subject).send(outbound(consenting()))
        assert result.status == "permanent" and "cannot render the email" in result.reason
    assert not mailbox.received


async def test_recipients_and_server_fallbacks(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    assert (await channel(port, to=[]).send(outbound(consenting()))).ok
    assert mailbox.received[0].rcpt_tos == ["admin@example.com"]
    nobody = await channel(port, to=[], admin_email=None).send(outbound(consenting()))
    assert nobody.status == "permanent" and "admin_email" in nobody.reason
    nowhere = await channel(None, inbox=False).send(outbound(consenting()))
    assert nowhere.status == "permanent" and "no smtp configured" in nowhere.reason


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp://mail.example.com").port == 25
    assert parse_smtp_url("smtp+starttls://mail.example.com").port == 587
    assert parse_smtp_url("smtps://mail.example.com").port == 465
    server = parse_smtp_url(f"smtps://{USER}:{ENCODED}@mail.example.com:2465")
    assert (server.username, server.password, server.port) == (USER, PASSWORD, 2465)
    assert PASSWORD not in server.shown and server.shown == "smtps://agent@mail.example.com:2465"


async def test_digest_report(smtp_server: Start, mailbox: Mailbox) -> None:
    port = await smtp_server()
    report = Report(key="daily:2024-05-14", title="Résumé quotidien\ndu 14/05/2024", text="12 conversations",
                    html="<p>12 conversations</p>")
    result = await channel(port).send_report(report)
    assert result.ok and result.ref == "<report.daily.2024-05-14@votresite.com>"
    mail = mailbox.received[0]
    assert mail.message["Subject"] == "Résumé quotidien du 14/05/2024"  # one line, whatever the title
    assert mail.part("plain").strip() == "12 conversations" and "<p>12 conversations</p>" in mail.part("html")
    mailbox.data.append("554 5.3.4 Message too big")
    assert (await channel(port).send_report(report)).status == "permanent"


def test_preview_shows_headers_and_text() -> None:
    text = email_channel.preview(channel(None, inbox=False, bcc=["audit@votresite.com"]), outbound(consenting()))
    assert text.startswith("From: Chatbot AAIA <no-reply@votresite.com>\nTo: support@votresite.com\n")
    assert "Subject: [PRIORITÉ HAUTE] Nouvelle Demande de Support du Chatbot AAIA" not in text
    assert "Subject: Nouvelle Demande de Support du Chatbot AAIA" in text
    assert "Bcc: audit@votresite.com" in text and "\n\nBonjour,\n" in text


# --------------------------------------------------------------------------- samples


def _pin(raw: bytes) -> bytes:
    # The Date header is the sending time; pin it so that the samples compare.
    return re.sub(rb"(?m)^Date: [^\r\n]*", b"Date: Tue, 14 May 2024 14:03:05 +0200", raw)


async def test_samples(smtp_server: Start, mailbox: Mailbox) -> None:
    """docs/samples/email-{fr,en}.{eml,txt,html}: the default mails as received.

    ``NOTIFIER_WRITE_SAMPLES=1 pytest tests/channels/test_email.py::test_samples`` rewrites them.
    """
    port = await smtp_server()
    write = os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1"
    for locale in ("fr", "en"):
        message: Outbound = outbound(consenting(), priority=Priority.normal, delivery_id="dlv-sample-1",
                                     keywords=("humain",) if locale == "fr" else ("human",))
        assert (await channel(port, locale=locale).send(message)).ok
        mail = mailbox.received[-1]
        files = {f"email-{locale}.eml": _pin(mail.raw),
                 f"email-{locale}.txt": mail.part("plain").encode(),
                 f"email-{locale}.html": mail.part("html").encode()}
        for name, data in files.items():
            path = SAMPLES / name
            if write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            else:
                assert path.read_bytes() == data, f"{name} is out of date: run with NOTIFIER_WRITE_SAMPLES=1"


async def test_text_mostly_not_ascii_travels_as_base64_and_reads_back_whole(smtp_server: Start,
                                                                            mailbox: Mailbox) -> None:
    """A transcript of emoji: both parts go base64 (a third of quoted-printable's size, and
    encoded in C); the French mail of every day stays quoted-printable, readable raw."""
    port = await smtp_server()
    chat = "👨‍👩‍👧🇫🇷" * 2000
    assert (await channel(port).send(outbound(consenting(transcript=[{"role": "user", "text": chat}])))).ok
    assert (await channel(port).send(outbound(consenting()))).ok
    emoji, french = mailbox.received
    for mail, encoding in ((emoji, "base64"), (french, "quoted-printable")):
        for subtype in ("plain", "html"):
            body = mail.message.get_body(preferencelist=(subtype,))
            assert body is not None and body["Content-Transfer-Encoding"] == encoding
    assert chat in emoji.part("plain") and chat in emoji.part("html")
    assert "Bonjour, ma commande n'est jamais arrivée." in french.part("plain")


async def test_long_name_is_cut_in_the_reply_to_and_whole_in_the_body(smtp_server: Start,
                                                                       mailbox: Mailbox) -> None:
    """A visitor's 200-character name: the Reply-To shows its start (whole flags, an ellipsis),
    the body all of it, and pressing Reply still reaches the visitor."""
    port = await smtp_server()
    name = "Marie 🇫🇷" + "🇫🇷" * 96  # 200 characters, flags of two each
    user = {"name": name, "email": "marie@example.com", "consent": True}
    result = await channel(port).send(outbound(event(user=user, priority=None)))
    assert result.ok, result.reason
    mail = mailbox.received[-1]
    assert mail.message["Reply-To"].addresses[0].addr_spec == "marie@example.com"
    # Decoded as RFC 2047 says a client does (the encoded words joined without the folding's
    # spaces; Python's newer header parser keeps those spaces in a display name).
    raw = message_from_bytes(mail.raw, policy=policy.compat32)["Reply-To"]
    shown = str(make_header(decode_header(raw))).removesuffix(" <marie@example.com>")
    assert shown.startswith("Marie 🇫🇷🇫🇷") and shown.endswith("🇫🇷…") and len(shown) <= 64
    assert f"Nom : {name}" in mail.part("plain")


@pytest.mark.parametrize(("typed", "reply_to", "shown"), [
    ("marie@example.com, boss@example.com", None, "marie@example.com, boss@example.com (adresse non valide)"),
    ("marie@example.com\r\nBcc: victim@example.com", None, "(adresse non valide)"),
    ("marie@", None, "marie@ (adresse non valide)"),
    ("marie@exémple.fr", "Marie Dupont <marie@xn--exmple-cva.fr>", "marie@exémple.fr"),
    ("josé@exemple.fr", None, "josé@exemple.fr"),  # a non-ASCII local part needs SMTPUTF8 to be a header
])
async def test_reply_to_holds_one_valid_address_or_none(smtp_server: Start, mailbox: Mailbox, typed: str,
                                                        reply_to: str | None, shown: str) -> None:
    """The visitor's address is checked: never two addresses, never a header of its own; the
    mail goes out either way, with the address as typed in the body."""
    port = await smtp_server()
    user = {"name": "Marie Dupont", "email": typed, "consent": True}
    result = await channel(port).send(outbound(event(user=user, priority=None)))
    assert result.ok, result.reason
    mail = mailbox.received[-1]
    assert mail.message["Reply-To"] == reply_to
    assert mail.message["Bcc"] is None and mail.rcpt_tos == ["support@votresite.com"]
    assert shown in mail.part("plain")
