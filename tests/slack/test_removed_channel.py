"""Buttons of a Slack channel that a reload removed from channels.yaml: a click on an alert it
posted earlier acts on nothing, and the clicker is told the channel is gone and how to act.

Before, such a click either got a bare 401 (the channel's signing secret left with it) or,
when another configured channel shared the app's signing secret, claimed the case unseen:
nothing left to update the alert where the agent clicked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.store.cases import CaseStore
from tests.channels.fakes import FakeSlack
from tests.slack.live import Live, live_api, until

OLD_APP_SECRET = "0ld-app-signing-secret-4f1c2b9e"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels={"#support": "C0SUPPORT", "#vip": "C0VIP"}) as server:
        yield server  # type: ignore[misc]


def config(slack: FakeSlack, *, vip_secret: str | None, vip: bool = True) -> str:
    """Handoffs go to ``vip-slack`` (#vip) while it is configured, else to ``team-slack`` (#support)."""
    common = f'token: "{slack.token}", base_url: "{slack.api_url}", locale: en, rate: 200'
    signing = vip_secret or slack.signing_secret
    vip_channel = (f'  vip-slack: {{type: slack, channel: "#vip", signing_secret: "{signing}", {common}}}\n'
                   if vip else "")
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
  public_url: https://notifier.example.com
channels:
  team-slack: {{type: slack, channel: "#support", signing_secret: "{slack.signing_secret}", {common}}}
{vip_channel}routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [{"vip-slack" if vip else "team-slack"}]
"""


async def recorded(live: Live, case_id: str) -> None:
    """Wait until the worker recorded the alert as sent, with its ts (a person clicks later than that)."""
    deadline = time.monotonic() + 15
    while True:
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        if any(d["status"] == "sent" for d in case["deliveries"]):
            return
        assert time.monotonic() < deadline, "the alert was not recorded as sent"
        await asyncio.sleep(0.02)


async def actions(live: Live, case_id: str) -> list[tuple[str, str]]:
    history = await CaseStore(live.service.store.connector()).history(case_id)
    return [(a["action"], a["outcome"]) for a in history["actions"]]


@pytest.mark.parametrize("secret", ["shared with a configured channel", "its own"])
async def test_a_click_on_an_alert_of_a_removed_channel_is_refused_visibly(
        tmp_path: Path, slack: FakeSlack, secret: str, db_url: str) -> None:
    vip_secret = OLD_APP_SECRET if secret == "its own" else None
    async with live_api(tmp_path, config(slack, vip_secret=vip_secret), db_url) as live:
        case_id = await live.request()
        await until(lambda: len(slack.messages) == 1, what="the alert in #vip")
        [alert] = slack.messages
        assert alert["channel"] == "C0VIP"
        await recorded(live, case_id)
        # The admin removes vip-slack and reloads; the alert and its buttons stay in #vip.
        (tmp_path / "channels.yaml").write_text(config(slack, vip_secret=vip_secret, vip=False), encoding="utf-8")
        assert await live.service.reload() == []

        click = slack.click_payload(alert["ts"], "case_claim", user="U0MARIE", name="marie")
        answer = await live.click(*slack.signed(click, secret=vip_secret))
        assert answer.status_code == 200  # Slack's request, acknowledged: the refusal is the message below
        [told] = await asyncio.to_thread(slack.wait_for_ephemerals, 1)
        assert told["user"] == "U0MARIE" and told["via"] == "response_url"
        assert (told["response_type"], told["replace_original"]) == ("ephemeral", False)
        assert "`vip-slack`, which is no longer configured in notifier: nothing changed" in told["text"]
        assert f"https://notifier.example.com/console/cases/{case_id}" in told["text"]
        assert f"`notifier claim {case_id}`" in told["text"]
        assert await actions(live, case_id) == []
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        assert case["status"] == "open" and slack.updates == []

        # Alerts of the channels still configured keep working.
        other = await live.request(conversation="c-2")
        await until(lambda: len(slack.messages) == 2, what="the alert in #support")
        fresh = slack.messages[1]
        assert fresh["channel"] == "C0SUPPORT"
        await live.click(*slack.signed(slack.click_payload(fresh["ts"], "case_claim", user="U0PAUL", name="paul")))
        await until(lambda: len(slack.updates) == 1, what="the update in #support")
        assert await actions(live, other) == [("claim", "done")]
