"""Erasure leaves no trace: proved on the raw database files, on both backends.

A real ``notifier serve`` process takes events carrying a distinctive email, phone number
and name, delivers them over loopback (a real SMTP server, a fake Zendesk, a webhook
sink, a fake Slack), an agent resolves the case with a note naming the person (Slack is
told, note included); then the admin erases
the person through the API, the process is stopped, and the raw files are searched:
SQLite's main file, ``-wal``, ``-journal`` and ``-shm``; a ``pg_dump`` of PostgreSQL.
None of the strings is left. A bystander's strings, stored the same way, are still
found: the search can find what is there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.auth import hash_token
from tests.channels.fakes import FakeSlack, FakeZendesk
from tests.channels.test_email import Mailbox, Start, mailbox, smtp_server, tls  # noqa: F401  (fixtures)
from tests.forensics import pg_dump, sqlite_leftovers
from tests.pgserver import PgServer
from tests.sink import Sink, free_port

pytestmark = pytest.mark.slow

ADMIN = "ntf_erasure-proof-admin-0123456789"
EMAIL = "Zephyrine.Quillard-Oxbow@example.org"
#: Every form in which the person's details were typed, and so could be stored.
HERS = [EMAIL, EMAIL.lower(), EMAIL.upper(), "zephyrine.quillard-oxbow%40example.org",
        "47 81 29 53", "Quillard-Oxbow", "Zéphyrine"]
THEIRS = ["gaspard.temoin@example.net", "Gaspard Témoin", "01 98 76 54 32"]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Callable[[list[str]], Any]]]:
    """The database URL and a function: the needles still found in its raw storage."""
    if request.param == "sqlite":
        db = tmp_path / "notifier.db"
        yield f"sqlite:///{db}", lambda needles: sqlite_leftovers(db, needles)
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url, lambda needles: [n for n in needles if n in pg_dump(url, server.bindir)]
    server.drop_database(url.rsplit("/", 1)[1])


def config(smtp_port: int, zendesk: FakeZendesk, slack: FakeSlack, sink: Sink) -> str:
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
  retry: {{attempts: 3, backoff: 50ms, max_backoff: 1s}}
channels:
  mail: {{type: email, to: [support@votresite.com], from: "Bot <bot@votresite.com>", smtp: "smtp://127.0.0.1:{smtp_port}"}}
  zendesk: {{type: zendesk, subdomain: acme, email: {zendesk.email}, api_token: {zendesk.api_token},
            base_url: "{zendesk.url}"}}
  hook: {{type: webhook, url: "{sink.url}", timeout: 2s}}
  slack: {{type: slack, token: {slack.token}, channel: "#support", base_url: "{slack.api_url}"}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [mail, zendesk, hook, slack]
    response_target: 2h
  - name: words
    match: {{kinds: [message], keywords: [urgent], role: user}}
    to: [hook]
auth:
  tokens:
    - {{name: dpo, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""


EVENTS: list[dict[str, Any]] = [
    {"id": "zq-1", "kind": "support_request", "site": "shop.example", "conversation_id": "conv-zq",
     "message": "Je suis Zéphyrine Quillard-Oxbow, rappelez-moi au 06 47 81 29 53",
     "user": {"name": "Zéphyrine Quillard-Oxbow", "email": EMAIL, "phone": "+33 6 47 81 29 53", "consent": True},
     "page": {"url": "https://shop.example/contact?from=zephyrine.quillard-oxbow%40example.org"},
     "transcript": [{"role": "user", "text": f"mon adresse : {EMAIL.lower()}"}]},
    {"id": "zq-2", "kind": "message", "site": "shop.example", "conversation_id": "conv-zq", "role": "user",
     "message": "urgent : toujours rien, signé Zéphyrine Quillard-Oxbow"},
    {"id": "b-1", "kind": "message", "site": "shop.example", "conversation_id": "conv-b", "role": "user",
     "message": f"urgent, ma sœur {EMAIL.upper()} attend"},
    {"id": "g-1", "kind": "support_request", "site": "shop.example", "conversation_id": "conv-g",
     "message": "Rappelez Gaspard Témoin au 01 98 76 54 32",
     "user": {"name": "Gaspard Témoin", "email": "gaspard.temoin@example.net", "consent": True}},
]


async def wait_for(condition: Callable[[], Any], what: str, proc: asyncio.subprocess.Process,
                   timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.returncode is None, f"notifier exited ({proc.returncode}) waiting for {what}"
        result = await condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_erased_person_is_in_no_database_file(backend: tuple[str, Callable[[list[str]], Any]],
                                                    smtp_server: Start, mailbox: Mailbox,  # noqa: F811
                                                    tmp_path: Path, sink: Sink) -> None:
    url, leftovers = backend
    with FakeZendesk() as zendesk, FakeSlack() as slack:
        cfg = tmp_path / "channels.yaml"
        cfg.write_text(config(await smtp_server(), zendesk, slack, sink), encoding="utf-8")  # type: ignore[arg-type]
        port = free_port()
        env = {**os.environ, "NOTIFIER_LOG_FORMAT": "json"}
        env.pop("NOTIFIER_API_TOKEN", None)
        with (tmp_path / "serve.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "notifier.cli", "serve", "--config", str(cfg), "--db", url,
                "--port", str(port), "--workers", "1", env=env, stdout=log, stderr=log)
        try:
            api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                    headers={"Authorization": f"Bearer {ADMIN}"})

            async def up() -> bool:
                try:
                    return (await api.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_for(up, "the API", proc)
            assert (await api.post("/v1/events", json=EVENTS)).status_code == 202

            def all_sent(n: int, follow_ups: set[str] = frozenset()) -> Callable[[], Any]:  # type: ignore[assignment]
                async def check() -> bool:
                    listed = (await api.get("/v1/deliveries", params={"limit": 100})).json()["deliveries"]
                    told = {d["channel"] for d in listed if d["route"] == "follow-up"}
                    return len(listed) >= n and told >= follow_ups and all(d["status"] == "sent" for d in listed)
                return check

            await wait_for(all_sent(10), "10 deliveries sent", proc)
            assert len(mailbox.received) == 2 and len(zendesk.tickets) == 2
            case_id = (await api.get("/v1/privacy/subjects", params={"email": EMAIL})).json()["cases"][0]["id"]
            r = await api.post(f"/v1/cases/{case_id}/resolve",
                               json={"note": "Zéphyrine Quillard-Oxbow rappelée au 06 47 81 29 53"})
            assert r.status_code == 200
            # Slack, the email thread and the Zendesk ticket are told, with the note (follow-ups,
            # stored like deliveries).
            await wait_for(all_sent(11, {"slack", "mail", "zendesk"}), "the follow-ups sent", proc)
            # Before: the search finds her (else finding nothing later would prove nothing).
            assert leftovers(HERS), "her details should be stored before the erasure"

            r = await api.delete("/v1/privacy/subjects", params={"email": EMAIL.lower()})
            assert r.status_code == 200, r.text
            report = r.json()
            # Her two events, the bystander's message naming her, and the follow-up (a copy of her request).
            assert report["reclaimed"] is True and report["counts"]["events_anonymised"] == 4
            assert [t["type"] for t in report["helpdesk_tickets"]] == ["zendesk"]
            await api.aclose()
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0, (tmp_path / "serve.log").read_text()

    assert leftovers(HERS) in ({}, []), f"left after the erasure: {leftovers(HERS)}"
    still = leftovers(THEIRS)
    assert len(still) == len(THEIRS), f"the bystander's data should remain: found only {still}"
