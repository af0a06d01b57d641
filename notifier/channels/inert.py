"""Visitor text made inert for each target syntax: one function per syntax.

Everything a visitor types (message, transcript, name, email, phone, page title and URL,
site, labels, tool arguments) is hostile: the chat box is open to anyone. Each target
parses different characters, so each has its own function, and every adapter and
template passes visitor text through the one of its target:

==================  ==========================================================================
target              how visitor text is kept literal
==================  ==========================================================================
Slack blocks        in ``rich_text`` ``text`` elements, which Slack never parses (no mrkdwn,
                    no mentions); a page or mailto link is a ``link`` element whose URL is
                    :func:`safe_url` / :func:`mailto` and whose shown text is the URL itself
Slack ``mrkdwn``    :func:`slack_mrkdwn` (notification ``text``, digest fallbacks): ``& < >``
                    escaped as Slack asks, so ``<!channel>``, ``<@U…>``, ``<!subteam^…>`` and
                    ``<url|label>`` cannot form; ``* _ ~ `` `` made inert
Teams cards         in ``TextRun`` elements of a ``RichTextBlock`` ("Markdown is not
                    supported" in a TextRun), never in ``TextBlock`` or ``Fact`` (Markdown)
email / Freshdesk   Jinja2 autoescaping of ``.html`` templates; ``href`` values from
HTML                :func:`safe_url` and :func:`mailto` only
email headers       :func:`header_text`: one line, no control characters, no directional
and one-line fields overrides (a name's U+202E would turn the text after it around)
Apprise targets     :func:`no_mentions` on the rendered title and body, sent with
(Discord, …)        ``body_format=text`` so that Apprise escapes Markdown/HTML for each
                    service itself
==================  ==========================================================================

Discord's ``allowed_mentions`` would be the proper way to stop ``@everyone``, but Apprise
does not let a caller set it (its Discord plugin even *adds* ``@everyone`` to
``allowed_mentions`` when it finds one in the text, in embed mode); so mentions are
broken with an invisible WORD JOINER (U+2060) after ``@`` and ``<``: the text reads the
same, and no service sees a mention token.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from notifier.core.addresses import checked_email
from notifier.core.text import one_line

__all__ = ["WORD_JOINER", "header_text", "mailto", "no_mentions", "safe_url", "slack_mrkdwn"]

#: Invisible, and not a space: words stay whole, but ``@everyone`` no longer parses.
WORD_JOINER = "\u2060"

# Slack formatting characters and their inert look-alikes: Slack has no escape for them
# (only &, < and > have entities), so a visitor's "*urgent*" would turn bold.
_SLACK_FORMAT = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
# Group pings (Discord @everyone/@here, Slack @channel/@here with link_names, Matrix @room)
# and every "<" (Discord <@123>, <@&role>; Slack <!channel>, <@U…>). Plain addresses such
# as marie@example.com are left alone.
_MENTION = re.compile(r"(@)(?=(?:everyone|here|channel|room|all)\b)|(<)", re.IGNORECASE)


def slack_mrkdwn(text: str) -> str:
    """``text`` shown literally in Slack ``mrkdwn``.

    ``&``, ``<`` and ``>`` become the entities Slack documents ("Escaping text"), so no
    ``<!here>``, ``<@U123>``, ``<!subteam^S1>`` or ``<https://evil|label>`` can form;
    the formatting characters ``* _ ~ ` `` are swapped for look-alikes that Slack does
    not parse, and ``@here``-like words get a WORD JOINER. Line breaks are kept.

        >>> slack_mrkdwn("<!channel> *now*")
        '&lt;!channel&gt; ∗now∗'
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # "@here"/"@channel" in plain text only ping with link_names; broken anyway, for any setting.
    return no_mentions(escaped.translate(_SLACK_FORMAT))


def no_mentions(text: str) -> str:
    """``text`` with a WORD JOINER (U+2060) after every ``<`` and after the ``@`` of
    ``@everyone``, ``@here``, ``@channel``, ``@room`` and ``@all``.

    Discord, Slack, Telegram and Teams only ping on an exact ``@everyone``, ``@here``,
    ``<@123>`` or ``<!channel>``: with the invisible joiner inside, none of them parses.

        >>> no_mentions("@everyone") == "@\\u2060everyone"
        True
    """
    return _MENTION.sub(lambda m: m.group(0) + WORD_JOINER, text)


def header_text(text: str) -> str:
    """``text`` as one header-safe line: line breaks, tabs and control characters become
    spaces and runs of spaces one space, so a value can never start a header of its own.
    Directional overrides are dropped: the template's text after a one-line field (an
    address, a URL, a time) must read as written, not turned around by the visitor."""
    return one_line(text)


def safe_url(url: str | None, limit: int = 3000) -> str | None:
    """A visitor's page URL fit for a link target, or ``None``.

    Only ``http``/``https`` URLs qualify; characters that close or split a link in some
    syntax (``< > | " ' ` `` spaces, control characters, brackets) are percent-encoded,
    non-ASCII characters too (UTF-8), so the URL is one opaque token everywhere.
    """
    if not url:
        return None
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        return None
    url = unicodedata.normalize("NFC", url)
    # Keep what URLs use structurally; encode everything else, "%" included only when
    # it does not already start an escape.
    encoded = quote(url, safe="/:?#&=+;,@!$%-._~")
    encoded = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", encoded)
    return encoded if len(encoded) <= limit else None


def mailto(address: str | None) -> str | None:
    """A ``mailto:`` link for a valid address (see :func:`checked_email`), else ``None``.

    The address is percent-encoded, so ``?cc=`` or ``&body=`` can never be smuggled in.
    """
    valid = checked_email(address)
    return f"mailto:{quote(valid, safe='@')}" if valid else None
