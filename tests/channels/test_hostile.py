"""Visitor text is inert everywhere: a corpus of hostile strings through every channel's renderer.

Each string is put in every field a visitor controls (message, transcript, name, email,
phone, page title and URL, site, labels, tool arguments); each channel's output is then
read the way its target reads it, and nothing the visitor typed may become a mention, a
link, markup or a header. The corpus size times the channels is the number of cases.
"""

from __future__ import annotations

import json
import os
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from notifier.channels import apprise, email, freshdesk, slack, teams, webhook, zendesk
from notifier.channels.base import Outbound
from notifier.config.models import (
    AppriseChannel,
    EmailChannel,
    FreshdeskChannel,
    ZendeskChannel,
)
from notifier.core.events import LIMITS, Event
from tests.channels.samples import context, event, outbound

#: Mentions, links in each syntax, HTML, template syntax, CR/LF, RTL/zero-width, long tokens.
HOSTILE = [
    "<!channel> <!here> <!everyone>",
    "<@U012AB3CD> <!subteam^S0123|@support-team> <#C0123|general>",
    "<https://evil.example/login|Verify your account>",
    "<mailto:evil@example.com|support@example.com>",
    "[verify your account](https://evil.example/login)",
    "[x](javascript:alert(1)) ![img](https://evil.example/p.png)",
    "@everyone @here @channel please",
    "<@&123456789012> <@123456789012> <t:1700000000:R>",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    '"><a href="https://evil.example">click</a><!--',
    "{{ 7*7 }} {% for x in range(3) %}X{% endfor %} ${jndi:ldap://x}",
    "*bold* _italic_ ~strike~ `code` ```block```",
    "**bold** __under__ # Heading\n- item\n> quote",
    "line1\r\nBcc: victim@example.com\r\nSubject: pwned\r\n\r\nbody",
    "a\u202eRTL override\u202c b\u200bzero\u200dwidth\ufeff\u2066isolate\u2069",
    "\u2028line separator\u0085next line\x0bvtab\x00nul",
    "&lt;!channel&gt; &amp; &#60;!here&#62;",
    "a|b>c<d|e",
    "https://evil.example/<!channel>|x>",
    "x" * 5000,
    "😀" * 300 + "e\u0301" * 300 + "字" * 300,
]
CHANNELS = ["slack", "teams", "email", "zendesk", "freshdesk", "apprise", "webhook"]
_PAGE = "https://shop.example.com/p?q="


def hostile_event(text: str, *, consent: bool = True) -> Event:
    def cut(field: str) -> str:  # as long as the API accepts for that field (core/events.py)
        return text[:LIMITS[field]]

    return event(
        message=text, site=cut("site"),
        transcript=[{"role": "user", "text": text}, {"role": "assistant", "text": text}],
        user={"name": cut("user.name"), "email": cut("user.email"), "phone": cut("user.phone"), "consent": consent},
        page={"url": (_PAGE + text)[:LIMITS["page.url"]], "title": cut("page.title")},
        labels={text[:50]: cut("labels.value")}, tool={"name": "send_support_email", "arguments": {"message": text}},
    )


def benign_event() -> Event:
    return hostile_event("Bonjour\nMerci")


# --------------------------------------------------------------------------- readers


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.add(name)
            if name == "href":
                self.hrefs.append(value or "")

    def handle_comment(self, data: str) -> None:
        self.tags.append("<!--")


def html_markup(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _safe_href(href: str) -> bool:
    return (href.startswith(_PAGE) and not re.search(r"[\s<>\"'|`]", href)) or href.startswith(
        ("https://notifier.example.com/v1/events/", "mailto:marie@example.com", "https://shop.example.com/orders/"))


def assert_html_inert(hostile: str, benign: str) -> None:
    got, base = html_markup(hostile), html_markup(benign)
    assert set(got.tags) <= set(base.tags), set(got.tags) - set(base.tags)
    assert got.tags.count("a") <= base.tags.count("a") and "<!--" not in got.tags
    assert got.attrs <= base.attrs
    assert all(_safe_href(h) for h in got.hrefs), got.hrefs


# --------------------------------------------------------------------------- per channel


def check_slack(message: Outbound, benign: Outbound) -> None:
    ctx = context()
    blocks, text = slack.message_blocks(message, ctx, "fr")
    base, _ = slack.message_blocks(benign, ctx, "fr")

    def mrkdwn(bs: list[dict[str, Any]]) -> list[str]:
        return [o["text"] for o in _walk(bs) if o.get("type") == "mrkdwn"]

    # Visitor text never reaches a mrkdwn object (the only syntax with mentions and <links>).
    assert mrkdwn(blocks) == mrkdwn(base)
    for element in _walk(blocks):
        # Mentions are element types of their own: no visitor text can become one.
        assert element.get("type") not in ("user", "usergroup", "broadcast", "channel")
        if element.get("type") == "link":
            url = element["url"]
            assert _safe_href(url) or url.startswith("https://notifier.example.com/"), url
            assert element.get("text") in (None, "tout lire")  # the link shows its own target
    # The notification text is mrkdwn: escaped, no formatting characters.
    assert "<" not in text and not re.search(r"[*_~`]", text)
    assert not re.search(r"@(?!\u2060)(everyone|here|channel)\b", text, re.IGNORECASE)
    assert slack.text_size(blocks) <= slack.MAX_TOTAL_TEXT


def check_teams(message: Outbound, benign: Outbound) -> None:
    ctx = context()

    def markdown(card: dict[str, Any]) -> list[str]:
        out = []
        for item in _walk(card):
            if item.get("type") == "TextBlock":
                out.append(item["text"])
            if item.get("type") == "FactSet":
                out += [f"{f['title']}={f['value']}" for f in item["facts"]]
            if item.get("type") == "Action.OpenUrl" and "title" in item:
                out.append(item["title"])
        return out

    card = teams.card(message, ctx, "fr")
    # TextBlock and Fact text is Markdown: it must not change with what the visitor typed.
    assert markdown(card) == markdown(teams.card(benign, ctx, "fr"))
    for item in _walk(card):
        if item.get("type") == "Action.OpenUrl":
            assert _safe_href(item["url"]), item["url"]
    assert len(teams.wire(teams.envelope(card))) <= teams.MAX_BODY_BYTES


def _email_channel() -> email.EmailTarget:
    return email.create("mail", EmailChannel(type="email", to=["support@example.com"],
                                             from_="Chatbot <bot@example.com>"), context())


def check_email(message: Outbound, benign: Outbound) -> None:
    channel = _email_channel()
    mail = channel.compose(message)
    parsed = message_from_bytes(mail.as_bytes(policy=policy.SMTP), policy=policy.default)
    base = message_from_bytes(channel.compose(benign).as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage) and isinstance(base, EmailMessage)
    # No header added, none removed but Reply-To (only for a valid address); each one line.
    names = {k.lower() for k in parsed}
    assert names <= {k.lower() for k in base} and "bcc" not in names
    for key, value in parsed.items():
        assert "\n" not in str(value) and "\r" not in str(value), key
    assert max(len(line) for line in mail.as_bytes(policy=policy.SMTP).split(b"\r\n")) <= 998  # RFC 5322
    assert "reply-to" not in names  # the hostile address is never a Reply-To
    html_part = parsed.get_body(preferencelist=("html",))
    base_html = base.get_body(preferencelist=("html",))
    assert html_part is not None and base_html is not None
    assert_html_inert(html_part.get_content(), base_html.get_content())


def check_zendesk(message: Outbound, benign: Outbound) -> None:
    channel = zendesk.create("zd", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                                  api_token="t"), context())
    ticket = channel.ticket(message)["ticket"]
    # The comment is plain text (``body``), never ``html_body``; the subject is one line.
    assert set(ticket["comment"]) == {"body", "public"}
    assert "\n" not in ticket["subject"] and "\r" not in ticket["subject"]
    assert "requester" not in ticket  # an invalid address is never a requester
    assert len(ticket["comment"]["body"]) <= 65_000


def check_freshdesk(message: Outbound, benign: Outbound) -> None:
    channel = freshdesk.create("fd", FreshdeskChannel(type="freshdesk", domain="acme", api_key="k",
                                                      fallback_email="support@acme.test"), context())
    body = channel.ticket(message)
    base = channel.ticket(benign)
    assert body is not None and base is not None
    assert body["email"] == "support@acme.test"  # the fallback, never the hostile address
    assert "\n" not in body["subject"] and "\r" not in body["subject"]
    assert_html_inert(body["description"], base["description"])


def check_apprise(message: Outbound, benign: Outbound) -> None:
    channel = apprise.create("ap", AppriseChannel(type="apprise", urls=["json://localhost"]), context())
    for text in channel.render(message):
        # Every "<" and group ping is broken by a WORD JOINER; Apprise escapes the rest per
        # service (body_format=text).
        assert not re.search(r"<(?!\u2060)", text)
        assert not re.search(r"@(?!\u2060)(everyone|here|channel)\b", text, re.IGNORECASE)


def check_webhook(message: Outbound, benign: Outbound) -> None:
    body = webhook.payload("hook", message, context())
    # JSON is data, not markup: the receiver gets exactly what was typed, and no more fields.
    assert json.loads(json.dumps(body))["event"]["message"] == message.event.message
    assert set(body) == set(webhook.payload("hook", benign, context()))
    without = webhook.payload("hook", outbound(hostile_event(message.event.message or "", consent=False)),
                              context())
    assert without["event"]["user"] == {"consent": False}  # no consent, no personal data


CHECKS = {"slack": check_slack, "teams": check_teams, "email": check_email, "zendesk": check_zendesk,
          "freshdesk": check_freshdesk, "apprise": check_apprise, "webhook": check_webhook}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:24]))
def test_hostile_text_stays_inert(channel: str, text: str) -> None:
    CHECKS[channel](outbound(hostile_event(text)), outbound(benign_event()))


def test_corpus_size() -> None:
    """The number of cases reported: corpus size × channels."""
    assert len(HOSTILE) * len(CHANNELS) == 21 * 7


# --------------------------------------------------------------------------- samples

SAMPLE_TEXT = ("<!channel> @everyone [verify your account](https://evil.example/login) "
               "<https://evil.example|Slack login> <b>bold</b>\r\nBcc: victim@example.com *urgent*")


def _samples() -> dict[str, str]:
    message = outbound(hostile_event(SAMPLE_TEXT))
    ctx = context()
    email_channel = _email_channel()
    html_part = email_channel.compose(message).get_body(preferencelist=("html",))
    assert html_part is not None
    desk = zendesk.create("zd", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                               api_token="t"), ctx)
    fd = freshdesk.create("fd", FreshdeskChannel(type="freshdesk", domain="acme", api_key="k",
                                                 fallback_email="support@acme.test"), ctx)
    ap = apprise.create("ap", AppriseChannel(type="apprise", urls=["json://localhost"]), ctx)
    blocks, text = slack.message_blocks(message, ctx, "fr")
    as_json = lambda data: json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # noqa: E731
    title, body = ap.render(message)
    return {
        "slack.json": as_json({"text": text, "blocks": blocks}),
        "teams.json": as_json(teams.card(message, ctx, "fr")),
        "email.txt": email.preview(email_channel, message) + "\n",
        "email.html": html_part.get_content(),
        "zendesk.json": as_json(desk.ticket(message)),
        "freshdesk.json": as_json(fd.ticket(message)),
        # Shown with the invisible WORD JOINER written out.
        "apprise.txt": f"{title}\n\n{body}\n".replace("\u2060", "[WJ]"),
        "webhook.json": as_json(webhook.payload("hook", message, ctx)),
    }


def test_hostile_samples_are_current() -> None:
    """``docs/samples/hostile/``: one hostile event (mentions, links in each syntax, HTML, CR/LF,
    an invalid address) as each channel sends it. ``NOTIFIER_WRITE_SAMPLES=1`` rewrites them."""
    folder = Path(__file__).resolve().parents[2] / "docs" / "samples" / "hostile"
    for name, data in _samples().items():
        path = folder / name
        if os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1":
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode())
        assert path.read_bytes().decode() == data, f"{name} is out of date: run with NOTIFIER_WRITE_SAMPLES=1"
