"""Benchmark of case actions: claims per second through the HTTP API, and their latency.

    python bench/cases.py                          # SQLite, 2,000 cases
    python bench/cases.py --db postgresql://…      # an empty PostgreSQL database
    python bench/cases.py --direct                 # CaseStore.act in this process, no HTTP

A ``notifier serve --no-worker`` process on 127.0.0.1 holds the store; this script posts
the requests (in batches), then claims every case twice at once, as two agents clicking
together would: one claim of each pair wins (200), the other is told who holds the case
(409). It prints the claims per second (both answers counted) and the latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sink import free_port  # noqa: E402

CONFIG = """
version: 1
defaults: {timezone: Europe/Paris, response_target: 2h}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/never"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
    escalate: [{after: 15m, to: [hook]}]
"""


async def wait_ready(client: httpx.AsyncClient, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code < 600:
                return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


async def run(db: str, cases: int, concurrency: int, port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        await wait_ready(client, time.monotonic() + 60)
        ids: list[str] = []
        for start in range(0, cases, 500):
            batch = [{"kind": "support_request", "site": "bench.example.com", "conversation_id": f"b-{i}",
                      "message": "Je voudrais parler à un conseiller"} for i in range(start, min(cases, start + 500))]
            r = await client.post("/v1/events", json=batch)
            r.raise_for_status()
            ids += [e["case"]["id"] for e in r.json()["events"]]
        jobs = [(case_id, who) for case_id in ids for who in ("marie", "paul")]
        latencies: list[float] = []
        outcomes: dict[int, int] = {}
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        async def agent() -> None:
            while not queue.empty():
                case_id, who = queue.get_nowait()
                t0 = time.perf_counter()
                r = await client.post(f"/v1/cases/{case_id}/claim", json={"by": who})
                latencies.append((time.perf_counter() - t0) * 1000)
                outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(agent() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    print(f"store        {db.split(':', 1)[0]}")
    print(f"cases        {len(ids)} (each claimed by two agents at once, {concurrency} requests in flight)")
    print(f"answers      {dict(sorted(outcomes.items()))}  (200: won, 409: told who holds it)")
    print(f"claims/s     {len(jobs) / elapsed:,.0f}")
    print(f"latency ms   p50 {q[49]:.1f}  p99 {q[98]:.1f}")
    if outcomes.get(200) != len(ids) or outcomes.get(409) != len(ids):
        raise SystemExit("expected exactly one winner per case")


async def direct(db: str, cases: int) -> None:
    """Claims through :class:`CaseStore` alone: what the store costs, without HTTP."""
    from datetime import UTC, datetime

    from notifier.store import store_for
    from notifier.store.cases import CaseStore

    store = store_for(db)
    await store.open()
    now = datetime.now(UTC)
    try:
        async with store.transaction() as tx:
            opening = CaseStore(tx.connector())
            ids = [(await opening.open_or_join(
                case_id=f"bench-{i}", identity=f"bench|{i}", event_id=f"bench-{i}", site="bench", conversation_id=None,
                kind="support_request", route=None, locale=None, now=now, expected=None, timers=[])).id
                for i in range(cases) if await _event(tx, f"bench-{i}", now)]
        cases_store = CaseStore(store.connector())
        t0 = time.perf_counter()
        for case_id in ids:
            await cases_store.act(case_id, "claim", actor="marie", via="bench", now=now)
        elapsed = time.perf_counter() - t0
    finally:
        await store.close()
    print(f"store        {db.split(':', 1)[0]} (CaseStore.act, one at a time, no HTTP)")
    print(f"claims/s     {len(ids) / elapsed:,.0f}")


async def _event(tx: object, event_id: str, now: object) -> bool:
    from notifier.core.events import Event

    ev = Event.model_validate({"id": event_id, "kind": "support_request", "site": "bench", "occurred_at": now})
    return bool(await tx.insert_event(ev, now, None))  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--direct", action="store_true", help="claim through CaseStore in this process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.direct:
            asyncio.run(direct(args.db or f"sqlite:///{tmp}/bench.db", args.cases))
            return
        config = Path(tmp) / "channels.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        db = args.db or f"sqlite:///{tmp}/bench.db"
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("NOTIFIER_API_TOKEN", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--db", db,
             "--host", "127.0.0.1", "--port", str(port), "--no-worker", "--log-level", "warning"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(run(db, args.cases, args.concurrency, port))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
