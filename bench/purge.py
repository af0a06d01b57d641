"""Benchmark of the retention purge: a million old events removed while the API takes POSTs.

    python bench/purge.py                          # SQLite, 1,000,000 old events
    python bench/purge.py --events 200000          # smaller
    python bench/purge.py --postgres               # a throwaway PostgreSQL server (tests/pgserver.py)
    python bench/purge.py --db postgresql://…      # an empty PostgreSQL database

Builds a database of ``--events`` events received 100 to 130 days ago (one in five a support
request with its sent delivery, its attempt and its dedup key; the rest chat messages),
plus 20,000 recent events, with plain SQL inserts in big transactions. Then:

1. **without a purge**: ``notifier serve`` on it (the day's purge already claimed), single-event
   POSTs at ``--rate`` per second over 4 keep-alive connections for ``--seconds``: API p50/p99;
2. **during the purge**: the claim removed, ``notifier serve`` again: its worker purges at
   start-up (the real daily path, batches of 1,000 rows) while the same POSTs run until the
   day's ``purge_runs`` row says ``done``: API p50/p99 during the purge, and the purge's
   throughput (rows removed per second, from the claim to the end, reclaiming included).

Prints a Markdown table (paste it into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spine import notifier, start, wait_http

from notifier.config import parse_config
from notifier.retention import due_day
from notifier.store import store_for
from tests.sink import free_port

CONFIG = """
version: 1
defaults: {timezone: UTC, retention: {events: 90d, deliveries: 30d, cases: 1y}}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes: []
"""

RECENT = 20_000
CHUNK = 50_000


def rows(n: int, now: datetime, tag: str, days: tuple[int, int]) -> Iterator[tuple[Any, ...]]:
    """(event, delivery or None) rows: one in five a support request that was delivered."""
    span = (days[1] - days[0]) * 86400
    for i in range(n):
        # In time order, as they arrived: the indexes grow at their end, which keeps building fast.
        at = now - timedelta(days=days[1]) + timedelta(seconds=span * i / n)
        kind = "support_request" if i % 5 == 0 else "message"
        conv = f"{tag}-c{i // 4}"
        body = orjson.dumps({"id": f"{tag}-{i}", "kind": kind, "site": "bench.example.com", "conversation_id": conv,
                             "occurred_at": at.isoformat(), "role": "user",
                             "message": f"Bonjour, ma commande {i} n'est pas arrivée, pouvez-vous m'aider ?",
                             "user": {"name": "Camille Martin", "email": f"camille.{i}@example.com",
                                      "consent": True},
                             "transcript": [{"role": "user", "text": "Où est ma commande ?"},
                                            {"role": "assistant", "text": "Je regarde cela."}]}).decode()
        delivery = (f"{tag}-d{i}", f"{tag}-{i}", f"bench.example.com:{conv}:{kind}") if kind != "message" else None
        yield (f"{tag}-{i}", kind, "bench.example.com", conv, "user", at, at, f"commande {i % 500}", body), delivery


def build_sqlite(path: Path, n: int, now: datetime) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    for tag, count, days in (("old", n, (100, 130)), ("new", RECENT, (0, 20))):
        batch: list[Any] = []
        deliveries: list[Any] = []
        for event, d in rows(count, now, tag, days):
            t = event[5].timestamp()
            batch.append((*event[:5], t, t, *event[7:]))
            if d:
                deliveries.append((d, t))
            if len(batch) >= CHUNK:
                _insert_sqlite(conn, batch, deliveries)
                batch, deliveries = [], []
        _insert_sqlite(conn, batch, deliveries)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _insert_sqlite(conn: sqlite3.Connection, events: list[Any], deliveries: list[Any]) -> None:
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", events)
    conn.executemany(
        "INSERT INTO deliveries (id, event_id, route, channel, status, priority, attempts, created_at, updated_at,"
        " first_attempt_at, sent_at, dedup_key) VALUES (?, ?, 'handoff', 'hook', 'sent', 'normal', 1, ?, ?, ?, ?, ?)",
        [(d[0], d[1], t, t, t, t, d[2]) for d, t in deliveries])
    conn.executemany("INSERT INTO attempts VALUES (?, 1, ?, 'sent', '', 12.5)", [(d[0], t) for d, t in deliveries])
    conn.executemany("INSERT INTO dedup VALUES (?, ?, 0, ?)", [(d[2], t + 600, d[0]) for d, t in deliveries])
    conn.execute("COMMIT")


def build_postgres(url: str, n: int, now: datetime) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for tag, count, days in (("old", n, (100, 130)), ("new", RECENT, (0, 20))):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY events FROM STDIN") as copy:
                    for event, _ in rows(count, now, tag, days):
                        copy.write_row(event)
                with cur.copy("COPY deliveries (id, event_id, route, channel, status, priority, attempts,"
                              " created_at, updated_at, first_attempt_at, sent_at, dedup_key) FROM STDIN") as copy:
                    for event, d in rows(count, now, tag, days):
                        if d:
                            t = event[5]
                            copy.write_row((d[0], d[1], "handoff", "hook", "sent", "normal", 1, t, t, t, t, d[2]))
                with cur.copy("COPY attempts FROM STDIN") as copy:
                    for event, d in rows(count, now, tag, days):
                        if d:
                            copy.write_row((d[0], 1, event[5], "sent", "", 12.5))
                with cur.copy("COPY dedup FROM STDIN") as copy:
                    for event, d in rows(count, now, tag, days):
                        if d:
                            copy.write_row((d[2], event[5] + timedelta(minutes=10), 0, d[0]))
        conn.execute("VACUUM ANALYZE")


def run_sql(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("sqlite:///", 1)[1], timeout=30) as conn:
            return conn.execute(sql.replace("%s", "?"), params).fetchall()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


async def load(port: int, rate: float, until: Any, tag: str) -> list[float]:
    """Single-event POSTs at ``rate``/s over 4 connections until ``until()``; each one's latency (s)."""
    latencies: list[float] = []
    counter = iter(range(10**9))
    interval = 4 / rate

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        next_at = time.perf_counter()
        while not until():
            i = next(counter)
            body = orjson.dumps({"kind": "message", "role": "user", "site": "bench.example.com",
                                 "conversation_id": f"{tag}-{i}", "message": f"Question {i} pendant la purge"})
            t0 = time.perf_counter()
            writer.write((f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if int(head.split(b" ", 2)[1]) != 202:
                raise RuntimeError(f"POST answered {head.split(b' ', 2)[1].decode()}")
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        writer.close()

    await asyncio.gather(*(conn() for _ in range(4)))
    return latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000 if len(values) > 1 else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="old events to purge (default 1,000,000)")
    parser.add_argument("--db", default=None, help="an empty PostgreSQL database (default: a SQLite file)")
    parser.add_argument("--postgres", action="store_true", help="start a throwaway PostgreSQL server and use it")
    parser.add_argument("--rate", type=float, default=200.0, help="POSTs per second during both phases")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the phase without a purge")
    args = parser.parse_args()
    server = None
    if args.postgres:
        from tests.pgserver import PgServer

        server = PgServer.find()
        if server is None:
            raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) are needed: install postgresql")
        server.start()
        args.db = server.create_database()
    try:
        await measure(args)
    finally:
        if server is not None:
            server.stop()


async def measure(args: argparse.Namespace) -> None:
    """Build, then measure the API without and during the purge; print the table."""

    work = Path(tempfile.mkdtemp(prefix="notifier-purge-"))
    url = args.db or f"sqlite:///{work}/purge.db"
    (work / "channels.yaml").write_text(CONFIG)
    config = parse_config(CONFIG)
    now = datetime.now(UTC)

    store = store_for(url)
    await store.open()  # an empty database gets the schema
    await store.close()
    t0 = time.perf_counter()
    if url.startswith("sqlite"):
        build_sqlite(work / "purge.db", args.events, now)
    else:
        build_postgres(url, args.events, now)
    built = time.perf_counter() - t0
    counts = {t: run_sql(url, f"SELECT count(*) FROM {t}")[0][0] for t in ("events", "deliveries", "attempts", "dedup")}
    print(f"built in {built:.0f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()), file=sys.stderr)

    day, _ = due_day(config, now)
    claim = ("INSERT INTO purge_runs (day, status, claimed_by, claimed_at, finished_at, removed)"
             " VALUES (%s, 'done', 'bench', %s, %s, NULL)")
    stamp: Any = now.timestamp() if url.startswith("sqlite") else now
    run_sql(url, claim, (day, stamp, stamp))

    def serve() -> tuple[Any, int]:
        port = free_port()
        proc = start(notifier("serve", "--workers", "1", "--config", str(work / "channels.yaml"), "--db", url,
                              "--port", str(port)), env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        return proc, port

    # 1. Without a purge.
    proc, port = serve()
    try:
        warm_end = time.perf_counter() + 2
        await load(port, args.rate, lambda: time.perf_counter() >= warm_end, "warm")
        quiet_end = time.perf_counter() + args.seconds
        quiet = await load(port, args.rate, lambda: time.perf_counter() >= quiet_end, "quiet")
    finally:
        proc.terminate()
        proc.wait(30)

    # 2. During the purge: the claim is gone, the worker purges as it starts.
    run_sql(url, "DELETE FROM purge_runs WHERE day = %s", (day,))
    proc, port = serve()
    done = {"flag": False}

    async def watch() -> None:
        while True:
            row = run_sql(url, "SELECT status FROM purge_runs WHERE day = %s", (day,))
            if row and row[0][0] in ("done", "failed"):
                done["flag"] = True
                return
            await asyncio.sleep(0.5)

    try:
        watcher = asyncio.create_task(watch())
        during = await load(port, args.rate, lambda: done["flag"], "during")
        await watcher
    finally:
        proc.terminate()
        proc.wait(30)
    status, claimed_at, finished_at, removed = run_sql(
        url, "SELECT status, claimed_at, finished_at, removed FROM purge_runs WHERE day = %s", (day,))[0]
    seconds = (finished_at - claimed_at) if url.startswith("sqlite") else (finished_at - claimed_at).total_seconds()
    removed = removed if isinstance(removed, dict) else orjson.loads(removed)
    total = sum(removed["removed"].values())
    left = run_sql(url, "SELECT count(*) FROM events")[0][0]
    size = (work / "purge.db").stat().st_size / 1e6 if url.startswith("sqlite") else None

    backend = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(f"\nMeasured {datetime.now(UTC):%Y-%m-%d} with `python bench/purge.py"
          f"{'' if args.events == 1_000_000 else f' --events {args.events}'}"
          f"{' --postgres' if args.postgres else ''}` ({backend}); "
          f"{os.cpu_count()} cores, Python {platform.python_version()}.\n")
    print("| measure | result |\n|---|---:|")
    print(f"| rows removed ({status}) | {total:,} ({removed['removed']['events']:,} events, "
          f"{removed['removed']['deliveries']:,} deliveries, {removed['removed']['attempts']:,} attempts, "
          f"{removed['removed']['dedup']:,} dedup keys) |")
    print(f"| purge time, reclaiming included | {seconds:.1f} s |")
    print(f"| purge throughput | {total / seconds:,.0f} rows/s "
          f"({removed['removed']['events'] / seconds:,.0f} events/s) |")
    print(f"| API p50 / p99 without a purge ({len(quiet):,} POSTs at {args.rate:g}/s) | "
          f"{pct(quiet, 50):.1f} ms / {pct(quiet, 99):.1f} ms |")
    print(f"| API p50 / p99 during the purge ({len(during):,} POSTs at {args.rate:g}/s) | "
          f"{pct(during, 50):.1f} ms / {pct(during, 99):.1f} ms |")
    print(f"| API max during the purge | {max(during) * 1000:.0f} ms |")
    print(f"| events left (recent + posted) | {left:,} |")
    if size is not None:
        print(f"| database file after the purge | {size:.0f} MB |")


if __name__ == "__main__":
    asyncio.run(main())
