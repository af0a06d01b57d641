"""Benchmark of the Slack loop: from a signed click to the updated message, and claims/s through the API.

    python bench/slack_loop.py                       # SQLite, 200 clicks, 1,000 API claims
    python bench/slack_loop.py --db postgresql://…   # an empty PostgreSQL database
    python bench/slack_loop.py --clicks 500 --agents 4

A ``notifier serve`` process (API + worker) on 127.0.0.1 posts its alerts to the fake
Slack of the tests (tests/channels/fakes.py), which runs in this process. Then:

1. **click → update**: for each case the fake Slack builds the ``block_actions`` payload of a
   click on "Je m'en occupe", signs it with the app's signing secret and posts it to
   ``/v1/slack/interactions``; the time runs until the fake receives the ``chat.update``
   of that message (both ends read this process's monotonic clock). ``--agents`` clicks
   are in flight at once.
2. **claims/s through the API**: ``POST /v1/cases/{id}/claim`` on fresh cases, 16 at a
   time; each claim also queues the Slack follow-up in its transaction, and the time until
   the fake received every update is printed too.

The Slack channel's ``rate`` (chat.postMessage pacing, which the thread replies follow) is
lifted to ``--rate`` (default 50/s) so that back-to-back clicks measure notifier, not
Slack's one-message-per-second pace; the fake does not rate-limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.channels.fakes import FakeSlack  # noqa: E402
from tests.sink import free_port  # noqa: E402


def config(slack: FakeSlack, rate: float) -> str:
    return f"""
version: 1
defaults: {{timezone: Europe/Paris}}
channels:
  team-slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}",
               signing_secret: "{slack.signing_secret}", rate: {rate}}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [team-slack]
"""


async def wait_ready(client: httpx.AsyncClient, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            await client.get("/healthz")
            return
        except httpx.HTTPError:
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not start")


def wait_until(slack: FakeSlack, condition: object, timeout: float) -> None:
    with slack._lock:
        if not slack._lock.wait_for(condition, timeout):  # type: ignore[arg-type]
            raise SystemExit("timed out waiting for the fake Slack")


async def open_cases(client: httpx.AsyncClient, slack: FakeSlack, n: int, prefix: str) -> list[tuple[str, str]]:
    """Post ``n`` requests; (case id, message ts) once every alert is in the fake Slack."""
    ids: list[str] = []
    before = len(slack.messages)
    for start in range(0, n, 500):
        batch = [{"kind": "support_request", "site": "bench.example.com", "conversation_id": f"{prefix}-{i}",
                  "message": "Je voudrais parler à un conseiller"} for i in range(start, min(n, start + 500))]
        r = await client.post("/v1/events", json=batch)
        r.raise_for_status()
        ids += [e["case"]["id"] for e in r.json()["events"]]
    by_case: dict[str, str] = {}
    deadline = time.monotonic() + 300
    while len(by_case) < len(ids):  # alerts arrive among thread replies of earlier clicks
        if time.monotonic() > deadline:
            raise SystemExit("the alerts did not all reach the fake Slack")
        await asyncio.sleep(0.1)
        with slack._lock:
            fresh, before = slack.messages[before:], len(slack.messages)
        for m in fresh:
            for block in m["blocks"] or []:
                if str(block.get("block_id", "")).startswith("case:"):
                    by_case[block["block_id"][5:]] = m["ts"]
    return [(case_id, by_case[case_id]) for case_id in ids]


async def clicks(client: httpx.AsyncClient, slack: FakeSlack, cases: list[tuple[str, str]],
                 agents: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in cases:
        queue.put_nowait(item)
    updated: dict[str, threading.Event] = {ts: threading.Event() for _, ts in cases}
    seen = [0]

    def watch() -> None:  # signals each ts as its chat.update arrives
        while seen[0] < len(cases):
            with slack._lock:
                slack._lock.wait_for(lambda: len(slack.updates) > seen[0], 60)
                fresh = slack.updates[seen[0]:]
                seen[0] += len(fresh)
            for u in fresh:
                if u["ts"] in updated:
                    updated[u["ts"]].set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    done_at: dict[str, float] = {}

    async def agent(n: int) -> None:
        while not queue.empty():
            _, ts = queue.get_nowait()
            body, headers = slack.signed(slack.click_payload(ts, "case_claim", user=f"U0AGENT{n}", name=f"agent{n}"))
            t0 = time.monotonic()
            r = await client.post("/v1/slack/interactions", content=body, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"click refused: {r.status_code} {r.text}")
            await asyncio.to_thread(updated[ts].wait, 30)
            with slack._lock:
                at = next(u["at"] for u in slack.updates if u["ts"] == ts)
            done_at[ts] = at
            latencies.append((at - t0) * 1000)

    await asyncio.gather(*(agent(i) for i in range(agents)))
    return latencies


async def api_claims(client: httpx.AsyncClient, slack: FakeSlack, cases: list[tuple[str, str]],
                     concurrency: int) -> tuple[float, float]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for case_id, _ in cases:
        queue.put_nowait(case_id)
    before = len(slack.updates)

    async def agent() -> None:
        while not queue.empty():
            r = await client.post(f"/v1/cases/{queue.get_nowait()}/claim", json={"by": "marie"})
            if r.status_code != 200:
                raise SystemExit(f"claim failed: {r.status_code} {r.text}")

    t0 = time.monotonic()
    await asyncio.gather(*(agent() for _ in range(concurrency)))
    claimed = time.monotonic() - t0
    await asyncio.to_thread(wait_until, slack, lambda: len(slack.updates) >= before + len(cases), 600)
    return claimed, time.monotonic() - t0


async def run(slack: FakeSlack, port: int, n_clicks: int, n_claims: int, agents: int, db: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                 limits=httpx.Limits(max_connections=64)) as client:
        await wait_ready(client, time.monotonic() + 60)
        clicked = await open_cases(client, slack, n_clicks, "click")
        latencies = await clicks(client, slack, clicked, agents)
        claimed_cases = await open_cases(client, slack, n_claims, "api")
        claim_s, all_updated_s = await api_claims(client, slack, claimed_cases, 16)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"store                {db.split(':', 1)[0]}")
    print(f"click -> update      {len(latencies)} clicks, {agents} in flight: p50 {q[49]:.1f} ms  "
          f"p90 {q[89]:.1f} ms  p99 {q[98]:.1f} ms  max {max(latencies):.1f} ms")
    print(f"claims via the API   {n_claims} claims, 16 in flight: {n_claims / claim_s:,.0f} claims/s "
          f"(every Slack message updated {all_updated_s:.1f} s after the first claim)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="store URL (default: a fresh SQLite file)")
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=1, help="clicks in flight at once")
    parser.add_argument("--rate", type=float, default=50.0, help="the Slack channel's messages per second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as slack:
        path = Path(tmp) / "channels.yaml"
        path.write_text(config(slack, args.rate), encoding="utf-8")  # type: ignore[arg-type]
        db = args.db or f"sqlite:///{tmp}/bench.db"
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("NOTIFIER_API_TOKEN", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "notifier.cli", "serve", "--config", str(path), "--db", db,
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(run(slack, port, args.clicks, args.claims, args.agents, db))  # type: ignore[arg-type]
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
