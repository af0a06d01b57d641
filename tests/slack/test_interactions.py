"""Slack buttons end to end: the fake Slack sends signed clicks to the real API over loopback.

A click claims the case, the alert is updated in place (``chat.update``) and the thread
told; two racing clicks leave one winner and tell the other who has it; a forged,
replayed or stale request is refused with 401 and changes nothing; the allow-list
refuses others with an ephemeral message.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.slack_interactions import interactions_for
from notifier.store.cases import CaseStore
from tests.channels.fakes import FakeSlack
from tests.slack.live import Live, live_api, slack_config, until


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server  # type: ignore[misc]


async def posted_alert(live: Live, slack: FakeSlack) -> tuple[str, str]:
    case_id = await live.request()
    await until(lambda: len(slack.messages) == 1, what="the alert")
    return case_id, slack.messages[0]["ts"]


def case_buttons(message: dict[str, object], case_id: str) -> list[str]:
    blocks = message["blocks"]
    assert isinstance(blocks, list)
    [block] = [b for b in blocks if b.get("block_id") == f"case:{case_id}"]
    return [e["action_id"] for e in block["elements"]]


async def actions(live: Live, case_id: str) -> list[tuple[str, str, str, str]]:
    history = await CaseStore(live.service.store.connector()).history(case_id)
    return [(a["action"], a["actor"], a["via"], a["outcome"]) for a in history["actions"]]


async def follow_ups(live: Live, case_id: str) -> int:
    history = await CaseStore(live.service.store.connector()).history(case_id)
    return sum(d["route"] == "follow-up" for d in history["deliveries"])


async def test_a_click_claims_updates_the_message_in_place_and_tells_the_thread(
        tmp_path: Path, slack: FakeSlack) -> None:
    async with live_api(tmp_path, slack_config(slack)) as live:
        case_id, ts = await posted_alert(live, slack)
        assert case_buttons(slack.message(ts), case_id) == ["case_claim", "case_resolve"]

        answer = await live.click(*slack.signed(slack.click_payload(ts, "case_claim", user="U0MARIE",
                                                                    name="marie")))
        assert answer.status_code == 200
        await until(lambda: len(slack.updates) == 1 and len(slack.replies(ts)) == 1, what="the update")
        shown = str(slack.message(ts)["blocks"])
        assert "Pris en charge par <@U0MARIE> à <!date^" in shown
        assert case_buttons(slack.message(ts), case_id) == ["case_resolve"]
        assert slack.replies(ts)[0]["text"].startswith("✋ Pris en charge par <@U0MARIE>")
        assert await actions(live, case_id) == [("claim", "marie", "slack:U0MARIE", "done")]
        # The API and the CLI see the same case.
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        assert case["status"] == "claimed" and case["claimed_by"] == "marie"

        await live.click(*slack.signed(slack.click_payload(ts, "case_resolve", user="U0MARIE", name="marie")))
        await until(lambda: len(slack.updates) == 2 and len(slack.replies(ts)) == 2, what="the second update")
        assert "Résolu par <@U0MARIE>" in str(slack.message(ts)["blocks"])
        assert case_buttons(slack.message(ts), case_id) == ["case_reopen"]
        assert slack.ephemerals == []


async def test_two_racing_clicks_one_winner_the_other_told_who_has_it(tmp_path: Path, slack: FakeSlack) -> None:
    async with live_api(tmp_path, slack_config(slack)) as live:
        case_id, ts = await posted_alert(live, slack)
        marie = slack.signed(slack.click_payload(ts, "case_claim", user="U0MARIE", name="marie"))
        paul = slack.signed(slack.click_payload(ts, "case_claim", user="U0PAUL", name="paul"))
        answers = await asyncio.gather(live.click(*marie), live.click(*paul))
        assert [a.status_code for a in answers] == [200, 200]
        await until(lambda: len(slack.ephemerals) == 1 and len(slack.updates) == 1, what="winner and loser")
        done = [a for a in await actions(live, case_id) if a[3] == "done"]
        refused = [a for a in await actions(live, case_id) if a[3] == "refused"]
        assert len(done) == 1 and len(refused) == 1
        winner, loser = done[0][1], refused[0][1]
        [told] = slack.ephemerals
        assert told["user"] == ("U0PAUL" if loser == "paul" else "U0MARIE")
        assert told["text"] == f"Déjà pris en charge par {winner}."
        assert (told["response_type"], told["replace_original"]) == ("ephemeral", False)
        assert f"<@U0{winner.upper()}>" in str(slack.message(ts)["blocks"])
        # Only one follow-up: the loser's click changed nothing.
        assert await follow_ups(live, case_id) == 1


async def test_a_click_slack_sends_again_acts_once(tmp_path: Path, slack: FakeSlack) -> None:
    # The same click arrives twice, each signed anew (a user pressing again when Slack showed
    # a timeout: it waits 3 s for the 200, https://docs.slack.dev/tools/bolt-python/concepts/acknowledge):
    # the case is claimed once, the thread told once, the clicker not told off.
    async with live_api(tmp_path, slack_config(slack)) as live:
        case_id, ts = await posted_alert(live, slack)
        payload = slack.click_payload(ts, "case_claim", user="U0MARIE", name="marie")
        first = slack.signed(payload, timestamp=int(time.time()) - 4)
        again = slack.signed(payload)
        assert [(await live.click(*r)).status_code for r in (first, again)] == [200, 200]
        await interactions_for(live.service).drain()
        await until(lambda: len(slack.replies(ts)) == 1, what="the thread told")
        assert [a[3] for a in await actions(live, case_id)] == ["done", "unchanged"]
        assert await follow_ups(live, case_id) == 1
        assert slack.ephemerals == []


@pytest.mark.parametrize("forgery", ["wrong secret", "stale", "replayed", "unsigned", "altered body"])
async def test_forged_replayed_or_stale_clicks_get_401_and_change_nothing(
        tmp_path: Path, slack: FakeSlack, forgery: str) -> None:
    async with live_api(tmp_path, slack_config(slack)) as live:
        case_id, ts = await posted_alert(live, slack)
        payload = slack.click_payload(ts, "case_claim")
        if forgery == "wrong secret":
            body, headers = slack.signed(payload, secret="not-the-app-secret")
        elif forgery == "stale":
            body, headers = slack.signed(payload, timestamp=int(time.time()) - 301)
        elif forgery == "unsigned":
            body, headers = slack.signed(payload)
            del headers["X-Slack-Signature"]
        elif forgery == "altered body":
            body, headers = slack.signed(payload)
            body = body.replace(b"U0MARIE", b"U0MALLORY")
        else:
            body, headers = slack.signed(slack.click_payload(ts, "case_resolve"))
            assert (await live.click(body, headers)).status_code == 200  # the genuine one
            await until(lambda: len(slack.updates) == 1, what="the genuine click's update")
            # Someone reopens it; the captured resolve request is replayed.
            await live.client.post(f"{live.url}/v1/cases/{case_id}/reopen", json={"by": "lead"})
            await until(lambda: len(slack.updates) == 2, what="the reopen's update")
        before = await actions(live, case_id), await follow_ups(live, case_id)
        answer = await live.click(body, headers)
        assert answer.status_code == 401
        assert "signature" in answer.json()["error"]
        assert (await actions(live, case_id), await follow_ups(live, case_id)) == before
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        assert case["status"] == ("reopened" if forgery == "replayed" else "open")


async def test_allow_list_refuses_others_with_an_ephemeral_message(tmp_path: Path, slack: FakeSlack) -> None:
    slack.usergroups = {"S0ONCALL": ["U0MARIE"]}
    async with live_api(tmp_path, slack_config(slack, allow="[U0LEAD, S0ONCALL]")) as live:
        case_id, ts = await posted_alert(live, slack)
        await live.click(*slack.signed(slack.click_payload(ts, "case_claim", user="U0EVE", name="eve")))
        [told] = await asyncio.to_thread(slack.wait_for_ephemerals, 1)
        assert told["user"] == "U0EVE" and "pas autorisé" in told["text"]
        assert await actions(live, case_id) == []
        # A member of the allowed user group may.
        await live.click(*slack.signed(slack.click_payload(ts, "case_claim", user="U0MARIE", name="marie")))
        await until(lambda: len(slack.updates) == 1, what="the allowed click's update")
        assert await actions(live, case_id) == [("claim", "marie", "slack:U0MARIE", "done")]


async def test_a_late_alert_of_an_earlier_round_claims_nothing(tmp_path: Path, slack: FakeSlack) -> None:
    # The bot was not in #support: Monday's alert died there. The case was answered by phone and
    # resolved; on Tuesday the visitor writes again and the case is reopened. The bot is invited and
    # the dead letters replayed: Monday's alert reaches Slack now. Its buttons are Monday's: a click
    # must not take Tuesday's request, which nobody in Slack has seen.
    slack.member_of = set()
    async with live_api(tmp_path, slack_config(slack)) as live:
        case_id = await live.request()
        [dead] = await until_dead(live)
        await live.client.post(f"{live.url}/v1/cases/{case_id}/resolve", json={"by": "Marie"})
        r = await live.client.post(f"{live.url}/v1/events", json={
            "kind": "message", "role": "user", "site": "shop.example.com", "conversation_id": "c-1",
            "message": "Toujours rien reçu"})
        assert r.status_code == 202
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        assert (case["status"], case["round"]) == ("reopened", 2)
        slack.member_of = set(slack.channels)
        assert (await live.client.post(f"{live.url}/v1/deliveries/{dead}/replay")).status_code == 202
        await until(lambda: len(slack.messages) == 1, what="Monday's alert, late")
        ts = slack.messages[0]["ts"]

        await live.click(*slack.signed(slack.click_payload(ts, "case_claim", user="U0PAUL", name="paul")))
        await until(lambda: len(slack.ephemerals) == 1, what="the clicker told")
        [told] = slack.ephemerals
        assert told["user"] == "U0PAUL"
        assert told["text"].startswith("Cette alerte vient d'une demande précédente de ce dossier")
        case = (await live.client.get(f"{live.url}/v1/cases/{case_id}")).json()
        assert (case["status"], case["claimed_by"]) == ("reopened", None)
        assert (await actions(live, case_id))[-1] == ("claim", "paul", "slack:U0PAUL", "refused")
        # Nothing to tell any channel: the refused click changed nothing (and the resolution had no alert to update).
        assert await follow_ups(live, case_id) == 0


async def until_dead(live: Live) -> list[str]:
    """The ids of the dead letters, once there are some."""
    found: list[str] = []

    async def look() -> None:
        r = await live.client.get(f"{live.url}/v1/deliveries", params={"status": "dead"})
        found[:] = [d["id"] for d in r.json()["deliveries"]]

    deadline = time.monotonic() + 15
    while not found:
        assert time.monotonic() < deadline, "timed out waiting for the dead letter"
        await look()
        await asyncio.sleep(0.02)
    return found
