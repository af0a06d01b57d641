"""Scale-out on PostgreSQL: two API processes, three workers, one database, nothing sent twice.

20,000 events are posted in batches through both APIs at once, with repeated event ids
(the same id posted to both APIs) and repeated conversations (support requests of one
conversation inside the dedup window, spread over both APIs). One worker is killed with
SIGKILL midway; the others take its claims when their lease ends. ``NOTIFIER_SCALE_EVENTS``
lowers the count while developing.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.scale.conftest import Processes, sink_stats

EVENTS = int(os.environ.get("NOTIFIER_SCALE_EVENTS", "20000"))
LEASE = 15  # seconds: how long the killed worker's claims stay reserved

CONFIG = """
version: 1
defaults:
  timezone: UTC
  retry: {{attempts: 8, backoff: 100ms, max_backoff: 1s}}
  dedup: {{window: 10m}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", concurrency: 16, timeout: 10s}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def event(event_id: str, conversation: str) -> dict[str, Any]:
    return {"id": event_id, "kind": "support_request", "site": "shop.example.com",
            "conversation_id": conversation, "message": "Je voudrais parler à un conseiller",
            "user": {"name": "Client", "email": "client@example.com", "consent": True}}


def plan_batches(total: int) -> tuple[list[list[dict[str, Any]]], int, int]:
    """Batches of 100; consecutive batches go to different APIs and share repeated ids and conversations."""
    n_batches = total // 100
    pairs, conversations = total // 20, total // 40
    batches: list[list[dict[str, Any]]] = [[] for _ in range(n_batches)]
    for i in range(pairs):  # the same id in two neighbouring batches, i.e. through both APIs at once
        m = i % (n_batches // 2)
        for b in (2 * m, 2 * m + 1):
            batches[b].append(event(f"dup-{i}", f"dupconv-{i}"))
    for j in range(conversations):  # four requests of one conversation in four neighbouring batches
        for k in range(4):
            batches[(4 * j + k) % n_batches].append(event(f"conv-{j}-{k}", f"conv-{j}"))
    unique = 0
    rng = random.Random(7)
    for batch in batches:
        while len(batch) < 100:
            batch.append(event(f"one-{unique}", f"one-{unique}"))
            unique += 1
        rng.shuffle(batch)  # different orders in concurrent transactions
    return batches, pairs, conversations


async def post_all(ports: list[int], batches: list[list[dict[str, Any]]]) -> list[tuple[int, int, Any]]:
    """Post every batch, batch ``b`` to API ``b % 2``, three connections per API."""
    queue = list(enumerate(batches))
    queue.reverse()
    out: list[tuple[int, int, Any]] = []

    async def client(api: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[api]}", timeout=60) as http:
            while True:
                mine = next((i for i in range(len(queue) - 1, -1, -1) if queue[i][0] % 2 == api), None)
                if mine is None:
                    return
                b, batch = queue.pop(mine)
                r = await http.post("/v1/events", json=batch)
                out.append((b, r.status_code, r.json()))

    await asyncio.gather(*(client(api) for api in (0, 1) for _ in range(3)))
    return out


def db_counts(db: str) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status").fetchall())


async def test_two_apis_three_workers_one_database(pg_url: str, processes: Processes, tmp_path: Path) -> None:
    sink = processes.sink()
    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=sink))
    # As in a rollout: the schema first, then the processes.
    subprocess.run([sys.executable, "-m", "notifier.cli", "db", "upgrade", "--db", pg_url], check=True,
                   capture_output=True)
    ports = [processes.api(f"api{i}", config, pg_url)[1] for i in range(2)]
    workers = [processes.worker(f"worker{i}", config, pg_url, "--no-digests", "--lease", f"{LEASE:g}s")
               for i in range(3)]

    batches, pairs, conversations = plan_batches(EVENTS)
    expected_sent = EVENTS - 2 * pairs - 4 * conversations + pairs + conversations
    posting = asyncio.create_task(post_all(ports, batches))

    # Kill one worker once the sink has about 30% of the deliveries.
    deadline = time.monotonic() + 120
    while len(sink_stats(sink)) < expected_sent * 0.3:
        assert time.monotonic() < deadline, f"only {len(sink_stats(sink))} deliveries after 120 s"
        for i, w in enumerate(workers):
            assert w.poll() is None, processes.log(f"worker{i}")
        await asyncio.sleep(0.05)
    victim = workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    with psycopg.connect(pg_url) as conn:
        orphaned = {r[0] for r in conn.execute(
            "SELECT id FROM deliveries WHERE status = 'claimed' AND claimed_by LIKE %s",
            (f"{socket.gethostname()}:{victim.pid}:%",))}

    responses = await posting
    assert sorted(status for _, status, _ in responses) == [202] * len(batches), \
        [body for _, status, body in responses if status != 202][:3]

    # Wait until the two surviving workers delivered everything, the killed one's claims too.
    deadline = time.monotonic() + 120
    while (counts := db_counts(pg_url)).get("sent", 0) < expected_sent or counts.get("claimed"):
        assert time.monotonic() < deadline, f"not delivered in time: {counts}"
        for i, w in enumerate(workers[1:], 1):
            assert w.poll() is None, processes.log(f"worker{i}")
        await asyncio.sleep(0.2)

    # Every accepted, non-duplicate, non-suppressed delivery, as the API reported them.
    planned: dict[str, str] = {}   # delivery id -> status the API answered
    duplicate_flags: dict[str, list[bool]] = defaultdict(list)
    for _, _, body in responses:
        for item in body["events"]:
            duplicate_flags[item["id"]].append(item["duplicate"])
            for d in item["deliveries"]:
                planned[d["id"]] = d["status"]
    to_send = {d for d, status in planned.items() if status == "pending"}
    assert len(to_send) == expected_sent
    assert Counter(planned.values()) == {"pending": expected_sent, "suppressed": 3 * conversations}

    # Each repeated id made one event: the API said "new" exactly once for it.
    repeated = {i: flags for i, flags in duplicate_flags.items() if i.startswith("dup-")}
    assert len(repeated) == pairs
    assert all(sorted(flags) == [False, True] for flags in repeated.values())

    with psycopg.connect(pg_url) as conn:
        sent_ids = {r[0] for r in conn.execute("SELECT id FROM deliveries WHERE status = 'sent'")}
        stored_events = conn.execute("SELECT count(*) FROM events").fetchone()[0]  # type: ignore[index]
    assert stored_events == EVENTS - pairs
    assert db_counts(pg_url) == {"sent": expected_sent, "suppressed": 3 * conversations}

    stats = sink_stats(sink)
    received = Counter(str(key) for key, _, _ in stats)
    assert set(received) == to_send, "the sink did not get exactly the planned deliveries"
    assert sent_ids == to_send, "something marked sent that the sink did not get, or the reverse"

    # A delivery reached the sink twice only if the killed worker held it (at-least-once after a crash).
    twice = {key for key, n in received.items() if n > 1}
    assert twice <= orphaned, f"{len(twice - orphaned)} deliveries sent twice by healthy workers"

    # Each conversation (dedup key) was notified once in its window, across both APIs and all workers.
    per_conversation: dict[str, set[str]] = defaultdict(set)
    for key, _, event_id in stats:
        if str(event_id).startswith("conv-"):
            per_conversation[str(event_id).rsplit("-", 1)[0]].add(str(key))
    assert len(per_conversation) == conversations
    assert all(len(keys) == 1 for keys in per_conversation.values())


async def test_batches_sharing_ids_in_opposite_orders_do_not_deadlock(pg_url: str, tmp_path: Path) -> None:
    """A client retrying a batch through another API process: both are accepted, each id stored once."""
    from notifier.core.events import Event
    from notifier.service import Service

    config = tmp_path / "channels.yaml"
    config.write_text(CONFIG.format(sink=9))
    a, b = Service(config, pg_url), Service(config, pg_url)
    await a.store.open()
    await b.store.open()
    try:
        for round_ in range(10):
            # Messages match no route: no dedup key serialises the two transactions.
            events = [Event.model_validate({"id": f"m{round_}-{i}", "kind": "message", "role": "user",
                                            "conversation_id": f"c{i}", "message": "bonjour"})
                      for i in range(50)]
            first, second = await asyncio.gather(a.accept(events), b.accept(list(reversed(events))))
            new = [r.id for r in (*first, *second) if not r.duplicate]
            assert sorted(new) == sorted(e.id for e in events if e.id)
    finally:
        await a.store.close()
        await b.store.close()
