"""A person is found and erased whatever Unicode form their address was typed or asked in.

A visitor's keyboard can give fullwidth letters (a Japanese or Chinese input method), a
ligature (``ﬁ`` pasted from a PDF), ``ß`` where the admin types ``ss``: the API stores
what it was sent, and an erasure that misses one of these records fails the person.
Through the API and the command line, on SQLite and PostgreSQL; near misses (a longer
address, the same letters without their accent) are other people and keep their data.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.api import create_app
from notifier.auth import hash_token
from notifier.cli import main
from notifier.core.fold import fold, variants_of
from notifier.service import Service
from tests.conftest import ServiceFactory, webhook_config
from tests.pgserver import PgServer
from tests.sink import Sink

ADMIN = "ntf_unicode-admin-0123456789"


@pytest.fixture
async def service(make_service: ServiceFactory, db_url: str, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    # Support requests open cases (a response target), so an agent can write a note on one.
    text = webhook_config(sink.url, routes="""
      - name: handoff
        match: {kinds: [support_request]}
        to: [hook]
        response_target: 2h
    """) + f"""auth:
  tokens:
    - {{name: dpo, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""
    return await make_service(text, db=db_url)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service, manage=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


async def post(client: httpx.AsyncClient, event_id: str, conversation: str, **fields: Any) -> None:
    r = await client.post("/v1/events", json={"id": event_id, "site": "shop.example",
                                               "conversation_id": conversation, **fields})
    assert r.status_code == 202, r.text


async def request_from(client: httpx.AsyncClient, event_id: str, conversation: str, email: str) -> None:
    """A visitor's support request, their address as their keyboard typed it, then a message of
    theirs without it (theirs all the same: it is their conversation)."""
    await post(client, event_id, conversation, kind="support_request", message="Rappelez-moi svp",
               user={"name": "Visiteur", "email": email, "consent": True})
    await post(client, f"{event_id}-next", conversation, kind="message", role="user",
               message="ma commande 48213 n'est toujours pas arrivée")


async def ids_found(client: httpx.AsyncClient, email: str) -> list[str]:
    r = await client.get("/v1/privacy/subjects", params={"email": email})
    assert r.status_code == 200, r.text
    return sorted(e["id"] for e in r.json()["events"])


async def body(service: Service, event_id: str) -> str:
    stored = await service.store.get_event(event_id)
    assert stored is not None
    return stored[0].model_dump_json()


@pytest.mark.parametrize(("typed", "asked", "near_miss"), [
    # Fullwidth forms, as an East Asian input method types them; the API accepts them.
    ("ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "jean@example.com", "ｊｅａｎｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ("ＪＥＡＮ.Ｍａｒｔｉｎ@example.com", "Jean.Martin@Example.com", "jean.martine@example.com"),
    # A ligature pasted from a document.
    ("ﬁona@example.com", "fiona@example.com", "ﬁonab@example.com"),
    # Accented capitals in fullwidth domain: folded, accents kept.
    ("ÉLODIE＠ＥＸＥＭＰＬＥ．ＦＲ", "élodie@exemple.fr", "ELODIE@EXEMPLE.FR"),
], ids=["fullwidth", "fullwidth-part", "ligature", "accented-capitals"])
async def test_an_address_typed_in_another_unicode_form_is_found_and_erased(
        client: httpx.AsyncClient, service: Service, typed: str, asked: str, near_miss: str) -> None:
    await request_from(client, "her", "conv-her", typed)
    await request_from(client, "other", "conv-other", near_miss)
    assert await ids_found(client, asked) == ["her", "her-next"]

    r = await client.delete("/v1/privacy/subjects", params={"email": asked})
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["events_anonymised"] == 2
    gone = await body(service, "her") + await body(service, "her-next")
    assert typed not in gone and fold(asked) not in fold(gone) and "48213" not in gone
    # The other visitor, whose address only looks like hers, keeps everything.
    kept = await body(service, "other")
    assert near_miss in kept
    assert await ids_found(client, fold(near_miss)) == ["other", "other-next"]


@pytest.mark.parametrize("asked", ["jurgen.strasse@example.de", "Jurgen.Straße@example.de"])
async def test_sharp_s_and_ss_are_one_address_whichever_is_asked(client: httpx.AsyncClient, service: Service,
                                                               asked: str) -> None:
    # She typed ß once and ss the next time; the admin types either: both records are hers.
    await request_from(client, "with-sharp-s", "conv-1", "jurgen.straße@example.de")
    await request_from(client, "with-ss", "conv-2", "JURGEN.STRASSE@example.de")
    await request_from(client, "other", "conv-3", "jurgen.strasser@example.de")
    assert await ids_found(client, asked) == ["with-sharp-s", "with-sharp-s-next", "with-ss", "with-ss-next"]
    r = await client.delete("/v1/privacy/subjects", params={"email": asked})
    assert r.json()["counts"]["events_anonymised"] == 4
    assert "straße" not in await body(service, "with-sharp-s")
    assert "jurgen.strasser@example.de" in await body(service, "other")


async def test_a_mention_in_another_form_in_free_text_is_erased(client: httpx.AsyncClient, service: Service) -> None:
    # Another visitor gives her address in their message, in fullwidth, URL-encoded in a page link too.
    await post(client, "mention", "conv-m", kind="message", role="user",
               message="écrivez plutôt à ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ, c'est urgent")
    await post(client, "link", "conv-m", kind="message", role="user", message="voilà",
               page={"url": "https://shop.example/contact?from=%EF%BD%8Aean%40example.com"})
    await post(client, "bystander", "conv-m", kind="message", role="user", message="moi c'est Paul")
    assert await ids_found(client, "jean@example.com") == ["link", "mention"]
    r = await client.delete("/v1/privacy/subjects", params={"email": "jean@example.com"})
    assert r.json()["counts"]["events_anonymised"] == 2
    assert "Paul" in await body(service, "bystander")


async def test_an_agent_note_naming_her_in_fullwidth_on_another_case_is_removed(client: httpx.AsyncClient) -> None:
    await request_from(client, "paul", "conv-p", "paul@example.net")
    (case,) = (await client.get("/v1/privacy/subjects", params={"email": "paul@example.net"})).json()["cases"]
    r = await client.post(f"/v1/cases/{case['id']}/resolve",
                          json={"note": "rappelé ; il écrit aussi pour ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ"})
    assert r.status_code == 200, r.text
    r = await client.delete("/v1/privacy/subjects", params={"email": "jean@example.com"})
    # The case's note and its resolving action's.
    assert r.json()["counts"]["notes"] == 2
    # Paul's case stays his, without the note that named her.
    after = (await client.get(f"/v1/cases/{case['id']}")).json()
    assert after["note"] is None and after["status"] == "resolved" and after["conversation_id"] == "conv-p"
    assert [a["note"] for a in after["actions"] if a["action"] == "resolve"] == [None]


async def test_cli_erases_a_fullwidth_address_and_audit_finds_it_by_any_form(
        service: Service, client: httpx.AsyncClient, db_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    await request_from(client, "her", "conv-her", "ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ")
    cfg = str(tmp_path / "channels.yaml")

    async def cli(*args: str) -> int:
        return await asyncio.to_thread(main, ["privacy", *args, "--config", cfg, "--db", db_url])

    assert await cli("erase", "--email", "Jean@Example.com", "--yes", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["events_anonymised"] == 2
    assert "ｊｅａｎ" not in await body(service, "her")
    # Whichever form the admin types to look for the proof, it is the same person's record.
    for form in ("jean@example.com", "ＪＥＡＮ@ｅｘａｍｐｌｅ.ｃｏｍ"):
        assert await cli("audit", "--email", form) == 0
        (record,) = json.loads(capsys.readouterr().out)
        assert record["subject_digest"] == report["subject"]["digest"]


async def test_postgresql_narrows_on_the_characters_sqlite_narrows_on(pg_server: PgServer) -> None:
    # SQLite asks Python (Variants.found_in) which texts may name the address in another form;
    # PostgreSQL reads Variants.pattern and encoded_pattern. Both must take the same texts:
    # each character, and percent-encoded forms in either case.
    import psycopg

    variants = variants_of("jean.martin-42@example.com", "jean.martin-42%40example.com")
    chars = [chr(c) for c in range(1, 0x30000) if not 0xD800 <= c <= 0xDFFF]
    texts = [*chars, "ﬁ%EF%BD%8Aean", "%ef%bd%8a", "cat%C3%A9gorie", "l%E2%80%99été", "%C3%9F"]
    expected = sorted(t for t in texts if variants.found_in(t))
    assert {"ｊ", "\U0001d423", "\u212f", "%ef%bd%8a", "ﬁ%EF%BD%8Aean"} <= set(expected)
    assert not {"é", "j", "\u2019", "\u2026", "\u00a0", "ß", "cat%C3%A9gorie"} & set(expected)
    async with await psycopg.AsyncConnection.connect(pg_server.create_database(), autocommit=True) as conn:
        cur = await conn.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE t ~ %s OR t ~* %s",
                                 (texts, variants.pattern, variants.encoded_pattern))
        matched = sorted(row[0] for row in await cur.fetchall())
    assert matched == expected
