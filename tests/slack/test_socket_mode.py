"""Socket Mode end to end: slack-sdk's client connects to a local WebSocket handed out by the
fake Slack's ``apps.connections.open``; a click pushed over it is acknowledged, claims the
case and updates the message, with no Request URL and no signing secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.store.cases import CaseStore
from tests.channels.fakes import FakeSlack
from tests.slack.live import live_api, until
from tests.slack.socket_fake import FakeSocketMode


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


def config(slack: FakeSlack) -> str:
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
channels:
  team-slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}",
               socket_mode: true, app_token: "{slack.app_token}", locale: en, rate: 200}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [team-slack]
"""


async def test_a_click_over_socket_mode_is_acknowledged_and_claims(tmp_path: Path, slack: FakeSlack) -> None:
    socket = await FakeSocketMode().start()
    slack.socket_url = socket.url
    try:
        async with live_api(tmp_path, config(slack)) as live:
            await socket.connected()
            case_id = await live.request()
            await until(lambda: len(slack.messages) == 1, what="the alert")
            ts = slack.messages[0]["ts"]
            envelope = await socket.send_interactive(slack.click_payload(ts, "case_claim", user="U0ANA", name="ana"))
            await socket.acknowledged(envelope)
            await until(lambda: len(slack.updates) == 1, what="the update")
            assert "Claimed by <@U0ANA>" in str(slack.message(ts)["blocks"])
            history = await CaseStore(live.service.store.connector()).history(case_id)
            assert [(a["action"], a["via"], a["outcome"]) for a in history["actions"]] == [
                ("claim", "slack:U0ANA", "done")]
            # The Request URL stays closed to this channel: it has no signing secret.
            answer = await live.click(*slack.signed(slack.click_payload(ts, "case_resolve")))
            assert answer.status_code == 401
    finally:
        await socket.stop()


async def test_envelopes_the_app_cannot_use_do_not_stop_the_connection(tmp_path: Path, slack: FakeSlack) -> None:
    socket = await FakeSocketMode().start()
    slack.socket_url = socket.url
    try:
        async with live_api(tmp_path, config(slack)) as live:
            await socket.connected()
            case_id = await live.request()
            await until(lambda: len(slack.messages) == 1, what="the alert")
            ts = slack.messages[0]["ts"]
            click = slack.click_payload(ts, "case_claim", user="U0ANA", name="ana")
            # Text that is not an envelope, envelopes without an id, of other types, with payloads
            # of every wrong shape, and clicks on a case or in a channel notifier does not know.
            for text in ("{not json", "not even braces", json.dumps({"type": "interactive", "payload": click}),
                         json.dumps({"envelope_id": {"x": 1}, "type": "interactive", "payload": "x"})):
                await socket.send_raw(text)
            for payload in ("a string", {"type": "block_actions"}, {**click, "actions": "x"},
                            {**click, "channel": {"id": "C0UNKNOWN", "name": "elsewhere"}},
                            {**click, "actions": [{**click["actions"][0], "value": "c-nope",
                                                   "block_id": "case:c-nope"}]}):
                await socket.acknowledged(await socket.send_interactive(payload))  # type: ignore[arg-type]
            await socket.send_raw(json.dumps({"envelope_id": "e-events", "type": "events_api",
                                              "payload": {"event": {"type": "app_mention"}}}))
            await socket.acknowledged("e-events")
            # The connection still carries clicks: the next one is acknowledged and acts.
            envelope = await socket.send_interactive(slack.click_payload(ts, "case_resolve", user="U0ANA", name="ana"))
            await socket.acknowledged(envelope)
            await until(lambda: len(slack.updates) == 1, what="the update")
            assert "Resolved by <@U0ANA>" in str(slack.message(ts)["blocks"])
            history = await CaseStore(live.service.store.connector()).history(case_id)
            # The same click delivered in another channel's name acted once, as a click does.
            assert [(a["action"], a["via"]) for a in history["actions"]] == [("claim", "slack:U0ANA"),
                                                                            ("resolve", "slack:U0ANA")]
    finally:
        await socket.stop()
