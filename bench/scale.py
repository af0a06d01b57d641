"""Scale-out benchmark: worker and API processes on one PostgreSQL, beside SQLite.

    python bench/scale.py      # prints a table, writes its section of docs/benchmarks.md; ~4 minutes on 2 cores

Everything runs on 127.0.0.1 in separate processes: a throwaway PostgreSQL (``tests/pgserver.py``),
a webhook sink (``python -m tests.sink``), the notifier processes, and this load generator.

* **Deliveries/s with N workers.** N events are accepted and held back (not yet due); N
  ``notifier worker`` processes start and say they are ready; the events are made due at
  once, and the clock runs until every delivery is marked sent in the database.
* **Accepted events/s with K API processes.** K ``notifier serve --no-worker`` processes;
  batches of 100 (4 connections per API) and single-event POSTs (16 connections per API)
  spread evenly over them by a minimal keep-alive HTTP/1.1 client.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spine import CONFIG, RawClient, event, notifier, wait_http  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402
from tests.sink import free_port  # noqa: E402


@dataclass
class Row:
    what: str
    backend: str
    processes: int
    value: float
    unit: str


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {"nproc": nproc, "cpu": cpu, "memory": mem, "python": platform.python_version()}


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def make_due(db: str, delay: float) -> None:
    """Set every pending delivery due in ``delay`` seconds (the benchmark's bookkeeping, not notifier's)."""
    at = time.time() + delay
    if db.startswith("sqlite:"):
        with sqlite3.connect(db.split("sqlite:///", 1)[1]) as conn:
            conn.execute("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending'", (at,))
        return
    import psycopg

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = to_timestamp(%s) WHERE status = 'pending'", (at,))
        conn.execute("NOTIFY notifier_work")


def sent(db: str) -> int:
    sql = "SELECT count(*) FROM deliveries WHERE status = 'sent'"
    if db.startswith("sqlite:"):
        with sqlite3.connect(db.split("sqlite:///", 1)[1]) as conn:
            return int(conn.execute(sql).fetchone()[0])
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


async def delivery_rate(work: Path, db: str, workers: int, n: int, tag: str) -> float:
    from notifier.core.events import Event
    from notifier.service import Service

    config = work / "channels.yaml"
    service = Service(config, db)
    await service.store.open()
    for i in range(0, n, 500):
        await service.accept([Event.model_validate(event(j, tag)) for j in range(i, min(n, i + 500))])
    await service.store.close()
    # Hold the backlog back until every worker is up, so that start-up is not measured.
    make_due(db, 3600)
    logs = [work / f"{tag}-w{i}.log" for i in range(workers)]
    procs = [start(notifier("worker", "--no-digests", "--config", str(config), "--db", db,
                            "--log-level", "warning"), log) for log in logs]
    try:
        deadline = time.monotonic() + 60
        while not all(" started (store " in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"workers did not start: {[log.read_text()[-500:] for log in logs]}")
            time.sleep(0.05)
        time.sleep(1.0)  # let each worker make its first (empty) claim and start listening
        t0 = time.perf_counter()
        make_due(db, 0)
        while (done := sent(db)) < n:
            if time.perf_counter() - t0 > 600:
                raise RuntimeError(f"only {done} of {n} delivered")
            time.sleep(0.05)
        return n / (time.perf_counter() - t0)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


async def accept_rate(work: Path, db: str, apis: int, batches: int, single: int, tag: str) -> tuple[float, float]:
    ports = [free_port() for _ in range(apis)]
    procs = [start(notifier("serve", "--no-worker", "--config", str(work / "channels.yaml"), "--db", db,
                            "--port", str(port), "--log-level", "warning"), work / f"{tag}-api{port}.log")
             for port in ports]
    try:
        for port in ports:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        clients = [RawClient(port, "/v1/events") for port in ports]

        async def spread(bodies: list[bytes], per_api: int) -> float:
            t0 = time.perf_counter()
            results = await asyncio.gather(*(c.run(bodies[k::apis], per_api) for k, c in enumerate(clients)))
            bad = sum(b for _, b in results)
            if bad:
                raise RuntimeError(f"{bad} posts were not accepted")
            return time.perf_counter() - t0

        await spread([orjson.dumps(event(i, f"{tag}-warm")) for i in range(200)], 4)
        took = await spread([orjson.dumps([event(b * 100 + i, f"{tag}-batch") for i in range(100)])
                             for b in range(batches)], 4)
        batched = batches * 100 / took
        took = await spread([orjson.dumps(event(i, f"{tag}-single")) for i in range(single)], 16)
        return batched, single / took
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)


def table(rows: list[Row]) -> list[str]:
    out = ["| measure | store | processes | result |", "|---|---|---:|---:|"]
    for r in rows:
        out.append(f"| {r.what} | {r.backend} | {r.processes} | {r.value:,.0f} {r.unit} |")
    return out


#: The part of docs/benchmarks.md this script writes; the rest of the page is the other benches'.
BEGIN, END = "<!-- bench/scale.py: begin -->", "<!-- bench/scale.py: end -->"


def write_doc(path: Path, rows: list[Row], info: dict[str, str], args: argparse.Namespace, pg_version: str) -> None:
    lines = [
        BEGIN,
        "## Scale-out: processes and backends",
        "",
        f"Measured on {date.today().isoformat()} with `python bench/scale.py`, which writes this section",
        "(between its two markers; the rest of the page is left as it is): run it again to refresh it.",
        "",
        "### The machine",
        "",
        f"- `nproc`: {info['nproc']}",
        f"- CPU: {info['cpu']}",
        f"- memory: {info['memory']}",
        f"- Python {info['python']}, {pg_version}",
        "",
        "Everything ran on this one machine at once: PostgreSQL, the webhook sink (its own process),",
        "the notifier processes and the load generator. With 2 cores, more processes than cores",
        "compete for the same CPUs: the figures for 4 workers (and for 2 API processes) show the",
        "contention of one small machine, not what 4 workers on their own machines would do.",
        "The test PostgreSQL runs with `fsync=off` and `synchronous_commit=off` (a throwaway",
        "cluster); a production server with durable commits pays a WAL flush per transaction.",
        "",
        "### Results",
        "",
        *table(rows),
        "",
        "### Reading the figures",
        "",
        "- A worker's cost is CPU: the HTTP request (aiohttp) and its own bookkeeping around it",
        "  (claiming, decoding the event, recording the outcome). Here the two cores are shared by",
        "  the workers, the sink and PostgreSQL, so more workers only share the same CPUs; on",
        "  separate machines each worker brings its own.",
        "- Accepting scales with API processes for batches (one transaction per request, most of",
        "  the work in PostgreSQL); single POSTs are bound by the load generator and HTTP parsing",
        "  on the same two cores.",
        "- SQLite is faster on one machine (no network round trip, no second process); PostgreSQL",
        "  is what lets several machines share the work.",
        "",
        "### Method",
        "",
        f"- **Deliveries/s**: {args.deliveries:,} support requests are accepted, each routed to one webhook",
        f"  channel (concurrency {args.concurrency}) posting to the local sink. They are held back until",
        "  every worker process has started, then made due at once; the clock stops when the database",
        "  counts them all `sent` (each marked sent only after the sink answered 200).",
        f"- **Accepted events/s**: {args.batches} batches of 100 events (4 keep-alive connections per API",
        f"  process), then {args.single:,} single-event POSTs (16 connections per API process), spread",
        "  evenly over the API processes by one load-generator process; every answer was `202`.",
        "- Each notifier process holds at most 4 PostgreSQL connections (its pool) plus, for a",
        "  worker, one that listens for new work.",
        "",
        END,
    ]
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5_000)
    parser.add_argument("--batches", type=int, default=100, help="batches of 100 events")
    parser.add_argument("--single", type=int, default=3_000, help="single-event POSTs")
    parser.add_argument("--concurrency", type=int, default=8, help="webhook sends in flight per worker")
    parser.add_argument("--doc", default=str(ROOT / "docs" / "benchmarks.md"), help="where to write the page")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    args = parser.parse_args()

    info = machine()
    server = PgServer.find()
    if server is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) are needed: install postgresql")
    pg_version = subprocess.run([str(server.bindir / "postgres"), "--version"], capture_output=True,
                                text=True).stdout.strip()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sink_port = free_port()
        sink = start([sys.executable, "-m", "tests.sink", str(sink_port)], work / "sink.log")
        server.start()
        try:
            wait_http(f"http://127.0.0.1:{sink_port}/_stats")
            (work / "channels.yaml").write_text(CONFIG.format(sink=sink_port, conc=args.concurrency))
            rate = await delivery_rate(work, f"sqlite:///{work}/deliver.db", 1, args.deliveries, "sq")
            rows.append(Row("deliveries", "SQLite", 1, rate, "deliveries/s"))
            for n in (1, 2, 4):
                rate = await delivery_rate(work, server.create_database(), n, args.deliveries, f"pg{n}")
                rows.append(Row("deliveries", "PostgreSQL", n, rate, "deliveries/s"))
                print(f"  {n} worker(s): {rate:,.0f} deliveries/s", file=sys.stderr)
            batched, single = await accept_rate(work, f"sqlite:///{work}/accept.db", 1, args.batches,
                                                args.single, "sqa")
            accepted = [Row("accepted, batches of 100", "SQLite", 1, batched, "events/s"),
                        Row("accepted, single POSTs", "SQLite", 1, single, "events/s")]
            for k in (1, 2):
                batched, single = await accept_rate(work, server.create_database(), k, args.batches,
                                                    args.single, f"pga{k}")
                accepted += [Row("accepted, batches of 100", "PostgreSQL", k, batched, "events/s"),
                             Row("accepted, single POSTs", "PostgreSQL", k, single, "events/s")]
                print(f"  {k} API(s): {batched:,.0f} batched, {single:,.0f} single events/s", file=sys.stderr)
            rows += sorted(accepted, key=lambda r: (r.what, r.backend != "SQLite", r.processes))
        finally:
            server.stop()
            sink.terminate()
            sink.wait(10)
    print(f"\nnotifier scale-out benchmark — {info['nproc']} cores ({info['cpu']}), {info['memory']}, "
          f"Python {info['python']}, {pg_version}")
    width = max(len(f"{r.what} ({r.backend}, {r.processes})") for r in rows)
    for r in rows:
        label = f"{r.what} ({r.backend}, {r.processes})"
        print(f"  {label:<{width}}  {r.value:>10,.0f} {r.unit}")
    if not args.no_doc:
        write_doc(Path(args.doc), rows, info, args, pg_version)
        print(f"\nwritten to {args.doc}")


if __name__ == "__main__":
    asyncio.run(main())
