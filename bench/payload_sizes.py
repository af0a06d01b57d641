"""The largest Slack and Teams payloads notifier sends, measured as each service counts them.

    python bench/payload_sizes.py

Renders the largest events the API accepts (every field at its limit in
``notifier.core.events.LIMITS``: a 64,000-character message, 200 transcript turns of
64,000 characters, site, page, user), in ASCII, accented Latin, CJK, emoji, combining
accents and JSON-escaped characters, and prints, per case: Slack's total block text in
UTF-16 code units (the limit Slack enforces with ``msg_blocks_too_long`` is about 12,000;
notifier keeps 11,000), the number of blocks (limit 50), the Slack request body in bytes,
and the Teams body in UTF-8 bytes on the wire (the Workflows limit is about 28 KB;
notifier keeps 26 KB = 26,624 bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import json  # noqa: E402

from notifier.channels import slack, teams  # noqa: E402
from notifier.channels.base import ChannelContext, Outbound  # noqa: E402
from notifier.config.models import Defaults  # noqa: E402
from notifier.core.events import LIMITS, Event, Priority  # noqa: E402
from notifier.render import Renderer  # noqa: E402

UNITS = {"ascii": "x", "latin": "é", "cjk": "字", "emoji": "😀", "zwj-emoji": "👩\u200d💻",
         "combining": "e\u0301", "json-escapes": "\"\\\u0001"}


def _fill(unit: str, limit: int) -> str:
    return unit * (limit // len(unit))


def worst(unit: str) -> Outbound:
    turn = _fill(unit, LIMITS["transcript.text"])
    ev = Event.model_validate({
        "id": "e" * LIMITS["id"], "kind": "support_request", "site": _fill(unit, LIMITS["site"]),
        "conversation_id": "c", "message": _fill(unit, LIMITS["message"]), "occurred_at": "2024-05-14T12:03:00Z",
        "user": {"name": _fill(unit, LIMITS["user.name"]), "email": "someone@example.com",
                 "phone": _fill(unit, LIMITS["user.phone"]), "consent": True},
        "page": {"url": "https://shop.example.com/" + "p" * (LIMITS["page.url"] - 30),
                 "title": _fill(unit, LIMITS["page.title"])},
        "transcript": [{"role": "user" if i % 2 else "assistant", "text": turn}
                       for i in range(LIMITS["transcript"])],
    })
    return Outbound(delivery_id="d" * 32, event=ev, channel="c", route="r", priority=Priority.urgent,
                    folded=99, keywords=("urgent",) * 20)


def main() -> None:
    defaults = Defaults(timezone="Europe/Paris", locale="fr", event_url="https://notifier.example.com/v1/events/{id}")
    ctx = ChannelContext(defaults=defaults, renderer=Renderer(), event_url=defaults.event_url)
    print(f"{'case':<14} {'slack text':>10} {'blocks':>6} {'slack bytes':>11} {'teams bytes':>11}")
    peaks = [0, 0, 0, 0]
    for name, unit in UNITS.items():
        message = worst(unit)
        blocks, text = slack.message_blocks(message, ctx, "fr")
        slack_bytes = len(json.dumps({"channel": "#support", "text": text, "blocks": blocks},
                                     ensure_ascii=False).encode())
        card = teams.card(message, ctx, "fr")
        row = [slack.text_size(blocks), len(blocks), slack_bytes, len(teams.wire(teams.envelope(card)))]
        peaks = [max(a, b) for a, b in zip(peaks, row, strict=True)]
        print(f"{name:<14} {row[0]:>10,} {row[1]:>6} {row[2]:>11,} {row[3]:>11,}")
    print(f"{'worst':<14} {peaks[0]:>10,} {peaks[1]:>6} {peaks[2]:>11,} {peaks[3]:>11,}")
    print(f"limits: Slack text {slack.MAX_TOTAL_TEXT:,} (refused at ~12,000), 50 blocks; "
          f"Teams {teams.MAX_BODY_BYTES:,} bytes (refused at ~28,672)")


if __name__ == "__main__":
    main()
