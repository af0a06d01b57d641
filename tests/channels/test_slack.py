"""Slack: Block Kit content, threads, limits, pacing and errors, against a fake Slack."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.channels import slack
from notifier.channels.base import Report
from notifier.config.models import SlackChannel
from tests.channels.fakes import FakeSlack, Reply, block_kit_errors, slack_text_size
from tests.channels.samples import context, event, outbound

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-111-secret") as server:
        yield server  # type: ignore[misc]


def bot(fake: FakeSlack, **options: Any) -> slack.Slack:
    config = SlackChannel(type="slack", token=fake.token, channel="#support", base_url=fake.api_url,
                          **{"rate": 1000.0, **options})
    return slack.create("support-slack", config, context())


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def test_message_shows_kind_priority_quote_context_and_link(fake: FakeSlack) -> None:
    channel = bot(fake)
    result = await channel.send(outbound())
    await channel.aclose()

    assert result.ok and result.ref == fake.messages[0]["ts"]
    posted = fake.messages[0]
    blocks = posted["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                    "text": "🔴 Demande de support · Priorité haute"}}
    quote = blocks[1]["elements"][0]
    assert quote["type"] == "rich_text_quote"  # rich text: shown as typed, never parsed by Slack
    assert quote["elements"][0]["text"] == ("Bonjour, ma commande n'est jamais arrivée.\n"
                                            "Je voudrais parler à un humain <vite>.")
    facts = blocks[2]["elements"][0]["elements"]
    assert {"type": "text", "text": "shop.example.com"} in facts
    assert {"type": "link", "url": "https://shop.example.com/orders/1234"} in facts  # the link shows its target
    assert {"type": "text", "text": "Mes commandes "} in facts
    assert {"type": "link", "url": "mailto:marie@example.com", "text": "marie@example.com"} in facts
    assert {"type": "text", "text": "Marie Dupont "} in facts
    context_text = " ".join(e["text"] for e in blocks[3]["elements"])
    assert "14/05/2024 14:03 (Europe/Paris)" in context_text  # 12:03 UTC shown in Paris time
    assert "Elle a été expédiée le 10 mai." in all_text(blocks)
    buttons = blocks[-1]["elements"]
    assert buttons[0]["url"] == "https://notifier.example.com/v1/events/evt-0001"
    assert posted["text"].startswith("🔴 Demande de support · Priorité haute — shop.example.com: Bonjour")


async def test_user_details_stay_out_without_consent(fake: FakeSlack) -> None:
    channel = bot(fake)
    ev = event(user={"name": "Marie Dupont", "email": "marie@example.com", "consent": False})
    assert (await channel.send(outbound(ev))).ok
    await channel.aclose()
    text = all_text(fake.messages[0]["blocks"]) + fake.messages[0]["text"]
    assert "Marie" not in text and "marie@example.com" not in text


async def test_folded_repeats_are_counted(fake: FakeSlack) -> None:
    channel = bot(fake)
    assert (await channel.send(outbound(folded=3))).ok
    await channel.aclose()
    assert "*+3* similaires regroupés" in all_text(fake.messages[0]["blocks"])


async def test_follow_up_goes_in_the_thread_of_the_first_message(fake: FakeSlack) -> None:
    channel = bot(fake)
    first = await channel.send(outbound())
    follow_up = await channel.send(outbound(event(id="evt-0002"), thread_ref=first.thread_ref))
    await channel.aclose()

    assert first.ok and first.thread_ref == first.ref
    assert fake.messages[0]["thread_ts"] is None
    assert fake.messages[1]["thread_ts"] == first.ref
    assert follow_up.ok and follow_up.ref == fake.messages[1]["ts"] and follow_up.thread_ref == first.ref


async def test_long_message_and_transcript_are_cut_to_slack_limits(fake: FakeSlack) -> None:
    channel = bot(fake)
    turns = [{"role": "user" if i % 2 else "assistant", "text": f"tour {i} " + "x" * 4000} for i in range(80)]
    ev = event(message="é" * 10_000, transcript=turns, page={"url": "https://shop.example.com/" + "p" * 200,
                                                              "title": "T" * 4000})
    result = await channel.send(outbound(ev))
    await channel.aclose()

    assert result.ok, result.reason  # the fake Slack checks every limit, the total text included
    blocks = fake.messages[0]["blocks"]
    assert len(blocks) <= 50 and block_kit_errors(blocks) == []
    assert slack_text_size(blocks) <= slack.MAX_TOTAL_TEXT
    quoted = blocks[1]["elements"][0]["elements"]
    assert quoted[1]["text"].startswith(" …(") and "more characters)" not in quoted[1]["text"]  # fr
    left = int(quoted[1]["text"].split("(")[1].split()[0].replace(",", ""))
    assert len(quoted[0]["text"]) + left == 10_000  # what was cut is counted exactly
    assert quoted[-1] == {"type": "link", "url": "https://notifier.example.com/v1/events/evt-0001",
                          "text": "tout lire"}
    assert "tour 79" in all_text(blocks)  # the latest turns are the ones kept
    assert blocks[-1]["type"] == "actions"  # the link survives the cut


@pytest.mark.parametrize("unit", ["😀", "字", "e\u0301", "👩\u200d💻"])
async def test_total_text_limit_counts_like_slack_and_never_splits_a_character(fake: FakeSlack,
                                                                              unit: str) -> None:
    """Emoji are two UTF-16 units, CJK one; a cut never separates an accent or a ZWJ sequence."""
    channel = bot(fake)
    turns = [{"role": "user", "text": unit * 2000} for _ in range(20)]
    result = await channel.send(outbound(event(message=unit * 20_000, transcript=turns)))
    await channel.aclose()
    assert result.ok, result.reason
    blocks = fake.messages[0]["blocks"]
    assert slack_text_size(blocks) <= slack.MAX_TOTAL_TEXT
    kept = blocks[1]["elements"][0]["elements"][0]["text"]
    assert kept == unit * (len(kept) // len(unit))  # whole characters only
    assert slack_text_size(blocks) > slack.MAX_TOTAL_TEXT - 2500  # and the room is used


async def test_blocks_over_the_total_are_refused_by_the_fake_as_by_slack(fake: FakeSlack) -> None:
    """The fake is not a mirror: too much text in many small blocks is refused."""
    channel = bot(fake)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}} for _ in range(5)]
    result = await channel._post({"channel": "#support", "text": "t", "blocks": blocks})
    await channel.aclose()
    assert result.status == "permanent" and "msg_blocks_too_long" in result.reason


async def test_long_header_is_cut_not_rejected(fake: FakeSlack) -> None:
    blocks, _ = slack.message_blocks(outbound(test=True), context(), "fr")
    assert len(blocks[0]["text"]["text"]) <= 150
    blocks, _ = slack.report_blocks(Report(key="k", title="D" * 400, text="ligne\n" * 2000))
    assert block_kit_errors(blocks) == [] and len(blocks[0]["text"]["text"]) == 150


@pytest.mark.parametrize("thread", [None, "first"])
async def test_fatal_error_after_posting_is_found_in_history_not_posted_twice(fake: FakeSlack,
                                                                               thread: str | None) -> None:
    channel = bot(fake)
    thread_ref = None
    if thread:
        thread_ref = (await channel.send(outbound(delivery_id="d0"))).ref
    fake.fail_after_posting = "fatal_error"  # Slack posted it, then answered an error
    first = await channel.send(outbound(thread_ref=thread_ref))
    assert first.status == "retry" and first.label == "fatal_error" and first.progress is not None
    again = await channel.send(outbound(attempt=2, progress=first.progress, thread_ref=thread_ref))
    await channel.aclose()
    mine = [m for m in fake.messages if m["metadata"]["event_payload"]["delivery_id"] != "d0"]
    assert len(mine) == 1  # found by its metadata, not posted again
    assert again.ok and again.ref == mine[0]["ts"] and "earlier attempt" in again.reason
    reads = [r.path for r in fake.requests if "conversations" in r.path]
    # Without an earlier answer naming the channel's id, the bot's channels are listed once.
    assert reads == (["/api/conversations.replies"] if thread else
                     ["/api/conversations.list", "/api/conversations.history"])


async def test_fatal_error_before_posting_posts_on_the_next_attempt(fake: FakeSlack) -> None:
    fake.script(Reply(200, {"ok": False, "error": "fatal_error"}))  # nothing posted
    channel = bot(fake)
    first = await channel.send(outbound())
    again = await channel.send(outbound(attempt=2, progress=first.progress or {}))
    await channel.aclose()
    assert first.status == "retry" and again.ok and len(fake.messages) == 1


async def test_lost_answer_is_checked_too(fake: FakeSlack) -> None:
    fake.script(Reply.lose())  # posted, then the connection closes before the answer
    channel = bot(fake)
    first = await channel.send(outbound())
    again = await channel.send(outbound(attempt=2, progress=first.progress or {}))
    await channel.aclose()
    assert first.status == "retry" and first.label == "answer_lost"
    assert again.ok and len(fake.messages) == 1


async def test_fake_slack_limits_one_message_per_second_and_pacing_respects_it() -> None:
    with FakeSlack(token="xoxb-111-secret", per_second=1) as limited:
        hasty = bot(limited)  # rate: 1000/s, faster than Slack allows
        first, second = await hasty.send(outbound()), await hasty.send(outbound(delivery_id="d2"))
        await hasty.aclose()
        assert first.ok and second.status == "retry" and second.retry_after == 1.0
        assert second.label == "rate_limited"
    with FakeSlack(token="xoxb-111-secret", per_second=1) as limited:
        paced = bot(limited, rate=1.0)  # the default pace: one a second
        results = [await paced.send(outbound(delivery_id=f"p{i}")) for i in range(2)]
        await paced.aclose()
        assert all(r.ok for r in results), [r.reason for r in results]


async def test_rate_limited_answer_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.script(Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    channel = bot(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and result.retry_after == 7.0 and result.label == "rate_limited"


async def test_bot_outside_the_channel_is_told_to_invite_it() -> None:
    with FakeSlack(token="xoxb-111-secret", member_of=set()) as fake:
        channel = bot(fake)
        result = await channel.send(outbound())
        await channel.aclose()
    assert result.status == "permanent"
    assert "the bot is not in #support: invite it with /invite" in result.reason


async def test_unknown_channel_and_bad_token_are_permanent(fake: FakeSlack) -> None:
    channel = slack.create("s", SlackChannel(type="slack", token=fake.token, channel="#nope",
                                             base_url=fake.api_url), context())
    missing = await channel.send(outbound())
    await channel.aclose()
    channel = slack.create("s", SlackChannel(type="slack", token="xoxb-wrong-token", channel="#support",
                                             base_url=fake.api_url), context())
    bad_token = await channel.send(outbound())
    await channel.aclose()
    assert missing.status == "permanent" and "no channel #nope" in missing.reason
    assert bad_token.status == "permanent" and "invalid_auth" in bad_token.reason
    assert "xoxb-wrong-token" not in bad_token.reason


async def test_webhook_mode_posts_the_same_blocks(fake: FakeSlack) -> None:
    channel = slack.create("hook", SlackChannel(type="slack", webhook_url=fake.hook_url), context())
    ok = await channel.send(outbound(thread_ref="1700000000.000001"))
    revoked = slack.create("hook", SlackChannel(type="slack", webhook_url=fake.hook_url + "x"), context())
    refused = await revoked.send(outbound())
    await channel.aclose()
    await revoked.aclose()

    assert ok.ok and fake.messages[0]["blocks"][0]["type"] == "header"
    assert "thread_ts" not in fake.requests[0].json()  # webhooks cannot thread
    assert refused.status == "permanent" and "no longer accepts this webhook URL" in refused.reason
    assert "hooksecret" not in refused.reason


@pytest.mark.parametrize("reply", [Reply(200, "<html>proxy</html>", {"Content-Type": "text/html"}),
                                   Reply(200, b"{not json", {"Content-Type": "application/json"}),
                                   Reply(200, "ok")], ids=["html", "broken-json", "text"])
async def test_answer_that_is_not_json_is_retried(fake: FakeSlack, reply: Reply) -> None:
    fake.script(reply)
    channel = bot(fake)
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.status == "retry" and "not JSON" in result.reason


async def test_credentials_in_the_base_url_do_not_replace_the_bot_token(fake: FakeSlack) -> None:
    channel = slack.create("s", SlackChannel(type="slack", token=fake.token, channel="#support",
                                             base_url=fake.api_url.replace("http://", "http://proxy:pw@")), context())
    result = await channel.send(outbound())
    await channel.aclose()
    assert result.ok and fake.requests[0].headers["authorization"] == f"Bearer {fake.token}"


async def test_debug_logging_never_shows_the_webhook_url_or_token(fake: FakeSlack,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hook = slack.create("hook", SlackChannel(type="slack", webhook_url=fake.hook_url), context())
    api = bot(fake)
    assert (await hook.send(outbound())).ok and (await api.send(outbound())).ok
    await hook.aclose()
    await api.aclose()
    assert "hooksecret" not in caplog.text and fake.token not in caplog.text


async def test_channel_can_be_closed_before_and_after_sending(fake: FakeSlack) -> None:
    channel = bot(fake)
    await channel.aclose()  # never sent: nothing to close
    assert (await channel.send(outbound())).ok
    await channel.aclose()
    await channel.aclose()


async def test_digest_goes_as_its_blocks_or_its_text(fake: FakeSlack) -> None:
    channel = bot(fake)
    own = await channel.send_report(Report(key="d1", title="Résumé", text="t",
                                           blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*42*"}}]))
    from_text = await channel.send_report(Report(key="d2", title="Résumé du jour", text="Total : 42\n▇▇▇ 9h"))
    await channel.aclose()
    assert own.ok and fake.messages[0]["blocks"][0]["text"]["text"] == "*42*"
    assert from_text.ok and "▇▇▇ 9h" in all_text(fake.messages[1]["blocks"])


async def test_pace_lets_the_first_message_through_and_spaces_the_next() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pace = slack.Pace(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pace.wait()
    assert waits == [0.5, 1.0]  # first at once, then one every half second
    now[0] = 110.0
    pace.hold(5)
    await pace.wait()
    assert waits[-1] == 5  # Slack's "slow down" holds the next slot


def test_preview_shows_the_request_without_the_token(fake: FakeSlack) -> None:
    text = slack.preview(bot(fake), outbound())
    assert "chat.postMessage" in text and "Demande de support" in text and fake.token not in text


def test_sample_blocks_are_current() -> None:
    """``docs/samples/slack-blocks.json``: what Slack receives for the fixture event."""
    config = SlackChannel(type="slack", token="xoxb-sample", channel="#support")
    body = slack.create("support-slack", config, context()).body(outbound(folded=2, keywords=("humain",)))
    rendered = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    path = SAMPLES / "slack-blocks.json"
    if os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == rendered, "run with NOTIFIER_WRITE_SAMPLES=1 to update"
    assert block_kit_errors(body["blocks"]) == []


async def test_the_largest_event_the_api_accepts_stays_under_the_total(fake: FakeSlack) -> None:
    """Every field at its limit at the door, a 200-character event id in the links: still fits."""
    from notifier.core.events import LIMITS

    ev = event(id="e" * LIMITS["id"], site="s" * LIMITS["site"], message="字" * LIMITS["message"],
               page={"url": "https://shop.example.com/" + "p" * (LIMITS["page.url"] - 30),
                     "title": "t" * LIMITS["page.title"]},
               user={"name": "n" * LIMITS["user.name"], "email": "a@example.com", "consent": True},
               transcript=[{"role": "user", "text": "😀" * 2000} for _ in range(LIMITS["transcript"])])
    channel = bot(fake)
    result = await channel.send(outbound(ev))
    await channel.aclose()
    assert result.ok, result.reason
    assert slack_text_size(fake.messages[0]["blocks"]) <= slack.MAX_TOTAL_TEXT
