"""A transaction of no bounded size runs in the store's thread, not on the API's loop.

``notifier serve`` runs SQLite's short calls on its event loop (see
``notifier.store.sqlite_thread``). A transaction run there does not let the loop go
between its statements, so one that makes a statement per row found (an erasure, a
purge) would hold every other request from its first statement to its commit. Here a
real ``notifier serve`` erases a conversation of thousands of messages, and a load
balancer's probe of ``/healthz`` keeps being answered meanwhile.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from notifier.auth import hash_token
from notifier.core.events import Event
from notifier.service import Service
from tests.scale.conftest import Processes
from tests.sink import Sink

pytestmark = pytest.mark.slow

ADMIN = "ntf_long-transactions-admin-0123456789"
CONVERSATION = "conv-ottilie"
#: Its events: enough that erasing them takes seconds (a tombstone per event, in one transaction).
EVENTS = 20_000
#: The longest a probe may wait for ``/healthz``: three times the worst wait measured here
#: (the erasure's own Python work runs on the loop), a quarter of the two seconds its
#: transaction held the loop when its statements ran there.
PROBE_LIMIT = 0.5


def config(sink: Sink) -> str:
    return f"""
version: 1
channels:
  hook: {{type: webhook, url: "{sink.url}", timeout: 2s}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [hook]
auth:
  tokens:
    - {{name: dpo, secret: "{hash_token(ADMIN)}", scopes: [admin]}}
"""


async def accept_conversation(cfg: Path, db: str, inbox: Path) -> None:
    """The conversation's events, accepted in batches by a service of the test's own (faster than HTTP)."""
    service = Service(cfg, db, inbox_dir=inbox)
    await service.open()
    try:
        for start in range(0, EVENTS, 1000):
            await service.accept([Event.model_validate({
                "id": f"ob-{i}", "kind": "support_request", "site": "shop.example", "conversation_id": CONVERSATION,
                "message": "Bonjour, où en est ma commande ?",
                "user": {"email": "ottilie.brandvold@example.org", "consent": True},
            }) for i in range(start, min(EVENTS, start + 1000))])
    finally:
        await service.close()


async def test_healthz_is_answered_while_a_big_erasure_runs(tmp_path: Path, sink: Sink, processes: Processes,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "channels.yaml"
    cfg.write_text(config(sink), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'notifier.db'}"
    await accept_conversation(cfg, db, tmp_path / "inbox")

    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    # No worker: the API's loop is the one under test, and nothing else competes for the CPU.
    proc, port = processes.api("serve", cfg, db)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as dpo, \
                httpx.AsyncClient(base_url=base, timeout=60) as probe:
            erasing = asyncio.create_task(dpo.delete(
                "/v1/privacy/subjects", params={"conversation": CONVERSATION, "site": "shop.example"},
                headers={"Authorization": f"Bearer {ADMIN}"}))
            waits = []
            while not erasing.done():
                started = time.perf_counter()
                answer = await probe.get("/healthz")
                waits.append(time.perf_counter() - started)
                assert answer.status_code == 200, answer.text
                await asyncio.sleep(0.02)
            erased = await erasing
            assert erased.status_code == 200, erased.text
            assert erased.json()["counts"]["events_anonymised"] == EVENTS
            assert len(waits) > 1, "the erasure ended before the probe could ask twice"
            assert max(waits) < PROBE_LIMIT, (
                f"/healthz waited {max(waits):.2f} s while the erasure ran ({len(waits)} probes)")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0, processes.log("serve")
