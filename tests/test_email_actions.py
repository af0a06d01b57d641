"""From the email to the answer, on real parts: the alert reaches an SMTP server (aiosmtpd), its
link is followed over HTTP on 127.0.0.1, the button claims, and the team's thread is told."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from notifier.api import create_app
from notifier.inbox import captured
from notifier.service import Service
from tests.conftest import ServiceFactory

SECRET = "email-actions-secret-0123456789abcdef"


def config(base: str) -> str:
    return f"""version: 1
defaults:
  timezone: Europe/Paris
  public_url: {base}
  acknowledge: {{via: support-email}}
action_links: {{secret: {SECRET}}}
channels:
  support-email: {{type: email, to: [support@example.com], from: "Chatbot <bot@example.com>"}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [support-email]
"""


@pytest.fixture
async def served(make_service: ServiceFactory, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Service, str]]:
    """The service (its email going to the capture inbox, an aiosmtpd server) and its API over HTTP."""
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    service = await make_service(config(base))
    server = uvicorn.Server(uvicorn.Config(create_app(service, manage=False), lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    try:
        yield service, base
    finally:
        server.should_exit = True
        await task
        sock.close()


def mails(inbox: Path, to: str = "support@example.com") -> list[EmailMessage]:
    """The mails ``to`` received, oldest first."""
    return [m.message() for m in sorted(captured(inbox), key=lambda m: -m.number) if m.to == to]


def part(msg: EmailMessage, kind: str) -> str:
    body = msg.get_body((kind,))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def links_in(text: str) -> dict[str, str]:
    """The action links of a text part, by their label."""
    return {label.strip(): url for label, url in re.findall(r"^(.+?) ?: (https?://\S+/act\?t=\S+)\s*$", text, re.M)}


def form(page: str) -> dict[str, Any]:
    token = re.search(r'name="t" value="([^"]+)"', page)
    assert token, page
    return {"t": unescape(token.group(1))}


async def drain(service: Service) -> None:
    assert service.worker is not None
    await service.worker.drain()


async def test_claim_and_resolve_from_the_email_and_the_thread_is_told(served: tuple[Service, str],
                                                                         tmp_path: Path) -> None:
    service, base = served
    inbox = tmp_path / "inbox"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                                "conversation_id": "c-7", "message": "Mon colis n'arrive pas",
                                                "user": {"email": "ana@example.com", "consent": True}})
        case_id = r.json()["case"]["id"]
        await drain(service)
        [alert] = mails(inbox)
        # The user is told their request was received; their mail holds none of the team's links.
        [ack] = mails(inbox, "ana@example.com")
        assert "/act?t=" not in ack.as_string()
        text, html = part(alert, "plain"), part(alert, "html")
        links = links_in(text)
        assert set(links) == {"Je m'en occupe", "Résolu"}
        # The HTML part carries the same two links, as buttons.
        assert all(f'href="{url}"' in unescape(html) or f'href="{url}"' in html for url in links.values())
        # Opening the link (what a mail scanner does) changes nothing.
        page = await http.get(links["Je m'en occupe"], headers={"Accept-Language": "fr"})
        assert page.status_code == 200 and "Prendre en charge cette demande" in unescape(page.text)
        assert (await http.get(f"/v1/cases/{case_id}")).json()["status"] == "open"

        posted = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "Marie"},
                                 headers={"Origin": base, "Accept-Language": "fr"})
        assert posted.status_code == 200 and "Pris en charge par Marie" in unescape(posted.text)
        assert (await http.get(f"/v1/cases/{case_id}")).json()["claimed_by"] == "Marie"

        await drain(service)
        _, told = mails(inbox)
        assert told["In-Reply-To"] == alert["Message-ID"] and alert["Message-ID"] in told["References"]
        assert told["Subject"] == f"Re: {alert['Subject']}" and told["X-Notifier-Kind"] == "follow_up"
        told_text = part(told, "plain")
        assert re.search(r"Pris en charge par Marie à \d\d:\d\d \(depuis l'email\)\.", told_text)
        # Once claimed, the thread offers what is left to do: resolve.
        assert set(links_in(told_text)) == {"Résolu"}

        page = await http.get(links_in(told_text)["Résolu"], headers={"Accept-Language": "fr"})
        done = await http.post(f"/v1/cases/{case_id}/act",
                               data={**form(page.text), "by": "Marie", "note": "colis renvoyé"},
                               headers={"Origin": base})
        assert done.status_code == 200
        await drain(service)
        *_, resolved = mails(inbox)
        assert resolved["In-Reply-To"] == alert["Message-ID"]
        resolved_text = part(resolved, "plain")
        assert "Résolu par Marie" in resolved_text and "colis renvoyé" in resolved_text
        assert links_in(resolved_text) == {}
        case = (await http.get(f"/v1/cases/{case_id}")).json()
        assert [(a["action"], a["via"]) for a in case["actions"]] == [("claim", "email"), ("resolve", "email")]
        # The follow-ups are deliveries like any other: listed with the case, sent.
        follow_ups = [d for d in case["deliveries"] if d["route"] == "follow-up"]
        assert [d["status"] for d in follow_ups] == ["sent", "sent"]


async def test_taken_in_slack_resolved_from_the_email_then_its_links_change_nothing(
        served: tuple[Service, str], tmp_path: Path) -> None:
    from notifier.cases import act

    service, base = served
    inbox = tmp_path / "inbox"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                                "conversation_id": "c-8", "message": "Remboursement ?"})
        case_id = r.json()["case"]["id"]
        await drain(service)
        [alert] = mails(inbox)
        first_links = links_in(part(alert, "plain"))
        # Marie presses "Je m'en occupe" in Slack (a click acts as slack:<her id>).
        await act(service.store, service.config, case_id, "claim", by="marie", via="slack:U0MARIE",
                  now=service.clock())
        await drain(service)
        _, told = mails(inbox)
        told_text = part(told, "plain")
        assert re.search(r"Pris en charge par marie à \d\d:\d\d \(depuis Slack\)", told_text), told_text
        page = await http.get(links_in(told_text)["Résolu"], headers={"Accept-Language": "fr"})
        done = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "Paul"},
                               headers={"Origin": base, "Accept-Language": "fr"})
        assert done.status_code == 200 and "Résolu par Paul" in unescape(done.text)
        # The first alert's links, used afterwards: nothing changes, and the page says why.
        page = await http.get(first_links["Je m'en occupe"], headers={"Accept-Language": "fr"})
        late = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "Léa"},
                               headers={"Origin": base, "Accept-Language": "fr"})
        assert late.status_code == 409 and "résolue par Paul" in unescape(late.text)
        page = await http.get(first_links["Résolu"], headers={"Accept-Language": "fr"})
        again = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "Léa"},
                                headers={"Origin": base, "Accept-Language": "fr"})
        assert again.status_code == 200 and "déjà résolue" in unescape(again.text)
        state = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (state["status"], state["resolved_by"]) == ("resolved", "Paul")
        await drain(service)
        assert len(mails(inbox)) == 3  # the alert, the claim, the resolution: nothing for the no-ops


async def test_a_link_from_before_the_case_was_reopened_says_so_and_changes_nothing(
        served: tuple[Service, str], tmp_path: Path) -> None:
    # Monday's request is resolved from its mail; on Tuesday the user writes again and the case
    # is reopened. Monday's mail still holds "Je m'en occupe" and "Résolu": they must not act on
    # Tuesday's request, and the page says why and what the case looks like now.
    service, base = served
    inbox = tmp_path / "inbox"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                                "conversation_id": "c-9", "message": "Ma commande ?"})
        case_id = r.json()["case"]["id"]
        await drain(service)
        [alert] = mails(inbox)
        monday = links_in(part(alert, "plain"))
        page = await http.get(monday["Résolu"], headers={"Accept-Language": "fr"})
        done = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "Marie"},
                               headers={"Origin": base})
        assert done.status_code == 200
        r = await http.post("/v1/events", json={"kind": "message", "role": "user", "site": "shop.example.com",
                                                "conversation_id": "c-9", "message": "Toujours rien reçu"})
        assert r.status_code == 202
        reopened = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (reopened["status"], reopened["round"]) == ("reopened", 2)

        for label, lang, says, state in (
                ("Je m'en occupe", "fr", "Ce lien vient d'une demande précédente de ce dossier ; le dossier a été "
                                         "rouvert depuis", "rouverte, personne ne l'a prise en charge"),
                ("Résolu", "en", "This link is from an earlier request on this case; the case was reopened since",
                 "reopened, nobody has taken it")):
            page = await http.get(monday[label], headers={"Accept-Language": lang})
            assert page.status_code == 409 and says in unescape(page.text) and state in unescape(page.text)
            assert 'name="t"' not in page.text  # no button to press
            # The token posted anyway (a form kept open since Monday): refused the same way.
            token = unescape(monday[label].split("?t=", 1)[1])
            late = await http.post(f"/v1/cases/{case_id}/act", data={"t": token, "by": "Léa"},
                                   headers={"Origin": base, "Accept-Language": lang})
            assert late.status_code == 409 and says in unescape(late.text)
        after = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (after["status"], after["claimed_by"]) == ("reopened", None)
        assert [(a["action"], a["actor"]) for a in after["actions"]] == [("resolve", "Marie")]
        await drain(service)
        assert len(mails(inbox)) == 2  # the alert and the resolution: nothing for Monday's links


async def test_an_alert_sent_after_the_case_was_reopened_carries_the_links_of_its_own_round(
        served: tuple[Service, str], tmp_path: Path) -> None:
    # Monday's alert is still waiting for the mail server (the worker has not sent it) when Marie,
    # who took the call, resolves the case, and the user writes again: the case is reopened. The
    # alert then goes out, late. It shows Monday's request: its links must not claim or resolve
    # Tuesday's, which nobody has read.
    service, base = served
    inbox = tmp_path / "inbox"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                                "conversation_id": "c-late", "message": "Ma commande ?"})
        case_id = r.json()["case"]["id"]
        assert (await http.post(f"/v1/cases/{case_id}/resolve", json={"by": "Marie"})).status_code == 200
        await http.post("/v1/events", json={"kind": "message", "role": "user", "site": "shop.example.com",
                                             "conversation_id": "c-late", "message": "Toujours rien reçu"})
        reopened = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (reopened["status"], reopened["round"]) == ("reopened", 2)
        await drain(service)
        alert = mails(inbox)[0]  # Monday's alert, late
        assert alert["X-Notifier-Kind"] == "support_request"
        for mail in (alert,):
            links = links_in(part(mail, "plain"))
            assert set(links) == {"Je m'en occupe", "Résolu"}  # the case waits for someone again
            for label, url in links.items():
                page = await http.get(url, headers={"Accept-Language": "en"})
                assert page.status_code == 409, (label, page.text)
                assert "This link is from an earlier request on this case" in unescape(page.text)
                late = await http.post(f"/v1/cases/{case_id}/act", data={"t": unescape(url.split("?t=", 1)[1]),
                                                                          "by": "Paul"}, headers={"Origin": base})
                assert late.status_code == 409
        after = (await http.get(f"/v1/cases/{case_id}")).json()
        assert (after["status"], after["claimed_by"]) == ("reopened", None)


async def test_an_agent_typing_her_name_in_another_case_is_still_the_one_who_has_it(
        served: tuple[Service, str], tmp_path: Path) -> None:
    # Élodie took the request from the API as "Élodie"; later she opens the mail's link and types
    # "élodie" (her phone's keyboard). She is the one who has it: the page says so, not that
    # someone else took it, and nothing new is recorded against another name.
    service, base = served
    inbox = tmp_path / "inbox"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                                "conversation_id": "c-elo", "message": "Ma commande ?"})
        case_id = r.json()["case"]["id"]
        await drain(service)
        [alert] = mails(inbox)
        claimed = await http.post(f"/v1/cases/{case_id}/claim", json={"by": "Élodie"})
        assert claimed.status_code == 200
        page = await http.get(links_in(part(alert, "plain"))["Je m'en occupe"], headers={"Accept-Language": "en"})
        again = await http.post(f"/v1/cases/{case_id}/act", data={**form(page.text), "by": "élodie"},
                                headers={"Origin": base, "Accept-Language": "en"})
        assert again.status_code == 200, unescape(again.text)
        assert "You had already taken this request" in unescape(again.text)
        # From the API too, in capitals: hers, not a conflict with herself.
        shout = await http.post(f"/v1/cases/{case_id}/claim", json={"by": "ÉLODIE"})
        assert shout.status_code == 200 and shout.json()["outcome"] == "unchanged"
        after = (await http.get(f"/v1/cases/{case_id}")).json()
        assert after["claimed_by"] == "Élodie"  # the spelling she first used stays what is shown
        assert [a["outcome"] for a in after["actions"]] == ["done", "unchanged", "unchanged"]
        # Someone else is still refused.
        other = await http.post(f"/v1/cases/{case_id}/claim", json={"by": "Paul"})
        assert other.status_code == 409 and other.json()["holder"] == "Élodie"
