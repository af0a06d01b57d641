"""Slack Block Kit for an event and a digest, cut to Slack's limits, every visitor's word literal.

At most 50 blocks, 3,000 characters per section, 150 per header and about 11,000 in all
(:data:`MAX_TOTAL_TEXT`): what is longer is cut with a note, never refused by Slack. A
visitor's words go in rich text elements, which Slack shows exactly as given (no mrkdwn,
no mentions, no automatic links); what must be mrkdwn is escaped first.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from notifier.channels.base import ChannelContext, Outbound, Report
from notifier.channels.inert import safe_url, slack_mrkdwn
from notifier.channels.limits import cut_to, shorten, utf16_size
from notifier.channels.slack_case import case_blocks
from notifier.render import view

__all__ = ["MAX_BLOCKS", "MAX_HEADER", "MAX_SECTION", "MAX_TOTAL_TEXT", "cut", "escape", "fit_total",
           "message_blocks", "report_blocks", "text_size"]

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
#: Slack refuses a message whose blocks hold about 12,000 characters in all with
#: ``msg_blocks_too_long`` (undocumented; measured by Slack's maintainers in
#: https://github.com/slackapi/bolt-js/issues/2509 and #2867): we stay under 11,000.
MAX_TOTAL_TEXT = 11_000
_MAX_TURN = 1_500
_MAX_CONTEXT_ELEMENTS = 10
_MAX_BUTTON = 75


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, ending in "…" when it was longer."""
    return shorten(text, limit)


def escape(text: str) -> str:
    """Text made literal for Slack ``mrkdwn`` (see :func:`notifier.channels.inert.slack_mrkdwn`)."""
    return slack_mrkdwn(text)


def _plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=cut(text, limit) or " ", emoji=True)


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> MarkdownTextObject:
    return MarkdownTextObject(text=cut(text, limit) or " ")


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(text))


def _dicts(blocks: list[Block | dict[str, Any]]) -> list[dict[str, Any]]:
    # Everything was cut to Slack's limits above, so the SDK's own checks never fire here.
    return [block if isinstance(block, dict) else block.to_dict() for block in blocks[:MAX_BLOCKS]]


def _http_url(url: str | None) -> str | None:
    return safe_url(url)


# Rich text elements: Slack shows their ``text`` exactly as given (no mrkdwn, no mentions,
# no automatic links), which is what a visitor's words need.
def _text(text: str, *, bold: bool = False, italic: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "text", "text": text}
    style = {k: True for k, on in (("bold", bold), ("italic", italic)) if on}
    if style:
        element["style"] = style
    return element


def _link(url: str, text: str | None = None) -> dict[str, Any]:
    return {"type": "link", "url": url, **({"text": text} if text else {})}


def _rich(*sections: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"type": "rich_text", "elements": [{"type": kind, "elements": elements}
                                              for kind, elements in sections if elements]}


def text_size(blocks: list[dict[str, Any]]) -> int:
    """What Slack counts against ``msg_blocks_too_long``: every ``text`` and ``url`` in the blocks,
    in UTF-16 code units (the undocumented limit is about 12,000; see :data:`MAX_TOTAL_TEXT`)."""
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in ("text", "url") and isinstance(value, str):
                    total += utf16_size(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def _kept(text: str, budget: int, labels: dict[str, str], link: str | None) -> list[dict[str, Any]]:
    """``text`` as rich text elements within ``budget``, with "…(n more characters)" and a
    link to the whole event when it had to be cut."""
    if utf16_size(text) > budget:  # room for the note and the link, within the budget
        budget -= 48 + (utf16_size(link) + utf16_size(labels["read_all"]) if link else 0)
    kept, left = cut_to(text, max(budget, 0))
    elements = [_text(kept)] if kept else []
    if left:
        elements.append(_text(" " + labels["more_chars"].format(n=f"{left:,}"), italic=True))
        if link:
            elements += [_text(" "), _link(link, labels["read_all"])]
    return elements


def message_blocks(message: Outbound, ctx: ChannelContext, locale: str, *, buttons: bool = False,
                   via: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """The Block Kit blocks and the notification ``text`` fallback for ``message``.

    With a case (:attr:`Outbound.case`) its state shows at the end, with the case's buttons
    when ``buttons`` (see :mod:`notifier.channels.slack_case`); ``via`` is where the case's
    holder acted from (a mention when it was Slack).

    Visitor text is only ever in rich text ``text`` elements (shown as typed, never parsed)
    or in link elements whose target is a checked web URL or ``mailto:`` of a valid address
    and whose shown text is that target. The whole stays within :data:`MAX_TOTAL_TEXT`.
    """
    v = view(message, ctx.defaults, locale, link=ctx.link(message.event.id or ""))
    labels: dict[str, str] = v["labels"]
    title = f"{v['kind_label']} · {labels.get('priority_word', 'priority')} {v['priority_label']}"
    if v["urgent"]:
        title = f"🔴 {title}"
    if v["test"]:
        title = f"[{labels['test']}] {title}"
    if v["escalation"]:
        title = f"{v['escalation']['text']} · {title}"
    link = _http_url(v["link"])
    blocks: list[Block | dict[str, Any]] = [HeaderBlock(text=_plain(title, MAX_HEADER))]

    facts: list[dict[str, Any]] = []

    def fact(label: str, elements: list[dict[str, Any]]) -> None:
        if facts:
            facts.append(_text("\n"))
        facts.extend([_text(f"{label}: ", bold=True), *elements])

    if v["site"]:
        fact(labels["site"], [_text(cut(v["site"], 500))])
    page_url = v["page_href"]
    if page_url or v["page_title"]:
        shown = [_text(cut(v["page_title"], 500) + " ")] if v["page_title"] else []
        # The link shows its own target: a visitor's title can never disguise where it goes.
        fact(labels["page"], shown + ([_link(page_url)] if page_url else
                                      [_text(cut(v["page_url"], 500))] if v["page_url"] else []))
    user = v["user"]
    if user is not None and (user.name or user.email or user.phone):
        who: list[dict[str, Any]] = [_text(cut(user.name, 200) + " ")] if user.name else []
        if user.email and v["email_href"]:
            who.append(_link(v["email_href"], cut(user.email, 320)))
        elif user.email:
            who.append(_text(f"{cut(user.email, 320)} {labels['invalid_email']}"))
        if user.phone:
            who.append(_text(f" · {cut(user.phone, 60)}"))
        fact(labels["user"], who)

    context: list[str] = []
    if v["time"]:
        context.append(f"*{labels['time']}:* {v['time']} ({v['timezone']})")
    if v["keywords"]:
        context.append(f"*{labels['keywords']}:* {escape(', '.join(v['keywords']))}")
    if v["folded"]:
        context.append(f"*+{v['folded']}* {labels['similar']}")
    tail: list[Block | dict[str, Any]] = []
    if facts:
        tail.append(_rich(("rich_text_section", facts)))
    if context:
        tail.append(ContextBlock(elements=[_mrkdwn(c) for c in context[:_MAX_CONTEXT_ELEMENTS]]))

    links = []
    if link:
        links.append(ButtonElement(text=_plain(labels["open"], _MAX_BUTTON), url=link, action_id="open_event"))
    if page_url:
        links.append(ButtonElement(text=_plain(labels["open_page"], _MAX_BUTTON), url=page_url,
                                     action_id="open_page"))
    actions: list[Block | dict[str, Any]] = [ActionsBlock(elements=links)] if links else []
    if message.case is not None:
        state, case_buttons = case_blocks(message.case, locale, ctx.defaults.timezone, buttons=buttons, via=via)
        blocks += state  # under the title: who has it is the first thing one reads
        actions[:0] = case_buttons

    # The budget: what the fixed parts leave of the total Slack accepts, shared by the
    # message first (up to three quarters), then the latest turns of the transcript.
    fixed = text_size(_dicts([*blocks, *tail, *actions])) + 200  # containers, titles, cut notes
    budget = MAX_TOTAL_TEXT - fixed
    text: str = v["message"]
    turns = v["transcript"]
    share = budget * 3 // 4 if turns else budget
    if text:
        body = _kept(text, min(share, budget), labels, link)
        budget -= text_size(body)
        blocks.append(_rich(("rich_text_quote", body)))
    else:
        blocks.append(_section(f"_{labels['no_message']}_"))
    blocks += tail
    budget -= utf16_size(labels["transcript"]) + 2
    if turns and budget > 100:
        lines: list[dict[str, Any]] = []
        for turn in reversed(turns):
            role = labels.get(f"role_{turn.role}", turn.role)
            head = utf16_size(role) + 3  # "Role: " and the line break
            if budget - head < 50:
                break
            said = _kept(turn.text, min(budget - head, _MAX_TURN), labels, None)
            budget -= head + text_size(said)
            lines[:0] = [_text(f"{role}: ", bold=True), *said, _text("\n")]
        if lines:
            blocks.append(DividerBlock())
            blocks.append(ContextBlock(elements=[_mrkdwn(f"*{labels['transcript']}*")]))
            blocks.append(_rich(("rich_text_section", lines[:-1])))
    blocks += actions

    # ``text`` is mrkdwn, shown in notifications: the visitor's words escaped there too.
    where = escape(cut(v["site"] or v["bot_name"], 200))
    fallback = f"{title} — {where}: {escape(cut(text, 300))}" if text else f"{title} — {where}"
    return _dicts(blocks), fallback


def fit_total(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``blocks`` within 50 blocks and :data:`MAX_TOTAL_TEXT`: the last ones are dropped
    (the digest's later sections) and a note says how much was left out."""
    blocks = blocks[:MAX_BLOCKS]
    if text_size(blocks) <= MAX_TOTAL_TEXT and len(blocks) < MAX_BLOCKS:
        return blocks
    dropped = 0
    while blocks and (text_size(blocks) > MAX_TOTAL_TEXT - 100 or len(blocks) >= MAX_BLOCKS):
        dropped += text_size([blocks.pop()])
    note = f"…({dropped:,} more characters)" if dropped else "…"
    return [*blocks, {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]


def report_blocks(report: Report) -> tuple[list[dict[str, Any]], str]:
    """Blocks for a digest: its own ``blocks`` when rendered, else its text in sections."""
    if report.blocks:
        return fit_total(report.blocks), escape(cut(report.title, MAX_SECTION))
    blocks: list[Block | dict[str, Any]] = [HeaderBlock(text=_plain(report.title, MAX_HEADER))]
    chunk = ""
    for line in report.text.splitlines():
        if len(chunk) + len(line) + 1 > MAX_SECTION - 10 and chunk:
            blocks.append(_section(escape(chunk)))
            chunk = ""
        chunk += line + "\n"
    if chunk.strip():
        blocks.append(_section(escape(chunk.rstrip())))
    return fit_total(_dicts(blocks)), escape(cut(report.title, MAX_SECTION))
