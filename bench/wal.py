"""Benchmark of the SQLite write-ahead log under a sustained burst: peak and idle sizes.

    python bench/wal.py                 # 60 s burst at the API's full batch rate, then idle
    python bench/wal.py --seconds 20    # shorter

Runs ``notifier serve`` (API and worker) on a fresh SQLite file, with a webhook sink, and
posts batches of 100 events back to back over 4 keep-alive connections for ``--seconds``.
The size of ``notifier.db-wal`` is sampled every 50 ms during the burst (peak) and after
it, until it stops shrinking (idle). Targets: peak below 128 MB, idle below 64 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from spine import CONFIG, RawClient, event, notifier, start, wait_http

from tests.sink import free_port

MB = 1024 * 1024


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def burst(port: int, seconds: float, connections: int = 4) -> tuple[int, int]:
    """Post batches of 100 until ``seconds`` passed; (events accepted, failed posts)."""
    client = RawClient(port, "/v1/events")
    stop = time.monotonic() + seconds
    accepted = bad = 0
    counter = iter(range(10**9))

    async def one_connection() -> None:
        nonlocal accepted, bad
        while time.monotonic() < stop:
            b = next(counter)
            body = orjson.dumps([event(b * 100 + i, "wal") for i in range(100)])
            _, failed = await client.run([body], 1)
            bad += failed
            accepted += 0 if failed else 100

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return accepted, bad


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the burst")
    parser.add_argument("--idle", type=float, default=30.0, help="how long to watch the WAL after the burst")
    args = parser.parse_args()

    sink_port, port = free_port(), free_port()
    sink = start([sys.executable, "-m", "tests.sink", str(sink_port)])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "channels.yaml").write_text(CONFIG.format(sink=sink_port, conc=8))
        db, wal = work / "notifier.db", work / "notifier.db-wal"
        api = start(notifier("serve", "--config", str(work / "channels.yaml"), "--db", f"sqlite:///{db}",
                             "--port", str(port), "--log-level", "warning"))
        try:
            wait_http(f"http://127.0.0.1:{sink_port}/_stats")
            wait_http(f"http://127.0.0.1:{port}/healthz")
            peak = 0
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, size(wal))
                    await asyncio.sleep(0.05)

            sampler = asyncio.create_task(sample())
            t0 = time.perf_counter()
            accepted, bad = await burst(port, args.seconds)
            took = time.perf_counter() - t0
            sampling = False
            await sampler
            at_end = size(wal)
            # Idle: watch until the log stops shrinking (or --idle passes).
            t1 = time.monotonic()
            idle_at = None
            while time.monotonic() - t1 < args.idle:
                if size(wal) < 64 * MB and idle_at is None:
                    idle_at = time.monotonic() - t1
                if size(wal) == 0:
                    break
                await asyncio.sleep(0.1)
            idle = size(wal)
            database = size(db)
        finally:
            api.terminate()
            api.wait(10)
            sink.terminate()
            sink.wait(10)

    print(f"\nnotifier WAL benchmark — {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rows = [
        ("burst", f"{took:.0f} s", f"batches of 100, {accepted:,} events accepted ({accepted / took:,.0f}/s),"
                                    f" {bad} posts refused"),
        ("WAL peak during the burst", f"{peak / MB:.1f} MB", "< 128 MB"),
        ("WAL at the end of the burst", f"{at_end / MB:.1f} MB", ""),
        (f"WAL {args.idle:g} s after the burst", f"{idle / MB:.1f} MB",
         (f"< 64 MB (below 64 MB {idle_at:.1f} s after the burst;" if idle_at is not None else "< 64 MB (")
         + " emptied once the worker has caught up and nothing is written for a second)"),
        ("database file", f"{database / MB:.1f} MB", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    asyncio.run(main())
