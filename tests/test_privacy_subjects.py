"""Access and erasure requests (``/v1/privacy/subjects``, ``notifier privacy``) on both backends.

A real service delivers to a webhook sink and a fake Zendesk over loopback; the admin
exports a person's data, then erases it; what the digest counts survives, what the person
wrote or was does not, and a bystander's data is untouched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.cli import main
from notifier.core.digest import DigestStats
from notifier.core.events import Event
from notifier.service import Service
from tests.channels.fakes import FakeZendesk
from tests.conftest import ServiceFactory
from tests.sink import Sink

READER = "ntf_privacy-reader-0123456789"
ADMIN = "ntf_privacy-admin-0123456789"
SITE_ADMIN = "ntf_privacy-site-admin-0123456789"
EMAIL = "Jeanne.Martinez-Ortolan@Example.org"


@pytest.fixture
def zendesk() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        yield fake  # type: ignore[misc]


def config(sink: Sink, zendesk: FakeZendesk) -> str:
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
  retry: {{attempts: 3, backoff: 50ms, max_backoff: 1s}}
channels:
  hook: {{type: webhook, url: "{sink.url}", timeout: 2s}}
  zendesk:
    type: zendesk
    subdomain: acme
    email: {zendesk.email}
    api_token: {zendesk.api_token}
    base_url: "{zendesk.url}"
    privacy: {{redact: [phone]}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [hook, zendesk]
    response_target: 2h
  - name: words
    match: {{kinds: [message], keywords: [urgent], role: user}}
    to: [hook]
auth:
  tokens:
    - {{name: reader, secret: "{hash_token(READER)}", scopes: [read]}}
    - {{name: dpo, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
    - {{name: shop-admin, secret: "{hash_token(SITE_ADMIN)}", scopes: [admin], sites: [shop.example]}}
"""


def events() -> list[Event]:
    mine = {"name": "Jeanne Martinez", "email": EMAIL, "phone": "+33 6 47 81 29 53", "consent": True}
    raw: list[dict[str, Any]] = [
        {"id": "j1", "kind": "support_request", "site": "shop.example", "conversation_id": "conv-j",
         "message": "Rappelez-moi au 06 47 81 29 53 svp", "user": mine,
         "page": {"url": "https://shop.example/contact?from=jeanne.martinez-ortolan%40example.org"}},
        # Same conversation, no user details: hers all the same.
        {"id": "j2", "kind": "message", "site": "shop.example", "conversation_id": "conv-j", "role": "user",
         "message": "urgent, ma commande 48213 n'est pas arrivée"},
        # Another visitor mentions her in free text, in upper case: that event goes, not their conversation.
        {"id": "o1", "kind": "message", "site": "shop.example", "conversation_id": "conv-o", "role": "user",
         "message": "écrivez à JEANNE.MARTINEZ-ORTOLAN@EXAMPLE.ORG, c'est urgent"},
        {"id": "o2", "kind": "message", "site": "shop.example", "conversation_id": "conv-o", "role": "user",
         "message": "et moi je suis Paul, paul.bystander@example.net"},
        # A longer address that contains hers is somebody else.
        {"id": "x1", "kind": "support_request", "site": "shop.example", "conversation_id": "conv-x",
         "message": "Bonjour", "user": {"email": "ajeanne.martinez-ortolan@example.org", "consent": True}},
    ]
    return [Event.model_validate(e) for e in raw]


@pytest.fixture
async def service(make_service: ServiceFactory, db_url: str, sink: Sink, zendesk: FakeZendesk,
                  monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    svc = await make_service(config(sink, zendesk), db=db_url)
    await svc.accept(events())
    assert svc.worker is not None
    await svc.worker.drain()
    return svc


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_export_lists_her_events_deliveries_as_sent_and_tickets(client: httpx.AsyncClient,
                                                                    zendesk: FakeZendesk) -> None:
    r = await client.get("/v1/privacy/subjects", params={"email": "jeanne.martinez-ortolan@example.ORG"},
                         headers=bearer(ADMIN))
    assert r.status_code == 200, r.text
    data = r.json()
    assert [e["id"] for e in data["events"]] == ["j1", "j2", "o1"]
    assert [e["own"] for e in data["events"]] == [True, True, False]  # o1 is another visitor's words
    assert data["events"][0]["event"]["user"]["phone"] == "+33 6 47 81 29 53"
    sent = {(d["event_id"], d["channel"]): d for d in data["deliveries"]}
    assert set(sent) == {("j1", "hook"), ("j1", "zendesk"), ("j2", "hook"), ("o1", "hook")}
    assert all(d["status"] == "sent" for d in sent.values())
    # As the channel got it: Zendesk's policy hides the phone in the text it was sent.
    zd = sent[("j1", "zendesk")]["sent"]
    assert "Rappelez-moi au [téléphone] svp" in zd and "06 47 81 29 53" not in zd
    (ticket,) = [t for t in zendesk.tickets if t["requester"]["email"].lower() == EMAIL.lower()]
    assert data["helpdesk_tickets"] == [{
        "channel": "zendesk", "type": "zendesk", "ticket": str(ticket["id"]),
        "url": f"{zendesk.url}/agent/tickets/{ticket['id']}",
        "api": f"{zendesk.url}/api/v2/tickets/{ticket['id']}.json"}]
    assert len(data["cases"]) == 1 and data["cases"][0]["conversation_id"] == "conv-j"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the same on both: the store is not involved
async def test_only_an_unrestricted_admin_token_may_ask(client: httpx.AsyncClient) -> None:
    for method in ("GET", "DELETE"):
        r = await client.request(method, "/v1/privacy/subjects", params={"email": EMAIL}, headers=bearer(READER))
        assert r.status_code == 403, r.text
        r = await client.request(method, "/v1/privacy/subjects", params={"email": EMAIL},
                                 headers=bearer(SITE_ADMIN))
        assert r.status_code == 403 and "sites" in r.json()["error"]
        r = await client.request(method, "/v1/privacy/subjects", params={"email": EMAIL})
        assert r.status_code == 401
    r = await client.get("/v1/privacy/subjects", params={"email": "not-an-address"}, headers=bearer(ADMIN))
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "email"
    assert r.json()["details"][0]["message"] == "not an email address: 'not-an-address'"  # not a regex
    for both_or_neither in ({"email": EMAIL, "conversation": "c"}, {}):
        r = await client.get("/v1/privacy/subjects", params=both_or_neither, headers=bearer(ADMIN))
        assert r.status_code == 404 and "?email=" in r.json()["error"]


async def digest_of_today(service: Service) -> DigestStats:
    now = datetime.now(UTC)
    return await service.store.digest_stats(now - timedelta(days=1), now + timedelta(hours=1), site=None,
                                            tz="Europe/Paris", top_n=10)


async def test_erase_forgets_her_keeps_counts_and_bystanders(client: httpx.AsyncClient, service: Service) -> None:
    before = await digest_of_today(service)
    assert any("48213" in q.example for q in before.questions)
    # The agent's note on her case names her: it goes too.
    case_id = (await client.get("/v1/privacy/subjects", params={"email": EMAIL},
                                headers=bearer(ADMIN))).json()["cases"][0]["id"]
    r = await client.post(f"/v1/cases/{case_id}/resolve", headers=bearer(ADMIN),
                          json={"note": "rappelée au 06 47 81 29 53, jeanne ok"})
    assert r.status_code == 200, r.text

    r = await client.delete("/v1/privacy/subjects", params={"email": EMAIL}, headers=bearer(ADMIN))
    assert r.status_code == 200, r.text
    report = r.json()
    # Her two events, the message naming her, and the follow-up telling Zendesk of the resolution
    # (a copy of her request, and the note).
    assert report["counts"]["events_anonymised"] == 4 and report["counts"]["cases"] == 1
    assert report["counts"]["deliveries"] == 5 and report["counts"]["notes"] >= 1
    assert report["erased_by"] == "dpo" and report["subject"]["digest"].startswith("hmac-sha256:")
    assert report["helpdesk_tickets"][0]["type"] == "zendesk"
    assert EMAIL.lower() not in r.text.lower()

    again = (await client.get("/v1/privacy/subjects", params={"email": EMAIL}, headers=bearer(ADMIN))).json()
    assert again["events"] == [] and again["cases"] == [] and again["deliveries"] == []

    # The digest still counts her conversation and messages, but no longer quotes her.
    after = await digest_of_today(service)
    assert after.totals == before.totals and after.hourly == before.hourly
    assert not any("48213" in q.example or "JEANNE" in q.example.upper() for q in after.questions)
    assert [s.excerpt for s in after.support if "Rappelez" in (s.excerpt or "")] == []
    # What remains of her events says nothing about her.
    for event_id in ("j1", "j2", "o1"):
        found = await service.store.get_event(event_id)
        assert found is not None
        stored = found[0].model_dump_json()
        assert "martinez" not in stored.lower() and "47 81" not in stored and found[0].message is None
    tomb = (await service.store.get_event("j1"))
    assert tomb is not None and tomb[0].kind.value == "support_request" and tomb[0].site == "shop.example"
    assert tomb[0].conversation_id and tomb[0].conversation_id.startswith("erased-")
    case = (await client.get(f"/v1/cases/{case_id}", headers=bearer(ADMIN))).json()
    assert case["note"] is None and all(a["note"] is None for a in case["actions"])
    assert case["conversation_id"] is None
    deliveries = await service.store.list_deliveries(event_id="j1")
    assert {d.status for d in deliveries} == {"sent"} and all(d.ref is None for d in deliveries)

    # The bystander's own message and the other Jeanne are untouched.
    o2 = await service.store.get_event("o2")
    assert o2 is not None and o2[0].message == "et moi je suis Paul, paul.bystander@example.net"
    x1 = await service.store.get_event("x1")
    assert x1 is not None and x1[0].user is not None
    assert x1[0].user.email == "ajeanne.martinez-ortolan@example.org"

    # The audit keeps who and when, and the hash; the same person gives the same hash.
    audit = (await client.delete("/v1/privacy/subjects", params={"email": EMAIL.upper()},
                                 headers=bearer(ADMIN))).json()
    assert audit["subject"]["digest"] == report["subject"]["digest"]
    assert audit["counts"]["events_anonymised"] == 0


async def test_erase_a_conversation(client: httpx.AsyncClient, service: Service) -> None:
    r = await client.delete("/v1/privacy/subjects", params={"conversation": "conv-o"}, headers=bearer(ADMIN))
    assert r.status_code == 200
    assert r.json()["counts"]["events_anonymised"] == 2
    for event_id in ("o1", "o2"):
        found = await service.store.get_event(event_id)
        assert found is not None and found[0].message is None
    j1 = await service.store.get_event("j1")
    assert j1 is not None and j1[0].message == "Rappelez-moi au 06 47 81 29 53 svp"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the layer below is tested on both
async def test_cli_export_erase_and_audit(service: Service, db_url: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    # In a thread, as the command runs beside the serving process (its own event loop and store).
    cfg, db = str(tmp_path / "channels.yaml"), db_url

    async def cli(*args: str) -> int:
        return await asyncio.to_thread(main, ["privacy", *args, "--config", cfg, "--db", db])

    assert await cli("export", "--email", f"  {EMAIL} ") == 0
    exported = json.loads(capsys.readouterr().out)
    assert len(exported["events"]) == 3
    # Without a terminal to confirm on, erasing needs --yes.
    assert await cli("erase", "--email", EMAIL) == 1
    assert "--yes" in capsys.readouterr().err
    assert await cli("erase", "--email", EMAIL, "--yes", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["via"] == "cli" and report["counts"]["events_anonymised"] == 3
    assert await cli("audit", "--email", EMAIL.lower()) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["subject_digest"] == report["subject"]["digest"] and record["via"] == "cli"
    assert record["counts"]["deliveries"] == 4 and "martinez" not in json.dumps(record).lower()


async def test_the_erasure_searches_again_only_what_arrived_since(service: Service) -> None:
    # An erasure searches every event without the write lock, then, in its transaction,
    # reads those again and searches only what was received since (a new message of hers).
    from notifier.core.subject import Subject
    from notifier.store.privacy import Found, SubjectStore

    subjects = SubjectStore(service.store.connector())
    her = Subject.email(EMAIL)
    full = await subjects.find(her)
    ids = [r["id"] for r in full.events]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [r["id"] for r in (await subjects.find(her, known=full, since=later)).events] == ids
    assert (await subjects.find(her, known=Found(), since=later)).events == []
    since_before = await subjects.find(her, known=Found(), since=datetime.now(UTC) - timedelta(hours=1))
    assert [r["id"] for r in since_before.events] == ids


async def test_a_configured_audit_salt_stays_out_of_the_database(make_service: ServiceFactory, sink: Sink,
                                                                 zendesk: FakeZendesk, tmp_path: Path) -> None:
    import hashlib

    from notifier.core.subject import Subject
    from notifier.privacy import erase_subject
    from notifier.store.privacy import SubjectStore

    text = config(sink, zendesk).replace("defaults:\n", "defaults:\n  privacy: {audit_salt: s3cret-salt-of-the-dpo}\n")
    svc = await make_service(text, db=f"sqlite:///{tmp_path / 'salted.db'}")
    await svc.accept(events())
    report = await erase_subject(svc.config, svc.store, Subject.email(EMAIL), erased_by="dpo", via="api",
                                 now=datetime.now(UTC))
    key = hashlib.sha256(b"s3cret-salt-of-the-dpo").digest()
    assert report["subject"]["digest"] == Subject.email(EMAIL).digest(key)
    assert await svc.store.connector().fetch_all("SELECT * FROM privacy_salt") == []
    (record,) = await SubjectStore(svc.store.connector()).erasures(digest=report["subject"]["digest"])
    assert record["erased_by"] == "dpo"


@pytest.mark.parametrize(("typed", "asked"), [
    ("Élodie.Durand@exemple.fr", "élodie.durand@exemple.fr"),   # an accented capital: not ASCII, so no LIKE folds it
    ("Élodie.Durand@exemple.fr", "Élodie.Durand@exemple.fr"),   # even spelled as she typed it
    ("jürgen.straße@exemple.de", "Jürgen.Straße@exemple.de"),   # ß casefolds to ss, which the stored text lacks
])
async def test_an_address_with_letters_beyond_ascii_is_found_and_erased(
        client: httpx.AsyncClient, service: Service, typed: str, asked: str) -> None:
    r = await client.post("/v1/events", headers=bearer(ADMIN), json={
        "id": "u1", "kind": "support_request", "site": "shop.example", "conversation_id": "conv-u",
        "message": "Rappelez-moi svp", "user": {"name": "Élodie", "email": typed, "consent": True}})
    assert r.status_code == 202, r.text
    found = (await client.get("/v1/privacy/subjects", params={"email": asked}, headers=bearer(ADMIN))).json()
    assert [e["id"] for e in found["events"]] == ["u1"]
    r = await client.delete("/v1/privacy/subjects", params={"email": asked}, headers=bearer(ADMIN))
    assert r.json()["counts"]["events_anonymised"] == 1
    stored = await service.store.get_event("u1")
    assert stored is not None and typed.casefold() not in stored[0].model_dump_json().casefold()
    # Jeanne, a bystander at another address, keeps her data.
    kept = (await client.get("/v1/privacy/subjects", params={"email": EMAIL}, headers=bearer(ADMIN))).json()
    assert [e["id"] for e in kept["events"]] == ["j1", "j2", "o1"]


async def test_a_conversation_id_two_sites_share_is_erased_on_the_named_site_only(
        client: httpx.AsyncClient, service: Service, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Each site's chatbot numbers its own conversations: "c-7" of the blog is another person's.
    for site, who in (("shop.example", "Ana"), ("blog.example", "Bruno")):
        r = await client.post("/v1/events", headers=bearer(ADMIN), json={
            "id": f"{site}-c7", "kind": "support_request", "site": site, "conversation_id": "c-7",
            "message": f"Je suis {who}", "user": {"name": who, "consent": True}})
        assert r.status_code == 202, r.text
    for method in ("GET", "DELETE"):  # without a site the request is ambiguous: refused, nothing erased
        r = await client.request(method, "/v1/privacy/subjects", params={"conversation": "c-7"}, headers=bearer(ADMIN))
        assert r.status_code == 422, r.text
        assert r.json()["details"][0]["path"] == "site" and "blog.example" in r.json()["error"]
    # The command line asks the same.
    args = ["privacy", "erase", "--conversation", "c-7", "--yes", "--config", str(tmp_path / "channels.yaml"),
            "--db", db_url]
    assert await asyncio.to_thread(main, args) == 2 and "--site" in capsys.readouterr().err
    r = await client.delete("/v1/privacy/subjects", params={"conversation": "c-7", "site": "shop.example"},
                            headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json()["counts"]["events_anonymised"] == 1
    shop, blog = (await service.store.get_event("shop.example-c7")), (await service.store.get_event("blog.example-c7"))
    assert shop is not None and shop[0].message is None
    assert blog is not None and blog[0].message == "Je suis Bruno" and blog[0].conversation_id == "c-7"
    # A conversation on one site alone needs no site; a site it is not on finds nothing.
    only = await client.get("/v1/privacy/subjects", params={"conversation": "c-7"}, headers=bearer(ADMIN))
    assert [e["id"] for e in only.json()["events"]] == ["blog.example-c7"]
    none = await client.get("/v1/privacy/subjects", params={"conversation": "conv-j", "site": "blog.example"},
                            headers=bearer(ADMIN))
    assert none.json()["events"] == []


async def test_a_nul_in_what_names_the_subject_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    # PostgreSQL cannot take a NUL in a text parameter: it was a 500 with a traceback there.
    for params, field in (({"email": "jeanne\x00@example.org"}, "email"),
                          ({"conversation": "conv\x00j"}, "conversation"),
                          ({"conversation": "conv-j", "site": "shop\x00.example"}, "site")):
        for method in ("GET", "DELETE"):
            r = await client.request(method, "/v1/privacy/subjects", params=params, headers=bearer(ADMIN))
            assert r.status_code == 422, (method, params, r.text)
            assert r.json()["details"][0]["path"] == field


async def test_a_conversation_sent_without_a_site_is_named_by_an_empty_site(client: httpx.AsyncClient,
                                                                          service: Service) -> None:
    # A chatbot that sends no site stores its events under site "": when another site has a
    # conversation of the same id, the site-less one must still be reachable, or it can
    # never be exported nor erased.
    for site, who in (("", "Ana"), ("shop.example", "Bruno")):
        r = await client.post("/v1/events", headers=bearer(ADMIN), json={
            "id": f"c9-{site or 'none'}", "kind": "support_request", **({"site": site} if site else {}),
            "conversation_id": "c-9", "message": f"Je suis {who}", "user": {"name": who, "consent": True}})
        assert r.status_code == 202, r.text
    ambiguous = await client.get("/v1/privacy/subjects", params={"conversation": "c-9"}, headers=bearer(ADMIN))
    assert ambiguous.status_code == 422 and "?site=" in ambiguous.json()["error"]
    assert "exists on 2 sites ('' (sent without a site: ?site=), shop.example)" in ambiguous.json()["error"]
    found = await client.get("/v1/privacy/subjects", params={"conversation": "c-9", "site": ""}, headers=bearer(ADMIN))
    assert found.status_code == 200, found.text
    assert [e["id"] for e in found.json()["events"]] == ["c9-none"]
    r = await client.delete("/v1/privacy/subjects", params={"conversation": "c-9", "site": ""}, headers=bearer(ADMIN))
    assert r.status_code == 200 and r.json()["counts"]["events_anonymised"] == 1, r.text
    ana, bruno = await service.store.get_event("c9-none"), await service.store.get_event("c9-shop.example")
    assert ana is not None and ana[0].message is None
    assert bruno is not None and bruno[0].message == "Je suis Bruno"
