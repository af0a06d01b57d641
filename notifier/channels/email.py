"""``type: email``: the primary channel, over SMTP or into the built-in capture inbox.

The mail follows the format promised to support teams ("Nouvelle Demande de Support du
Chatbot AAIA", "Bonjour, ...", "Cordialement, Système Chatbot AAIA"), as plain text plus an
HTML part (inline CSS, table layout, no remote images), in the channel's locale.

SMTP replies decide what happens next: 4xx, refused connections and timeouts are worth
another try; 5xx is final. Recipients are judged one by one: those that accepted are
remembered in the delivery's progress and never receive the mail again on a retry. Every
attempt of one delivery carries the same ``Message-ID``, so a retry after a lost reply
is recognisable, and follow-ups of a conversation thread under its first mail.

Example ``channels.yaml`` entry::

    support-email:
      type: email
      to: [support@votresite.com]
      from: "Chatbot <no-reply@votresite.com>"
      smtp: "smtp+starttls://user:${SMTP_PASSWORD}@mail.votresite.com"
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import ssl
from dataclasses import replace
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import jinja2

from notifier.channels._addresses import ascii_mailbox, needs_smtputf8, visitor_address, wire_bytes
from notifier.channels._smtp import SmtpServer, parse_smtp_url
from notifier.channels.base import ChannelContext, Outbound, Report, SendResult, permanent, retryable, sent
from notifier.channels.case_text import case_words, state_text
from notifier.channels.email_config import EmailChannel
from notifier.channels.http import network_problem, redact
from notifier.channels.inert import header_text
from notifier.core.addresses import checked_email
from notifier.core.follow_up import CaseState, FollowUp
from notifier.core.text import grapheme_boundary
from notifier.render import view

__all__ = ["EmailTarget", "create", "follows_up", "preview", "wire_bytes"]

#: Characters of the visitor's name kept in the Reply-To (the body shows it whole). Python's
#: ``email`` package folds a non-ASCII display name in quadratic time: 200 flags took 0.2 s
#: of the worker's loop per mail, 64 characters at most take a tenth of that.
REPLY_TO_NAME = 64


def _reply_to_name(name: str) -> str:
    """``name`` as the display name of a Reply-To: one line, at most :data:`REPLY_TO_NAME`
    characters, cut between graphemes with an ellipsis."""
    name = header_text(name)
    if len(name) <= REPLY_TO_NAME:
        return name
    return name[:grapheme_boundary(name, REPLY_TO_NAME - 1)].rstrip() + "…"


def _transfer_encoding(text: str) -> str:
    """Quoted-printable for text that is mostly ASCII (readable as it travels), base64 for
    text that is mostly not; both pass every relay, including those without 8BITMIME.

    Quoted-printable writes each non-ASCII byte as three characters, base64 every byte as
    four thirds: past one non-ASCII byte per five ASCII characters base64 is the shorter.
    And the cheaper: ``email`` encodes quoted-printable and writes its lines in Python, a
    visitor's 100 KB of emoji took 0.26 s of the worker's loop per mail, base64 is C.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    non_ascii_bytes = len(text.encode("utf-8", "surrogatepass")) - ascii_chars
    return "base64" if non_ascii_bytes * 5 > ascii_chars else "quoted-printable"


#: Words put in front of the subject so that mail filters can sort on them.
_TAGS = {
    "fr": {"test": "[TEST]", "urgent": "[URGENT]", "high": "[PRIORITÉ HAUTE]"},
    "en": {"test": "[TEST]", "urgent": "[URGENT]", "high": "[HIGH PRIORITY]"},
}
_ACCENTS = {"urgent": "#de350b", "high": "#ff8b00"}
_TIME_FORMATS = {"fr": "%d/%m/%Y %H:%M"}


class EmailTarget:
    """Renders events as emails and hands them to an SMTP server."""

    type = "email"
    #: Alerts show their case (its state, the claim/resolve links): the worker fills ``Outbound.case``.
    shows_case = True

    def __init__(self, name: str, config: EmailChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        self._subject_template: jinja2.Template | None = None

    # ------------------------------------------------------------------ addressing
    @property
    def to(self) -> list[str]:
        """``to``, or the admin email when ``to`` is empty."""
        if self.config.to:
            return list(self.config.to)
        return [self.ctx.defaults.admin_email] if self.ctx.defaults.admin_email else []

    def recipients(self) -> list[str]:
        """Every envelope recipient (to, cc and bcc), once each, as bare addresses."""
        out: list[str] = []
        for entry in [*self.to, *self.config.cc, *self.config.bcc]:
            address = parseaddr(entry)[1] or entry
            if address not in out:
                out.append(address)
        return out

    @property
    def sender(self) -> str:
        """The envelope sender: the address inside ``from``."""
        return parseaddr(self.config.from_)[1] or self.config.from_

    def message_id(self, seed: str) -> str:
        """A ``Message-ID`` that depends only on ``seed`` (the same for every retry)."""
        domain = self.sender.rpartition("@")[2] or "notifier"
        local = re.sub(r"[^A-Za-z0-9._+-]", ".", seed) or "notifier"
        return f"<{local}@{domain}>"

    def server(self) -> SmtpServer | None:
        """The SMTP server to use: ``smtp``, else the capture inbox, else none."""
        if self.config.smtp:
            return parse_smtp_url(self.config.smtp)
        if self.ctx.inbox:
            host, _, port = self.ctx.inbox.rpartition(":")
            return SmtpServer("smtp", host or "127.0.0.1", int(port))
        return None

    # ------------------------------------------------------------------ rendering
    def context(self, message: Outbound) -> dict[str, Any]:
        """The template context: :func:`notifier.render.view` plus what emails add."""
        ev = message.event
        context = view(message, self.ctx.defaults, self.locale, link=self.ctx.link(ev.id or ""))
        when = ev.occurred_at or datetime.now(ZoneInfo(self.ctx.defaults.timezone))
        local = when.astimezone(ZoneInfo(self.ctx.defaults.timezone))
        context.update(
            local_time=local.strftime(_TIME_FORMATS.get(self.locale, "%Y-%m-%d %H:%M")),
            accent=_ACCENTS.get(message.priority.value, "#0052cc"),
            **self.case_context(message.case),
        )
        return context

    def case_context(self, case: CaseState | None) -> dict[str, Any]:
        """The case's state line and the action links that fit it (none without a case or links)."""
        w = case_words(self.locale)
        links = self.ctx.case_links(case, via="email")
        return {"case_state": state_text(case, self.locale, self.ctx.defaults.timezone),
                "actions": [{"kind": kind, "label": getattr(w, kind), "url": url} for kind, url in links.items()]}

    def subject(self, message: Outbound, context: dict[str, Any]) -> str:
        """The subject: the tags ([TEST], [URGENT]…) then the template's words."""
        if self.config.subject is not None:
            if self._subject_template is None:
                self._subject_template = self.ctx.renderer.env.from_string(self.config.subject)
            words = self._subject_template.render(context)
        else:
            words = self.ctx.renderer.render("email", "subject", self.locale, "txt", context)
        tags = _TAGS.get(self.locale, _TAGS["en"])
        prefix = [tags["test"]] if message.test else []
        if message.priority.value in ("urgent", "high"):
            prefix.append(tags[message.priority.value])
        # Collapse whitespace: a subject is one line and templates span several.
        return header_text(" ".join([*prefix, words]))

    def compose(self, message: Outbound) -> EmailMessage:
        """The complete email for ``message`` (raises if a template fails)."""
        ev = message.event
        context = self.context(message)
        subject = self.subject(message, context)
        context["subject"] = subject
        text = self.ctx.renderer.render("email", "body", self.locale, "txt", context)
        html = self.ctx.renderer.render("email", "body", self.locale, "html", context)
        headers = {
            "X-Notifier-Kind": ev.kind.value,
            "X-Notifier-Site": ev.site,
            "X-Notifier-Priority": message.priority.value,
            "X-Notifier-Event": ev.id or "",
        }
        msg = self._envelope(subject, self.message_id(message.delivery_id), headers, self._reply_to(message))
        if message.thread_ref:
            msg["In-Reply-To"] = message.thread_ref
            msg["References"] = message.thread_ref
        self._body(msg, text, html)
        return msg

    def compose_acknowledgement(self, message: Outbound, address: str) -> EmailMessage:
        """The email telling the user their request was received (``email/ack.*`` templates)."""
        ev = message.event
        locale = ev.locale or self.locale
        # The user's own mail never holds the team's action links, even in an admin's template.
        context = {**self.context(replace(message, case=None)), "expected": ev.labels.get("expected", ""),
                   "message_for_user": ev.labels.get("message_for_user", ""),
                   "name": ev.user.name if ev.user else None}
        subject = " ".join(self.ctx.renderer.render("email", "ack.subject", locale, "txt", context).split())
        context["subject"] = subject
        text = self.ctx.renderer.render("email", "ack.body", locale, "txt", context)
        msg = self._envelope(subject, self.message_id(message.delivery_id), {"X-Notifier-Kind": "acknowledgement"},
                             self.config.reply_to)
        msg.replace_header("To", address)
        self._body(msg, text, None)
        return msg

    def compose_follow_up(self, follow_up: FollowUp) -> EmailMessage:
        """The reply in the alert's thread telling an action (see :mod:`notifier.channels.email_follow_up`)."""
        from notifier.channels.email_follow_up import compose_follow_up

        return compose_follow_up(self, follow_up)

    def compose_report(self, report: Report) -> EmailMessage:
        """The email for a digest."""
        msg = self._envelope(report.title, self.message_id(f"report.{report.key}"),
                             {"X-Notifier-Kind": "digest"}, self.config.reply_to)
        self._body(msg, report.text, report.html)
        return msg

    def _reply_to(self, message: Outbound) -> str | Address | None:
        if self.config.reply_to:
            return self.config.reply_to
        user = message.event.consented_user
        # Only one valid address: a typo, a comma-separated pair or a crafted string never
        # becomes a Reply-To (the address stays visible, as text, in the body).
        address = checked_email(user.email) if user is not None else None
        if user is None or address is None:
            return None
        # The name is flattened so it can never add a header line. An internationalised
        # address (Jörg, jorg@müller.de) is kept as such: how it goes on the wire depends on
        # the server's SMTPUTF8 support (see _addresses).
        return visitor_address(_reply_to_name(user.name or ""), address)

    def _envelope(self, subject: str, message_id: str, headers: dict[str, str],
                  reply_to: str | Address | None) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = header_text(subject)
        msg["From"] = self.config.from_
        msg["To"] = ", ".join(self.to)
        if self.config.cc:
            msg["Cc"] = ", ".join(self.config.cc)
        if reply_to:
            # An address the mail library cannot parse is left out rather than failing the mail.
            with contextlib.suppress(ValueError, IndexError):
                msg["Reply-To"] = reply_to
        msg["Date"] = format_datetime(datetime.now(ZoneInfo(self.ctx.defaults.timezone)))
        msg["Message-ID"] = message_id
        # RFC 3834: out-of-office replies must not answer an automatic message.
        msg["Auto-Submitted"] = "auto-generated"
        for key, value in headers.items():
            if value:
                msg[key] = header_text(value)
        return msg

    @staticmethod
    def _body(msg: EmailMessage, text: str, html: str | None) -> None:
        text = text.strip() + "\n"
        msg.set_content(text, cte=_transfer_encoding(text))
        if html:
            msg.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
            # A boundary derived from the Message-ID keeps every retry byte-identical.
            digest = hashlib.sha256(str(msg["Message-ID"]).encode()).hexdigest()[:24]
            msg.set_boundary(f"=_notifier_{digest}")

    # ------------------------------------------------------------------ sending
    async def send(self, message: Outbound) -> SendResult:
        """Send the email for ``message`` to the recipients that have not accepted it yet."""
        # An acknowledgement goes to the user alone (see notifier/acknowledge.py).
        user = message.event.labels.get("ack_address") if message.route == "acknowledge" else None
        try:
            msg = self.compose_acknowledgement(message, user) if user else self.compose(message)
        except Exception as exc:  # an admin's template or subject: another try renders the same
            return permanent(self._redact(f"cannot render the email: {type(exc).__name__}: {exc}"),
                             label="template")
        ref = str(msg["Message-ID"])
        result = await self._deliver(msg, message.progress, [user] if user else None)
        if result.ok:
            return sent(ref, thread_ref=ref, reason=result.reason)
        return result

    async def follow_up(self, follow_up: FollowUp) -> SendResult:
        """Tell the team, in the alert's thread, who took or closed the case."""
        try:
            msg = self.compose_follow_up(follow_up)
        except Exception as exc:  # an admin's template: another try renders the same
            return permanent(self._redact(f"cannot render the follow-up: {type(exc).__name__}: {exc}"),
                             label="template")
        result = await self._deliver(msg, follow_up.progress)
        return sent(str(msg["Message-ID"]), reason=result.reason) if result.ok else result

    async def send_report(self, report: Report) -> SendResult:
        """Send a digest as one email."""
        try:
            msg = self.compose_report(report)
        except Exception as exc:  # a header the mail library refuses: retrying cannot help
            return permanent(self._redact(f"cannot build the email: {type(exc).__name__}: {exc}"),
                             label="template")
        result = await self._deliver(msg, {})
        return sent(str(msg["Message-ID"]), reason=result.reason) if result.ok else result

    async def aclose(self) -> None:
        """Nothing to release: each send opens and closes its own SMTP session."""
        return None

    async def _deliver(self, msg: EmailMessage, progress: dict[str, Any],
                       recipients: list[str] | None = None) -> SendResult:
        recipients = recipients if recipients is not None else self.recipients()
        if not recipients:
            return permanent("no recipient: set `to` on the channel or `defaults.admin_email`",
                             label="config")
        try:
            server = self.server()
        except ValueError as exc:
            return permanent(self._redact(f"invalid smtp URL: {exc}"), label="config")
        if server is None:
            return permanent("no smtp configured (and no capture inbox running)", label="config")
        accepted = [r for r in progress.get("accepted", []) if r in recipients]
        refused: dict[str, str] = dict(progress.get("refused", {}))
        remaining = [r for r in recipients if r not in accepted and r not in refused]
        if not remaining:
            return self._verdict(server, accepted, refused, {})
        try:
            async with server.client(self.config) as client:
                errors, reply = await self._sendmail(client, msg, remaining)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            errors = {e.recipient: aiosmtplib.SMTPResponse(e.code, e.message) for e in exc.recipients}
            reply = ""
        except Exception as exc:  # translated at the boundary: send never raises
            return self._failure(server, exc, accepted, refused)
        accepted += [r for r in remaining if r not in errors]
        temporary = {}
        for rcpt, response in errors.items():
            if 400 <= response.code < 500:
                temporary[rcpt] = f"{response.code} {response.message}"
            else:
                refused[rcpt] = f"{response.code} {response.message}"
        return self._verdict(server, accepted, refused, temporary, reply)

    async def _sendmail(self, client: aiosmtplib.SMTP, msg: EmailMessage,
                        recipients: list[str]) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
        """Send as UTF-8 where the server offers SMTPUTF8 and the mail needs it, else downgraded."""
        if client.is_ehlo_or_helo_needed:
            with contextlib.suppress(aiosmtplib.SMTPHeloError):  # sendmail falls back to HELO
                await client.ehlo()
        sender = self.sender
        if needs_smtputf8(msg, [sender, *recipients]) and client.supports_extension("smtputf8"):
            return await client.sendmail(sender, recipients, wire_bytes(msg, smtputf8=True),
                                         mail_options=["SMTPUTF8"])
        # Without SMTPUTF8 a configured address keeps working through its IDNA domain.
        sender = ascii_mailbox(sender) or sender
        envelope = [ascii_mailbox(r) or r for r in recipients]
        errors, reply = await client.sendmail(sender, envelope, wire_bytes(msg, smtputf8=False))
        back = dict(zip(envelope, recipients, strict=True))
        return {back.get(k, k): v for k, v in errors.items()}, reply

    def _verdict(self, server: SmtpServer, accepted: list[str], refused: dict[str, str],
                 temporary: dict[str, str], reply: str = "") -> SendResult:
        progress = {"accepted": accepted, "refused": refused}
        problems = "; ".join(f"{rcpt} refused: {why}" for rcpt, why in {**refused, **temporary}.items())
        if temporary:
            return retryable(self._redact(f"{server.shown}: {problems}"), label="recipient_deferred",
                             progress=progress)
        if not accepted:
            return permanent(self._redact(f"{server.shown}: {problems}"), label="recipient_refused",
                             progress=progress)
        done = f"{server.shown} accepted it for {len(accepted)} recipient(s)"
        if reply:
            done += f" ({' '.join(reply.split())})"
        return sent(reason=self._redact(f"{done}; {problems}" if problems else done))

    def _failure(self, server: SmtpServer, exc: Exception, accepted: list[str],
                 refused: dict[str, str]) -> SendResult:
        progress = {"accepted": accepted, "refused": refused} if accepted or refused else None
        where = server.shown
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            code = exc.code
            reason = self._redact(f"{where}: {code} {' '.join(str(exc.message).split())}")
            label = "auth" if code in (530, 534, 535, 538) else "smtp"
            if 400 <= code < 500:
                return retryable(reason, label=label, progress=progress)
            return permanent(reason, label=label, progress=progress)
        if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPTimeoutError | OSError) or \
                _certificate_problem(exc):
            text, label = network_problem(exc, server.host, server.port)
            if label == "tls" and "certificate" in text:
                return permanent(self._redact(f"{text}, or `tls_verify: false` for a test server"),
                                 label=label, progress=progress)
            return retryable(self._redact(text), label=label, progress=progress)
        # Missing extensions (no STARTTLS, no AUTH) and the like: a retry will not fix them.
        return permanent(self._redact(f"{where}: {type(exc).__name__}: {exc}"), label="smtp",
                         progress=progress)

    def _redact(self, text: str) -> str:
        # The password only: the whole URL as a "secret" would hide the host and port too.
        secrets: list[str | None] = []
        if self.config.smtp:
            with contextlib.suppress(ValueError):
                secrets.append(parse_smtp_url(self.config.smtp).password)
        return redact(text, secrets)


def _certificate_problem(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def follows_up(config: EmailChannel) -> bool:
    """Email channels always follow up: a reply in the alert's thread."""
    return True


def create(name: str, config: EmailChannel, ctx: ChannelContext) -> EmailTarget:
    """The email adapter for one configured channel."""
    return EmailTarget(name, config, ctx)


def preview(channel: EmailTarget, message: Outbound) -> str:
    """The email as an agent reads it: the main headers, then the text part."""
    msg = channel.compose(message)
    lines = [f"{key}: {msg[key]}" for key in ("From", "To", "Cc", "Reply-To", "Subject", "Message-ID",
                                              "In-Reply-To") if msg[key]]
    bcc = ", ".join(channel.config.bcc)
    if bcc:
        lines.append(f"Bcc: {bcc}")
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else ""
    return "\n".join(lines) + "\n\n" + text
