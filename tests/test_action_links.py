"""Signed action links: opening one changes nothing, its form acts once, a bad one is told so."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer

from notifier.action_links import PURPOSE, ActionLinks, LinkRefused, links_for, links_off_reason
from notifier.api import create_app
from notifier.auth import hash_token
from notifier.config import parse_config
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
SECRET = "link-secret-" + "x" * 32
BASE = "https://notifier.example.com"
ADMIN = "ntf_links-admin-0123456789"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def links() -> ActionLinks:
    return ActionLinks(SECRET, BASE, timedelta(days=7))


# ------------------------------------------------------------------ the token


def test_a_token_allows_its_action_on_its_case_until_it_expires() -> None:
    token = links().token("case-1", "claim", NOW, via="email")
    grant = links().verify(token, NOW + timedelta(days=6))
    assert (grant.case_id, grant.action, grant.via, grant.recipient) == ("case-1", "claim", "email", None)
    with pytest.raises(LinkRefused) as refused:
        links().verify(token, NOW + timedelta(days=7))
    assert refused.value.reason == "expired" and refused.value.expired_at == NOW + timedelta(days=7)


@pytest.mark.parametrize("forge", ["altered", "other secret", "other purpose", "sha1", "reopen", "garbage"])
def test_a_forged_token_is_invalid(forge: str) -> None:
    good = links().token("case-1", "claim", NOW)
    sha256 = {"digest_method": hashlib.sha256}
    payload = {"c": "case-1", "a": "claim", "e": int((NOW + timedelta(days=1)).timestamp()), "v": "email"}
    token = {
        # One character of the payload changed (the case or the action, say): the signature no longer fits.
        "altered": good[:3] + ("A" if good[3] != "A" else "B") + good[4:],
        "other secret": ActionLinks("y" * 40, BASE, timedelta(days=7)).token("case-1", "claim", NOW),
        "other purpose": URLSafeSerializer(SECRET, salt="notifier.unsubscribe", signer_kwargs=sha256).dumps(payload),
        "sha1": URLSafeSerializer(SECRET, salt=PURPOSE).dumps(payload),
        # Genuinely signed, but an action links never carry.
        "reopen": URLSafeSerializer(SECRET, salt=PURPOSE, signer_kwargs=sha256).dumps({**payload, "a": "reopen"}),
        "garbage": "not-a-token",
    }[forge]
    with pytest.raises(LinkRefused) as refused:
        links().verify(str(token), NOW)
    assert refused.value.reason == "invalid"


def test_no_links_without_a_public_address_or_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_LINK_SECRET", raising=False)
    bare = parse_config("version: 1\n")
    assert links_for(bare) is None
    reason = links_off_reason(bare)
    assert reason is not None and "defaults.public_url" in reason and "NOTIFIER_LINK_SECRET" in reason
    monkeypatch.setenv("NOTIFIER_LINK_SECRET", SECRET)
    # The address may come from event_url when it is the API's own event page.
    derived = parse_config("version: 1\ndefaults: {event_url: 'https://n.example.com/api/v1/events/{id}'}\n")
    made = links_for(derived)
    assert made is not None and made.url("c1", "claim", NOW).startswith("https://n.example.com/api/v1/cases/c1/act?t=")
    monkeypatch.setenv("NOTIFIER_LINK_SECRET", "short")
    assert "shorter than 32" in (links_off_reason(derived) or "")


# ------------------------------------------------------------------ the pages


def config(url: str, extra: str = "") -> str:
    return webhook_config(url).replace("defaults:\n", f"defaults:\n  public_url: {BASE}\n", 1) + (
        f"action_links: {{secret: {SECRET}, expires: 2d}}\n" + extra)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def service(make_service: ServiceFactory, sink: Sink, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    # API tokens exist: the link pages must work without one (the link is the credential).
    return await make_service(config(sink.url, f"""auth:
  tokens:
    - {{name: admin, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""), clock=clock)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


async def open_case(client: httpx.AsyncClient, conversation: str = "c1") -> str:
    r = await client.post("/v1/events", json={"kind": "support_request", "site": "shop.example.com",
                                              "conversation_id": conversation, "message": "Un humain svp"})
    return str(r.json()["case"]["id"])


async def case(client: httpx.AsyncClient, case_id: str) -> dict[str, Any]:
    return dict((await client.get(f"/v1/cases/{case_id}")).json())


def link_of(service: Service, case_id: str, action: Any = "claim", **kw: Any) -> str:
    made = links_for(service.config)
    assert made is not None
    return made.url(case_id, action, service.clock(), via="email", **kw).removeprefix(BASE)


def shown(response: httpx.Response) -> str:
    """The page's text as a browser shows it (entities decoded)."""
    return unescape(response.text)


def form_token(html: str) -> str:
    found = re.search(r'name="t" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_opening_a_link_changes_nothing_and_its_button_claims(service: Service,
                                                                    client: httpx.AsyncClient) -> None:
    case_id = await open_case(client)
    anonymous = {"Authorization": ""}
    page = await client.get(link_of(service, case_id), headers={**anonymous, "Accept-Language": "fr-FR,fr;q=0.9"})
    assert page.status_code == 200 and "Prendre en charge cette demande ?" in shown(page)
    assert "Je m'en occupe" in shown(page) and "shop.example.com" in page.text
    # The page loads nothing from elsewhere and cannot be framed by another site.
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    assert not re.search(r'(src|href)="https?:', page.text)
    # A mail scanner opening it twice did nothing.
    await client.get(link_of(service, case_id), headers=anonymous)
    before = await case(client, case_id)
    assert before["status"] == "open" and before["actions"] == []

    r = await client.post(f"/v1/cases/{case_id}/act", data={"t": form_token(page.text), "by": "Marie"},
                          headers={**anonymous, "Origin": BASE, "Accept-Language": "fr"})
    assert r.status_code == 200 and "Pris en charge par Marie" in shown(r)
    after = await case(client, case_id)
    assert after["status"] == "claimed" and after["claimed_by"] == "Marie"
    assert [(a["action"], a["actor"], a["via"], a["outcome"]) for a in after["actions"]] == [
        ("claim", "Marie", "email", "done")]
    # The same form again: idempotent; someone else's claim: refused, naming who has it.
    again = await client.post(f"/v1/cases/{case_id}/act", data={"t": form_token(page.text), "by": "Marie"},
                              headers={**anonymous, "Accept-Language": "en"})
    assert again.status_code == 200 and "already taken this request" in shown(again)
    paul = await client.post(f"/v1/cases/{case_id}/act", data={"t": form_token(page.text), "by": "Paul"},
                             headers={**anonymous, "Accept-Language": "en"})
    assert paul.status_code == 409 and "Marie has already taken this request" in shown(paul)
    assert (await case(client, case_id))["claimed_by"] == "Marie"


async def test_resolving_with_a_note_in_english(service: Service, client: httpx.AsyncClient) -> None:
    case_id = await open_case(client)
    page = await client.get(link_of(service, case_id, "resolve"), headers={"Accept-Language": "en-GB"})
    assert "Mark this request as resolved?" in shown(page) and 'name="note"' in page.text
    r = await client.post(f"/v1/cases/{case_id}/act", headers={"Accept-Language": "en"},
                          data={"t": form_token(page.text), "by": "Paul", "note": "called back"})
    assert r.status_code == 200 and "Resolved by Paul" in shown(r)
    resolved = await case(client, case_id)
    assert (resolved["status"], resolved["resolved_by"], resolved["note"]) == ("resolved", "Paul", "called back")


async def test_a_link_for_one_person_acts_in_their_name(service: Service, client: httpx.AsyncClient) -> None:
    case_id = await open_case(client)
    page = await client.get(link_of(service, case_id, recipient="marie@example.com"))
    assert "marie@example.com" in shown(page) and 'name="by"' not in page.text
    # A name typed into the form does not replace the one the link was signed for.
    await client.post(f"/v1/cases/{case_id}/act", data={"t": form_token(page.text), "by": "Mallory"})
    assert (await case(client, case_id))["claimed_by"] == "marie@example.com"


async def test_expired_altered_and_misplaced_links_change_nothing(service: Service, client: httpx.AsyncClient,
                                                                  clock: Clock) -> None:
    case_id, other_id = await open_case(client), await open_case(client, "c2")
    link = link_of(service, case_id)
    token = link.split("t=", 1)[1]
    clock.now += timedelta(days=2)
    expired = await client.get(link, headers={"Accept-Language": "en"})
    assert expired.status_code == 410 and "This link expired on 2026-03-06 09:00" in shown(expired)
    posted = await client.post(f"/v1/cases/{case_id}/act", data={"t": token, "by": "Marie"})
    assert posted.status_code == 410
    clock.now = NOW
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = await client.get(f"/v1/cases/{case_id}/act", params={"t": altered}, headers={"Accept-Language": "fr"})
    assert r.status_code == 400 and "Ce lien n'est pas valide" in shown(r)
    assert (await client.post(f"/v1/cases/{case_id}/act", data={"t": altered, "by": "M"})).status_code == 400
    # A genuine token of one case under another case's address.
    assert (await client.get(f"/v1/cases/{other_id}/act", params={"t": token})).status_code == 400
    assert (await client.post(f"/v1/cases/{other_id}/act", data={"t": token, "by": "M"})).status_code == 400
    assert (await client.get(f"/v1/cases/{other_id}/act")).status_code == 400  # no token at all
    for cid in (case_id, other_id):
        state = await case(client, cid)
        assert state["status"] == "open" and state["actions"] == []


async def test_the_form_is_refused_from_another_site_and_without_a_name(service: Service,
                                                                       client: httpx.AsyncClient) -> None:
    case_id = await open_case(client)
    token = link_of(service, case_id).split("t=", 1)[1]
    url = f"/v1/cases/{case_id}/act"
    # A page elsewhere that got hold of nothing but the address posts to it: refused before the token is read.
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        r = await client.post(url, data={"t": token, "by": "Marie"}, headers=headers)
        assert r.status_code == 403
    assert (await client.post(url, json={"t": token, "by": "Marie"})).status_code == 400  # not a form
    r = await client.post(url, data={"t": token, "by": "  "}, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and "Give your name" in shown(r) and 'name="t"' in r.text
    r = await client.post(url, data={"t": token, "by": "Ma\x00rie"})
    assert r.status_code == 422
    assert (await case(client, case_id))["actions"] == []


async def test_what_people_type_is_escaped_on_the_page(service: Service, client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/events", json={"kind": "support_request", "site": "<b>shop</b>",
                                              "conversation_id": "<script>alert(1)</script>"})
    case_id = r.json()["case"]["id"]
    page = await client.get(link_of(service, case_id))
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "&lt;b&gt;shop&lt;/b&gt;" in page.text
    done = await client.post(f"/v1/cases/{case_id}/act",
                             data={"t": form_token(page.text), "by": '<img src=x onerror="alert(1)">'})
    assert done.status_code == 200 and "<img" not in done.text and "&lt;img src=x" in done.text


async def test_without_links_configured_the_page_says_so(make_service: ServiceFactory, sink: Sink,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    monkeypatch.delenv("NOTIFIER_LINK_SECRET", raising=False)
    service = await make_service(webhook_config(sink.url))
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        token = links().token("c1", "claim", datetime.now(UTC))
        r = await c.get("/v1/cases/c1/act", params={"t": token}, headers={"Accept-Language": "en"})
        assert r.status_code == 404 and "not enabled" in shown(r)


def test_check_and_explain_say_when_alerts_carry_no_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from notifier.cli import main

    monkeypatch.delenv("NOTIFIER_LINK_SECRET", raising=False)
    path = tmp_path / "channels.yaml"
    path.write_text("version: 1\nchannels:\n  mail: {type: email, to: [s@example.com], smtp: 'smtp://127.0.0.1:25'}\n"
                    "routes:\n  - {name: handoff, match: {kinds: [support_request]}, to: [mail]}\n")
    event = tmp_path / "event.json"
    event.write_text('{"kind": "support_request", "site": "shop", "conversation_id": "c1"}')
    assert main(["check", str(path)]) == 0
    assert "carry no \"I'm on it\" / \"Resolved\" links: set defaults.public_url" in capsys.readouterr().err
    assert main(["explain", "--config", str(path), str(event)]) == 0
    assert "action links off: set defaults.public_url" in capsys.readouterr().out
    # Configured, the rendered email shows them (signed for the preview's case).
    monkeypatch.setenv("NOTIFIER_LINK_SECRET", SECRET)
    path.write_text(path.read_text().replace("version: 1\n", f"version: 1\ndefaults: {{public_url: {BASE}}}\n"))
    assert main(["check", str(path)]) == 0
    assert "links" not in capsys.readouterr().err
    assert main(["explain", "--render", "--config", str(path), str(event)]) == 0
    assert f"Je m'en occupe : {BASE}/v1/cases/preview/act?t=" in capsys.readouterr().out


async def test_a_link_signed_before_the_secret_changed_says_how_to_act_now(service: Service,
                                                                          client: httpx.AsyncClient) -> None:
    # The operator rotated the link secret: every link already mailed is dead. The agent who
    # opens one is told how to act on the case anyway, not only that the link is "not valid".
    case_id = await open_case(client)
    before = ActionLinks("an-older-secret-".ljust(40, "x"), BASE, timedelta(days=1))
    link = before.url(case_id, "claim", NOW, via="email").removeprefix(BASE)
    for lang, says in (("fr", "Utilisez le lien d'une alerte plus récente, ou notifier claim"),
                       ("en", "Use the link of a more recent alert, or notifier claim")):
        r = await client.get(link, headers={"Accept-Language": lang})
        assert r.status_code == 400 and says in shown(r)
    assert (await case(client, case_id))["status"] == "open"


async def test_links_name_their_round_and_older_links_without_one_still_act(service: Service,
                                                                            client: httpx.AsyncClient) -> None:
    case_id = await open_case(client)
    await client.post(f"/v1/cases/{case_id}/resolve", json={"by": "Marie"})
    await client.post(f"/v1/cases/{case_id}/reopen", json={"by": "lead"})
    assert (await case(client, case_id))["round"] == 2
    first = await client.get(link_of(service, case_id, case_round=1), headers={"Accept-Language": "en"})
    assert first.status_code == 409 and "from an earlier request on this case" in shown(first)
    # A link of the round the case is in acts.
    current = await client.get(link_of(service, case_id, case_round=2))
    assert current.status_code == 200 and 'name="t"' in current.text
    # Links signed before they named a round (still in mailboxes until they expire) act on
    # the case as it is, as they did.
    older = await client.get(link_of(service, case_id))
    r = await client.post(f"/v1/cases/{case_id}/act", data={"t": form_token(older.text), "by": "Paul"})
    assert r.status_code == 200 and (await case(client, case_id))["claimed_by"] == "Paul"
