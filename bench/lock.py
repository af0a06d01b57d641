"""How the API answers while another process holds SQLite's write lock.

    python bench/lock.py                 # the lock held for 30 s
    python bench/lock.py --hold 10

Runs ``notifier serve`` on a fresh SQLite file, then a second process takes the write lock
(``BEGIN IMMEDIATE``, as a CLI command, a second worker or a backup would) and keeps it for
``--hold`` seconds. Meanwhile ``GET /healthz`` is timed ten times a second, and a
single-event ``POST`` is sent every second. Target: every ``/healthz`` within 100 ms; posts
get 503 with ``Retry-After`` (or 202 once the lock is released), never a hang.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spine import CONFIG, event, notifier, start, wait_http

from tests.sink import free_port

HOLD = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE deliveries SET updated_at = updated_at WHERE 0")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("COMMIT")
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the other process holds the lock")
    args = parser.parse_args()

    sink_port, port = free_port(), free_port()
    sink = start([sys.executable, "-m", "tests.sink", str(sink_port)])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "channels.yaml").write_text(CONFIG.format(sink=sink_port, conc=8))
        db = work / "notifier.db"
        api = start(notifier("serve", "--config", str(work / "channels.yaml"), "--db", f"sqlite:///{db}",
                             "--port", str(port), "--log-level", "warning"))
        try:
            wait_http(f"http://127.0.0.1:{sink_port}/_stats")
            wait_http(f"http://127.0.0.1:{port}/healthz")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
                assert (await http.post("/v1/events", json=event(0, "warm"))).status_code == 202
                holder = subprocess.Popen([sys.executable, "-c", HOLD, str(db), str(args.hold)],
                                          stdout=subprocess.PIPE, text=True)
                assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
                locked_at = time.monotonic()
                health: list[float] = []
                posts: list[tuple[int, float, str]] = []

                async def poll_health() -> None:
                    while holder.poll() is None:
                        t0 = time.perf_counter()
                        r = await http.get("/healthz")
                        health.append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 200, r.text
                        await asyncio.sleep(0.1)

                async def post_every_second() -> None:
                    i = 0
                    while holder.poll() is None:
                        i += 1
                        t0 = time.perf_counter()
                        r = await http.post("/v1/events", json=event(i, "locked"))
                        posts.append((r.status_code, (time.perf_counter() - t0) * 1000,
                                      r.headers.get("retry-after", "")))
                        await asyncio.sleep(1)

                await asyncio.gather(poll_health(), post_every_second())
                held = time.monotonic() - locked_at
                after = await http.post("/v1/events", json=event(0, "after"))
        finally:
            api.terminate()
            api.wait(10)
            sink.terminate()
            sink.wait(10)

    health.sort()
    outcomes = Counter(f"{status} (Retry-After {ra})" if ra else str(status) for status, _, ra in posts)
    print(f"\nnotifier lock benchmark — {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"  write lock held by another process    {held:.1f} s")
    print(f"  /healthz while held                  {len(health)} requests: median {statistics.median(health):.1f} ms,"
          f" p99 {health[min(len(health) - 1, int(len(health) * 0.99))]:.1f} ms, max {health[-1]:.1f} ms"
          f"  (target: within 100 ms)")
    print(f"  POST /v1/events while held           {dict(outcomes)};"
          f" answered in {max(ms for _, ms, _ in posts):.0f} ms at most")
    print(f"  POST /v1/events after release        {after.status_code}")


if __name__ == "__main__":
    asyncio.run(main())
