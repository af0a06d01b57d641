"""``type: teams``: an Adaptive Card posted to a Teams Workflows (Power Automate) webhook.

The body is the envelope the "Post to a channel when a webhook request is received"
flow expects: ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <card>}]}``.
Workflows answer ``202 Accepted`` and post the card later, in the flow run: a Teams
delivery is therefore recorded as sent with ref ``accepted`` (queued, not seen delivered).
The webhook URL carries its secret (``sig=``), so it never appears in a failure reason.
"""

from __future__ import annotations

import json
from typing import Any

from notifier.channels.base import ChannelContext, Outbound, Report, SendResult
from notifier.channels.case_text import action_text, case_words, state_text
from notifier.channels.http import classify_exception, classify_response, http_client, json_object, url_secrets
from notifier.channels.http_client import Response
from notifier.channels.inert import safe_url
from notifier.channels.limits import cut_to, shorten
from notifier.channels.teams_config import TeamsChannel
from notifier.core.follow_up import CaseState, FollowUp
from notifier.render import view

__all__ = ["ACCEPTED", "MAX_BODY_BYTES", "Teams", "card", "create", "envelope", "follow_up_card", "follows_up",
           "preview", "wire"]

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: The "Post card in a chat or channel" action fails with "Request Entity Too Large" above
#: about 28 KB (https://learn.microsoft.com/connectors/teams/, known issues and limitations);
#: and it fails inside the flow run, after the trigger already answered 202. We keep the
#: whole UTF-8 body under 26 KB.
MAX_BODY_BYTES = 26 * 1024
_MAX_TURN = 1000
_MAX_FACT = 500


def _cut(text: str, limit: int) -> str:
    return shorten(text, limit)


def _http_url(url: str | None) -> str | None:
    return safe_url(url)


def wire(body: dict[str, Any]) -> bytes:
    """The body exactly as posted: compact UTF-8 JSON (its size is what Teams counts)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_size(text: str) -> int:
    # What ``text`` weighs inside the JSON body: escapes (\n, \", \u0001) included.
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def envelope(content: dict[str, Any]) -> dict[str, Any]:
    """The Workflows message wrapping one Adaptive Card."""
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}]}


# Visitor text goes only in TextRun elements of a RichTextBlock: "Markdown is not supported"
# there (https://learn.microsoft.com/adaptive-cards/schema-explorer/text-run), whereas
# TextBlock and Fact values render Markdown links and emphasis.
def _run(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich(*inlines: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(inlines), **options}


def _fact(label: str, *values: dict[str, Any]) -> dict[str, Any]:
    return _rich(_run(f"{label}: ", weight="Bolder"), *values, spacing="None")


def card(message: Outbound, ctx: ChannelContext, locale: str) -> dict[str, Any]:
    """The Adaptive Card for ``message``: title, facts, the message, last turns, a link.

    The whole envelope stays under :data:`MAX_BODY_BYTES` (UTF-8): the message and the
    transcript are cut to fit, with "…(n more characters)" and a link to the event.
    """
    v = view(message, ctx.defaults, locale, link=ctx.link(message.event.id or ""))
    labels: dict[str, str] = v["labels"]
    title = f"{v['kind_label']} · {labels.get('priority_word', 'priority')} {v['priority_label']}"
    if v["test"]:
        title = f"[{labels['test']}] {title}"
    if v["escalation"]:
        title = f"{v['escalation']['text']} · {title}"
    link = _http_url(v["link"])
    head: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "size": "Large", "weight": "Bolder", "wrap": True,
         **({"color": "Attention"} if v["urgent"] else {})},
    ]
    if v["site"]:
        head.append(_fact(labels["site"], _run(_cut(v["site"], _MAX_FACT))))
    page_href = v["page_href"]
    if v["page_url"] or v["page_title"]:
        runs = [_run(_cut(v["page_title"], _MAX_FACT) + (" " if v["page_url"] else ""))] if v["page_title"] else []
        if page_href:
            # The run shows the address it opens: a title can never disguise the target.
            runs.append(_run(_cut(page_href, _MAX_FACT), selectAction={"type": "Action.OpenUrl", "url": page_href}))
        elif v["page_url"]:
            runs.append(_run(_cut(v["page_url"], _MAX_FACT)))
        head.append(_fact(labels["page"], *runs))
    if v["time"]:
        head.append(_fact(labels["time"], _run(f"{v['time']} ({v['timezone']})")))
    user = v["user"]
    if user is not None and (user.name or user.email or user.phone):
        who = " ".join(x for x in (user.name and _cut(user.name, 200),
                                   user.email and (f"<{_cut(user.email, 320)}>" if v["email_valid"] else
                                                   f"{_cut(user.email, 320)} {labels['invalid_email']}"),
                                   user.phone and _cut(user.phone, 60)) if x)
        head.append(_fact(labels["user"], _run(who)))
    if v["keywords"]:
        head.append(_fact(labels["keywords"], _run(", ".join(v["keywords"]))))
    state = state_text(message.case, locale, ctx.defaults.timezone)
    if state:  # a name typed by an agent: a TextRun shows it without Markdown
        head.append(_rich(_run(state, weight="Bolder", color="Good")))

    tail: list[dict[str, Any]] = []
    if v["folded"]:
        tail.append({"type": "TextBlock", "text": f"+{v['folded']} {labels['similar']}", "isSubtle": True,
                     "wrap": True})
    content: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": [],
                               "msteams": {"width": "Full"}}
    url = link or page_href
    actions = _case_actions(message.case, ctx, locale)
    if url:
        actions.append({"type": "Action.OpenUrl", "title": labels["open"], "url": url})
    if actions:
        content["actions"] = actions

    def cut_runs(text: str, budget: int) -> list[dict[str, Any]]:
        kept, left = cut_to(text, max(budget, 0), _json_size)
        runs = [_run(kept)] if kept else []
        if left:
            runs.append(_run(" " + labels["more_chars"].format(n=f"{left:,}"), italic=True))
            if link:
                runs.append(_run(" " + labels["read_all"], selectAction={"type": "Action.OpenUrl", "url": link}))
        return runs

    def build(budget: int) -> list[dict[str, Any]]:
        text: str = v["message"]
        turns = v["transcript"]
        share = budget * 3 // 4 if turns else budget
        message_runs = cut_runs(text, share) if text else [_run(labels["no_message"], italic=True)]
        budget -= sum(_json_size(r["text"]) for r in message_runs)
        middle: list[dict[str, Any]] = [_rich(*message_runs, separator=True)]
        turn_blocks: list[dict[str, Any]] = []
        for turn in reversed(turns):
            role = labels.get(f"role_{turn.role}", turn.role)
            overhead = 120 + _json_size(role)
            if budget - overhead < 50:
                break
            runs = cut_runs(turn.text, min(budget - overhead, _MAX_TURN * 4))
            budget -= overhead + sum(_json_size(r["text"]) for r in runs)
            turn_blocks.insert(0, _rich(_run(f"{role}: ", weight="Bolder"), *runs,
                                        **({"isSubtle": True} if turn.role != "user" else {})))
        if turn_blocks:
            middle.append({"type": "TextBlock", "text": labels["transcript"], "weight": "Bolder",
                           "separator": True})
            middle += turn_blocks
        return [*head, *middle, *tail]

    content["body"] = [*head, *tail]
    budget = MAX_BODY_BYTES - len(wire(envelope(content)))
    # The containers' weight is only known once built: build, measure, give back the excess.
    for _ in range(4):
        content["body"] = build(budget)
        over = len(wire(envelope(content))) - MAX_BODY_BYTES
        if over <= 0:
            break
        budget -= over + 64
    return content


def _case_actions(case: CaseState | None, ctx: ChannelContext, locale: str) -> list[dict[str, Any]]:
    """The "I'm on it" / "Resolved" buttons that fit the case: each opens its signed link's page."""
    w = case_words(locale)
    return [{"type": "Action.OpenUrl", "title": getattr(w, kind), "url": url}
            for kind, url in ctx.case_links(case, via="teams").items()]


def follow_up_card(follow_up: FollowUp, ctx: ChannelContext, locale: str) -> dict[str, Any]:
    """The card telling an action on a case: who, when, from where, the note, the request it is about.

    Workflows cannot edit a posted card, so each action is a card of its own; its buttons
    are those that fit the case now ("Resolved" once claimed).
    """
    last = follow_up.targets[-1].message
    v = view(last, ctx.defaults, locale, link=ctx.link(last.event.id or ""))
    labels: dict[str, str] = v["labels"]
    sentence = action_text(follow_up.action, follow_up.actor, follow_up.via, follow_up.at, locale,
                           ctx.defaults.timezone)
    body: list[dict[str, Any]] = [
        _rich(_run(sentence, size="Large", weight="Bolder",
                   color="Good" if follow_up.action == "resolve" else "Accent")),
        _rich(_run(v["kind_label"] + (f" · {_cut(v['site'], _MAX_FACT)}" if v["site"] else "")), spacing="None"),
    ]
    if v["conversation_id"]:
        body.append(_fact("Conversation", _run(_cut(v["conversation_id"], _MAX_FACT))))
    if follow_up.note:
        body.append(_fact(case_words(locale).note, _run(_cut(follow_up.note, 2000))))
    if v["message"]:
        body.append(_rich(_run(_cut(v["message"], 300), italic=True), separator=True))
    actions = _case_actions(follow_up.case, ctx, locale)
    link = _http_url(v["link"])
    if link:
        actions.append({"type": "Action.OpenUrl", "title": labels["open"], "url": link})
    content: dict[str, Any] = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body,
                               "msteams": {"width": "Full"}}
    if actions:
        content["actions"] = actions
    return content


def report_card(report: Report) -> dict[str, Any]:
    """The digest's own card, or one made of its title and text; within :data:`MAX_BODY_BYTES`."""
    if report.card:
        return _fit(dict(report.card))
    room = MAX_BODY_BYTES - 1024 - _json_size(report.title)
    kept, left = cut_to(report.text, room, _json_size)
    runs = [_run(kept, fontType="Monospace")]
    if left:
        runs.append(_run(f" …({left:,} more characters)", italic=True))
    # The digest's text quotes visitors' questions: a TextRun shows them without Markdown.
    return {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "msteams": {"width": "Full"},
            "body": [{"type": "TextBlock", "text": report.title, "size": "Large", "weight": "Bolder", "wrap": True},
                     _rich(*runs)]}


def _fit(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` with its last body items dropped until the envelope fits, and a note saying so."""
    body = list(content.get("body") or [])
    dropped = 0
    while len(body) > 1 and len(wire(envelope({**content, "body": body}))) > MAX_BODY_BYTES - 200:
        dropped += 1
        body.pop()
    over = len(wire(envelope({**content, "body": body}))) - (MAX_BODY_BYTES - 200)
    last = body[-1] if body else None
    if over > 0 and last is not None and isinstance(last.get("text"), str):
        text = last["text"]
        kept, left = cut_to(text, max(_json_size(text) - over - 64, 0), _json_size)
        body[-1] = {**last, "text": f"{kept} …({left:,} more characters)"}
    if dropped:
        body.append({"type": "TextBlock", "text": f"…({dropped} more sections)", "isSubtle": True, "wrap": True})
    return {**content, "body": body}


def _secrets(url: str) -> list[str]:
    """The URL, its path and each of its query values (``sig`` is the webhook's password)."""
    return url_secrets(url)


class Teams:
    """Posts Adaptive Cards to a Workflows webhook."""

    type = "teams"
    #: Cards show their case (its state, the claim/resolve buttons): the worker fills ``Outbound.case``.
    shows_case = True

    def __init__(self, name: str, config: TeamsChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale
        self._secrets = _secrets(config.url)
        self._client = http_client(config)

    def body(self, message: Outbound) -> dict[str, Any]:
        """The JSON document posted for ``message``."""
        return envelope(card(message, self.ctx, self.locale))

    async def _post(self, body: dict[str, Any]) -> SendResult:
        try:
            response = await self._client.post(self.config.url, content=wire(body),
                                               headers={"Content-Type": "application/json; charset=utf-8"})
        except Exception as exc:
            return classify_exception(exc, secrets=self._secrets)
        return classify_response(response, secrets=self._secrets, detail=_error_text(response))

    async def send(self, message: Outbound) -> SendResult:
        return _accepted(await self._post(self.body(message)))

    async def send_report(self, report: Report) -> SendResult:
        return _accepted(await self._post(envelope(report_card(report))))

    async def follow_up(self, follow_up: FollowUp) -> SendResult:
        """Post a card saying who took or closed the case (a workflow cannot edit the alert's card)."""
        return _accepted(await self._post(envelope(follow_up_card(follow_up, self.ctx, self.locale))))

    async def aclose(self) -> None:
        await self._client.aclose()


#: What a Teams delivery's ref says: the workflow queued the card, it was not seen posted.
ACCEPTED = "accepted"


def _accepted(result: SendResult) -> SendResult:
    """A 2xx from a workflow is *accepted*, not *delivered*: the flow run posts the card later
    and its failures show only in the run history. Recorded as sent (nothing to retry: the
    request was taken) with ref ``accepted`` and the metrics label ``accepted``."""
    if not result.ok:
        return result
    return SendResult("sent", "accepted by the Teams workflow (202): queued; the flow posts the card "
                      "afterwards, and a card it refuses shows only in the flow's run history",
                      ref=ACCEPTED, label=ACCEPTED)


def _error_text(response: Response) -> str | None:
    """Power Automate's own error: ``{"error": {"code": …, "message": …}}``."""
    if response.is_success:
        return None
    data = json_object(response)
    error = data.get("error") if data else None
    if isinstance(error, dict):
        return " ".join(str(x) for x in (error.get("code"), error.get("message")) if x) or None
    return None


def follows_up(config: TeamsChannel) -> bool:
    """Teams channels always follow up: a card of its own for each action."""
    return True


def create(name: str, config: TeamsChannel, ctx: ChannelContext) -> Teams:
    """The Teams adapter for one configured channel."""
    return Teams(name, config, ctx)


def preview(channel: Teams, message: Outbound) -> str:
    """The card the channel would post (the webhook URL, a secret, is not shown)."""
    return f"POST Teams workflow\n\n{json.dumps(channel.body(message), indent=2, ensure_ascii=False)}"
