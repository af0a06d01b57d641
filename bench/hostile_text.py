"""CPU of accepting and rendering valid but hostile text: each visitor field at its limit.

Run: ``python bench/hostile_text.py [FIELD/FILLER] [--batch]``. Each text field of an event
(``message``, the transcript, ``user.name``, ``page.title``, ``labels``, tool arguments,
``site``, ``conversation_id``) is filled up to its limit (``LIMITS`` in
notifier/core/events.py) with one filler: plain words, U+FDFA (18 letters once
normalised), combining marks, soft hyphens, emoji sequences, flags, digits, ``@``, ``.``, routing
keywords. Printed: CPU seconds (``time.process_time``) of parsing plus ``Service.accept`` on
SQLite (of 100 such events with ``--batch``), then of the worker's redaction and of each
channel's rendering of one of them. An argument keeps the rows whose ``field/filler`` holds it.
"""
from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from email import policy
from pathlib import Path
from typing import Any

from notifier.channels import apprise, email, freshdesk, slack, teams, webhook, zendesk
from notifier.channels.base import Outbound
from notifier.config.models import AppriseChannel, EmailChannel, FreshdeskChannel, ZendeskChannel
from notifier.core.events import LIMITS, Event
from notifier.core.privacy import for_channel
from notifier.core.redact import KINDS
from notifier.service import Service
from tests.channels.samples import context, outbound

CONFIG = r"""version: 1
defaults:
  timezone: Europe/Paris
  dedup: {window: 10m, key: "{site}:{person}:{kind}"}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/never", timeout: 2s}
routes:
  - name: handoff
    match: {kinds: [support_request, contact_request, tool_call]}
    to: [hook]
  - name: keywords
    match: {kinds: [message], keywords: [urgent, remboursement, avocat, "mot de passe"], role: user}
    to: [hook]
  - name: regex
    match: {kinds: [message], regex: "commande\\s+\\d+"}
    to: [hook]
"""

FILLERS = {
    "words": "hello world ",
    "fdfa": "\ufdfa",
    "halfwidth": "\uff9e",
    "marks": "e" + "\u0301" * 1000,
    "onemark": "e" + "\u0301" * 70_000,
    "shy": "\u00ad",
    "zwj": "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",
    "flags": "\U0001F1EB\U0001F1F7",
    "digits": "0",
    "at": "@",
    "dots": ".",
    "keywords": "urgent remboursement commande avocat ",
}
FIELDS = ["message", "transcript", "user.name", "page.title", "labels", "tool", "site", "conversation_id"]


def _fill(filler: str, limit: int) -> str:
    return (filler * (limit // len(filler) + 1))[:limit]


def event_data(field: str, filler: str) -> dict[str, Any]:
    """A user's message event with ``field`` filled up to its limit with ``filler``."""
    data: dict[str, Any] = {
        "kind": "message", "role": "user", "site": "shop.example.com", "conversation_id": "c1",
        "message": "Bonjour, ma commande", "user": {"name": "Marie", "email": "marie@example.com", "consent": True},
        "page": {"url": "https://shop.example.com/", "title": "Shop"}}

    def full(key: str) -> str:
        return _fill(filler, LIMITS[key])

    if field == "transcript":
        data["transcript"] = [{"role": "user", "text": full("transcript.text")}] * 3
    elif field == "user.name":
        data["user"]["name"] = full("user.name")
    elif field == "page.title":
        data["page"]["title"] = full("page.title")
    elif field == "labels":
        data["labels"] = {f"k{i}": full("labels.value") for i in range(LIMITS["labels"])}
    elif field == "tool":
        del data["role"]
        data["kind"] = "tool_call"
        data["tool"] = {"name": "send_support_email", "arguments": {
            "message": full("tool.arguments.string"), "details": full("tool.arguments.string")}}
    else:
        data[field] = full(field)
    return data


def renderers() -> dict[str, Callable[[Outbound], object]]:
    """The worker's redaction and each channel's rendering of one delivery."""
    ctx = context()
    mail = email.create("mail", EmailChannel(type="email", to=["support@example.com"],
                                             from_="Bot <bot@example.com>"), ctx)
    desk = zendesk.create("zd", ZendeskChannel(type="zendesk", subdomain="acme", email="a@acme.test",
                                               api_token="t"), ctx)
    fresh = freshdesk.create("fd", FreshdeskChannel(type="freshdesk", domain="acme", api_key="k",
                                                    fallback_email="s@acme.test"), ctx)
    ap = apprise.create("ap", AppriseChannel(type="apprise", urls=["json://localhost"]), ctx)
    return {
        "redact": lambda m: for_channel(m.event, None, list(KINDS)),
        "slack": lambda m: slack.message_blocks(m, ctx, "fr"),
        "teams": lambda m: teams.wire(teams.envelope(teams.card(m, ctx, "fr"))),
        "email": lambda m: mail.compose(m).as_bytes(policy=policy.SMTP),
        "zendesk": desk.ticket,
        "freshdesk": fresh.ticket,
        "apprise": ap.render,
        "webhook": lambda m: json.dumps(webhook.payload("hook", m, ctx)),
    }


async def main(want: str, batch: int) -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "channels.yaml").write_text(CONFIG, encoding="utf-8")
    service = Service(folder / "channels.yaml", f"sqlite:///{folder}/notifier.db", inbox_dir=folder / "inbox")
    await service.open()
    steps = renderers()
    print(f"{'field':16} {'filler':10} {'accept':>8} " + " ".join(f"{k:>9}" for k in steps))
    worst: dict[str, float] = {}
    try:
        for n, (field, name) in enumerate((f, n) for f in FIELDS for n in FILLERS):
            if want not in f"{field}/{name}":
                continue
            raw = json.dumps(event_data(field, FILLERS[name]))
            started = time.process_time()
            events = [Event.model_validate_json(raw).model_copy(update={"id": f"e{n}-{i}"}) for i in range(batch)]
            await service.accept(events)
            row = {"accept": time.process_time() - started}
            message = outbound(events[0].completed(service.clock()))
            for step, render in steps.items():
                started = time.process_time()
                render(message)
                row[step] = time.process_time() - started
            for step, seconds in row.items():
                worst[step] = max(worst.get(step, 0.0), seconds)
            print(f"{field:16} {name:10} " + " ".join(f"{v:9.3f}" for v in row.values()), flush=True)
    finally:
        await service.close()
    print("worst: " + "  ".join(f"{k} {v:.3f} s" for k, v in worst.items()))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    asyncio.run(main(args[0] if args else "", 100 if "--batch" in sys.argv else 1))
