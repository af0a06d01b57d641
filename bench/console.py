"""How long the console's queue takes to render with many open cases.

    python bench/console.py                 # 10,000 open cases in SQLite
    python bench/console.py --cases 50000
    python bench/console.py --db postgresql://…   # an empty PostgreSQL database

Fills a store with open cases (support requests accepted through the service), then asks
for the queue's first and last pages (50 cases each) in this process through the ASGI app,
so the time is the server's: the queries, the waiting times, the template. Prints the
median and 95th percentile over repeated requests, the size of the first page, and the
weight of a first load (the page, its stylesheet and scripts, uncompressed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from notifier.api import create_app  # noqa: E402
from notifier.core.events import Event  # noqa: E402
from notifier.service import Service  # noqa: E402

CONFIG = """
version: 1
defaults: {timezone: Europe/Paris, response_target: 30m}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/never"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [hook]
    escalate: [{after: 15m, to: [hook]}]
"""


async def fill(service: Service, cases: int) -> None:
    start = datetime.now(UTC) - timedelta(hours=6)
    for first in range(0, cases, 500):
        batch = [Event.model_validate({"kind": "support_request", "site": f"site{i % 7}.example",
                                       "conversation_id": f"c{i}", "message": "Un humain svp"})
                 for i in range(first, min(cases, first + 500))]
        await service.accept(batch, now=start + timedelta(seconds=first))


async def timed(client: httpx.AsyncClient, url: str, repeat: int) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(repeat):
        t = time.perf_counter()
        r = await client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.status_code
        size = len(r.content)
    return times, size


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    os.environ.pop("NOTIFIER_API_TOKEN", None)  # no token: the console is open, as on a fresh install
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "channels.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        service = Service(config, args.db or f"sqlite:///{tmp}/console.db", capture=False)
        await service.open()
        try:
            t = time.perf_counter()
            await fill(service, args.cases)
            print(f"{args.cases} open cases stored in {time.perf_counter() - t:.1f} s")
            app = create_app(service, manage=False)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
                await client.get("/console/")  # warm: templates compiled, session cookie set
                last = -(-args.cases // 50)
                for label, url in (("first page", "/console/"), (f"page {last}", f"/console/?page={last}")):
                    times, size = await timed(client, url, args.repeat)
                    print(f"queue {label:>10}: median {statistics.median(times):6.1f} ms, "
                          f"p95 {sorted(times)[int(len(times) * 0.95) - 1]:6.1f} ms, {size / 1024:.1f} KB")
                page = await client.get("/console/")
                assets = re.findall(r'(?:src|href)="(/console/static/[^"]+)"', page.text)
                weight = len(page.content) + sum([len((await client.get(a)).content) for a in assets])
                print(f"first load (page + {len(assets)} files, uncompressed): {weight / 1024:.1f} KB")
        finally:
            await service.close()


if __name__ == "__main__":
    asyncio.run(main())
