"""Benchmark of the spine: accept rate, end-to-end delivery rate, accept-to-delivered latency.

    python bench/spine.py            # prints a table; ~1 minute on 2 cores

Everything runs on 127.0.0.1 in separate processes: the notifier API (``notifier serve``),
the worker (``notifier worker``), a webhook sink (``bench/receiver.py``, lean, so that a
receiver sharing the two cores takes as little of them as it can: a real one runs elsewhere),
and this load generator (a minimal keep-alive HTTP/1.1 client, so that the client is not
what is measured). The baseline is
raw aiohttp posting the same payloads to the same sink with the same concurrency, in the
same run, on uvloop (this process runs on it): the fastest client written in Python, at its
fastest (20% less CPU per post than aiohttp on asyncio's own loop). Raw pyreqwest (Rust's
reqwest, what the webhook channel sends with, the fastest client of ``bench/http_clients.py``)
is measured beside it, and each delivery rate is given against both. The same comparison is
made with a second sink that takes 50 ms to answer each request (a remote service). Then the
adaptive concurrency: 5,000 events to a 50 ms sink with no concurrency setting (time to all
delivered), and 1,000 to one that also answers 429 to every 5th request (`--only-adaptive`
runs just these).
When ``prometheus-alertmanager`` is installed, the same 20,000 events are also delivered
by Alertmanager and by ``notifier serve`` to the same sink (``bench/alertmanager.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.sink import free_port  # noqa: E402

CONFIG = """
version: 1
defaults: {{timezone: UTC, dedup: {{window: 0s}}, retry: {{attempts: 5, backoff: 100ms}}}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", concurrency: {conc}, timeout: 10s}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def event(i: int, tag: str) -> dict[str, object]:
    return {"kind": "support_request", "site": "bench.example.com", "conversation_id": f"{tag}-{i}",
            "id": f"{tag}-{i}", "message": "Bonjour, je voudrais parler à un conseiller au sujet de ma commande",
            "page": {"url": "https://bench.example.com/cart", "title": "Panier"},
            "user": {"name": "Bench", "email": "bench@example.com", "consent": True}}


class RawClient:
    """Keep-alive HTTP/1.1 POSTs over a few connections; cheap enough not to be the bottleneck."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path

    def request(self, body: bytes) -> bytes:
        return (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def run(self, bodies: list[bytes], connections: int) -> tuple[float, int]:
        queue = list(reversed(bodies))
        bad = 0

        async def conn() -> None:
            nonlocal bad
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            while queue:
                writer.write(self.request(queue.pop()))
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if status != 202:
                    bad += 1
            writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(conn() for _ in range(connections)))
        return time.perf_counter() - t0, bad


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started (every thread's children)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def wait_workers(db: Path, serve: subprocess.Popen[bytes], workers: int | None = None,
                 timeout: float = 60) -> None:
    """Until every worker process ``serve`` runs beside its API has started: each writes its
    run file (``<database>.run/<pid>.json``) just before it takes work.

    ``/healthz`` answers as soon as the API listens, a second or more before a worker process
    has imported everything; and a warm-up event proves nothing, since the API's own worker
    may deliver it. What the benches measure is notifier running, not a process starting.
    """
    from notifier.worker_processes import default_workers

    expected = (workers or default_workers(f"sqlite:///{db}")) - 1
    run = db.with_name(db.name + ".run")
    deadline = time.monotonic() + timeout
    while True:
        started = [pid for pid in children_of(serve.pid) if (run / f"{pid}.json").exists()]
        if len(started) >= expected:
            return
        if serve.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{len(started)} of {expected} worker processes started")
        time.sleep(0.05)


def sink_stats(port: int) -> list[list[object]]:
    return httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=30).json()  # type: ignore[no-any-return]


def notifier(*args: str) -> list[str]:
    return [sys.executable, "-m", "notifier.cli", *args]


async def accept_rate(work: Path, single: int, batches: int) -> tuple[float, float]:
    port = free_port()
    db = f"sqlite:///{work}/accept.db"
    api = start(notifier("serve", "--no-worker", "--config", str(work / "channels.yaml"), "--db", db,
                         "--port", str(port)))
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        client = RawClient(port, "/v1/events")
        warm = [orjson.dumps(event(i, "warm")) for i in range(200)]
        await client.run(warm, 8)
        bodies = [orjson.dumps(event(i, "single")) for i in range(single)]
        took, bad = await client.run(bodies, 16)
        assert bad == 0, f"{bad} single posts failed"
        single_rate = single / took
        batch_bodies = [orjson.dumps([event(b * 100 + i, "batch") for i in range(100)]) for b in range(batches)]
        took, bad = await client.run(batch_bodies, 4)
        assert bad == 0, f"{bad} batch posts failed"
        return single_rate, batches * 100 / took
    finally:
        api.terminate()
        api.wait(10)


async def baseline(sink_port: int, n: int, conc: int) -> float:
    """Raw aiohttp posts/s to the sink with ``conc`` requests in flight over ``conc``
    connections (the webhook channel's concurrency): the Python limit for this receiver."""
    bodies = [orjson.dumps({"event": event(i, "raw"), "delivery_id": f"raw-{i}"}) for i in range(n)]
    queue = list(bodies)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:
        async def one() -> None:
            while queue:
                body = queue.pop()
                async with session.post(f"http://127.0.0.1:{sink_port}/hook", data=body,
                                        headers={"Content-Type": "application/json",
                                                 "Idempotency-Key": "x"}) as r:
                    await r.read()
                    r.raise_for_status()
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conc)))
        return n / (time.perf_counter() - t0)


def has_pyreqwest() -> bool:
    """Whether raw pyreqwest can be measured beside raw aiohttp."""
    try:
        import pyreqwest  # noqa: F401
    except ImportError:
        return False
    return True


async def baseline_pyreqwest(sink_port: int, n: int, conc: int) -> float:
    """Raw pyreqwest posts/s to the sink, as :func:`baseline`."""
    from pyreqwest.client import ClientBuilder

    bodies = [orjson.dumps({"event": event(i, "raw"), "delivery_id": f"raw-{i}"}) for i in range(n)]
    queue = list(bodies)
    url = f"http://127.0.0.1:{sink_port}/hook"
    headers = {"Content-Type": "application/json", "Idempotency-Key": "x"}
    async with ClientBuilder().max_connections(conc).error_for_status(True).build() as client:
        async def one() -> None:
            while queue:
                answer = await client.post(url).body_bytes(queue.pop()).headers(headers).build().send()
                await answer.bytes()
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(conc)))
        return n / (time.perf_counter() - t0)


async def delivery_rate(work: Path, sink_port: int, n: int, tag: str = "r0",
                        config: str = "channels.yaml", processes: int = 1) -> float:
    """Deliveries/s of ``processes`` worker processes (as ``serve --workers`` runs them beside
    its API) draining ``n`` accepted events, from the first arrival at the sink to the last.

    A process's start-up (imports included) is not the delivery rate, and processes start a
    few hundred milliseconds apart: the backlog is held back (due in an hour) until every
    process has started (its run file written), then made due in 0.3 s, so that all of them
    start sending at once, as the workers of a running ``serve`` do when a burst arrives.
    """
    path = work / f"deliver-{tag}.db"
    db = f"sqlite:///{path}"
    from notifier.core.events import Event
    from notifier.service import Service

    service = Service(work / config, db)
    await service.store.open()
    for start_i in range(0, n, 500):
        await service.accept([Event.model_validate(event(i, f"e2e{tag}"))
                              for i in range(start_i, min(n, start_i + 500))])
    await service.store.close()

    def due_at(at: float) -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as c, c:
            c.execute("UPDATE deliveries SET next_attempt_at = ? WHERE status = 'pending'", (at,))

    due_at(time.time() + 3600)
    before = int(httpx.get(f"http://127.0.0.1:{sink_port}/_summary", timeout=30).json()["requests"])
    procs = [start(notifier("worker", "--no-digests", "--config", str(work / config), "--db", db,
                            "--log-level", "warning")) for _ in range(processes)]
    try:
        run = path.with_name(path.name + ".run")
        deadline = time.monotonic() + 60
        while not all((run / f"{p.pid}.json").exists() for p in procs):
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError("the worker processes did not start")
            time.sleep(0.05)
        due_at(time.time() + 0.3)
        deadline = time.monotonic() + 300
        # The sink's count, not its list: 10,000 entries fetched every 200 ms would take a share
        # of the cores from the workers being measured.
        while (got := int(httpx.get(f"http://127.0.0.1:{sink_port}/_summary", timeout=30).json()["requests"])
               - before) < n:
            if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                raise RuntimeError(f"{got} of {n} delivered")
            time.sleep(0.2)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    times = sorted(float(at) for _, at, eid in sink_stats(sink_port) if str(eid).startswith(f"e2e{tag}-"))
    if len(times) != n:
        raise RuntimeError(f"{len(times)} deliveries of {n} events")
    return (len(times) - 1) / (times[-1] - times[0])


async def latency(work: Path, sink_port: int, rate: float, seconds: float,
                  workers: int | None = None) -> tuple[float, float, int]:
    port = free_port()
    db = f"sqlite:///{work}/latency.db"
    api = start(notifier("serve", "--config", str(work / "channels.yaml"), "--db", db, "--port", str(port),
                         "--log-level", "warning", *(["--workers", str(workers)] if workers else [])))
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        wait_workers(work / "latency.db", api, workers)
        # The steady state, not the start: a first event has been delivered.
        warm = event(0, "latwarm")
        before = len(sink_stats(sink_port))
        httpx.post(f"http://127.0.0.1:{port}/v1/events", json=warm, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while len(sink_stats(sink_port)) == before:
            assert time.monotonic() < deadline, "the warm-up event was never delivered"
            time.sleep(0.05)
        before = len(sink_stats(sink_port))
        posted: dict[str, float] = {}
        n = int(rate * seconds)
        client = RawClient(port, "/v1/events")
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(8):
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))

        async def post(body: bytes) -> None:
            reader, writer = await idle.get()
            writer.write(client.request(body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            idle.put_nowait((reader, writer))

        t0 = time.perf_counter()
        pending = []
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load at a steady rate
            ev = event(i, "lat")
            posted[str(ev["id"])] = time.time()
            pending.append(asyncio.create_task(post(orjson.dumps(ev))))
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 30
        while True:
            stats = sink_stats(sink_port)
            if len(stats) - before >= n or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lat = sorted((float(at) - posted[str(eid)]) * 1000 for _, at, eid in stats if str(eid) in posted)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return p50, p99, len(lat)
    finally:
        api.terminate()
        api.wait(10)


async def compare(work: Path, sink_port: int, n: int, conc: int, rounds: int, tag: str,
                  config: str = "channels.yaml", processes: int = 1) -> tuple[float, float, float, str]:
    """Medians of raw aiohttp, raw pyreqwest (0 when it is not installed) and notifier's
    delivery to one sink, in alternated rounds (the machine is shared and noisy), and each
    round's ratio to raw aiohttp. With several worker processes, each sending ``conc`` at
    once, the raw clients send ``conc`` times as many at once."""
    raws, fastest, e2es = [], [], []
    for r in range(rounds):
        raws.append(await baseline(sink_port, n, conc * processes))
        if has_pyreqwest():
            fastest.append(await baseline_pyreqwest(sink_port, n, conc * processes))
        e2es.append(await delivery_rate(work, sink_port, n, f"{tag}{r}", config, processes))
    per_round = ", ".join(f"{b / a:.0%}" for a, b in zip(raws, e2es, strict=True))
    return statistics.median(raws), statistics.median(fastest or [0.0]), statistics.median(e2es), per_round


#: The receiver the benches start: ``bench/receiver.py``, or ``tests.sink`` (``--sink``) to
#: compare with the figures measured before the benches had a receiver of their own.
SINK = "bench.receiver"


def start_sink(port: int, latency: float = 0.0, refuse_every: int = 0) -> subprocess.Popen[bytes]:
    """The webhook receiver (:data:`SINK`) on ``port``, in a process of its own."""
    program = [str(ROOT / "bench" / "receiver.py")] if SINK == "bench.receiver" else ["-m", SINK]
    return subprocess.Popen([sys.executable, *program, str(port), str(latency), str(refuse_every)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ----------------------------------------------------------------- adaptive concurrency
#: A webhook with no concurrency setting: the limit adapts between the defaults (1..64).
ADAPTIVE_CONFIG = """
version: 1
defaults: {{timezone: UTC, dedup: {{window: 0s}}, retry: {{attempts: 20, backoff: 100ms, max_backoff: 2s}}}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", timeout: 10s}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


def sink_summary(port: int, reset: bool = False) -> dict[str, Any]:
    path = "/_reset" if reset else "/_summary"
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30).json()  # type: ignore[no-any-return]


async def until_delivered(work: Path, port: int, n: int, tag: str, timeout: float = 300) -> dict[str, Any]:
    """Accept ``n`` events for the sink on ``port``, run a worker process (defaults only)
    until the sink answered all of them 200, and say how long that took and what the sink saw.

    A long-running worker rather than ``--burst``: deliveries answered 429 come back later.
    """
    from notifier.core.events import Event
    from notifier.service import Service

    (work / f"{tag}.yaml").write_text(ADAPTIVE_CONFIG.format(sink=port))
    db = f"sqlite:///{work}/{tag}.db"
    service = Service(work / f"{tag}.yaml", db)
    await service.store.open()
    for start_i in range(0, n, 500):
        await service.accept([Event.model_validate(event(i, tag)) for i in range(start_i, min(n, start_i + 500))])
    await service.store.close()
    sink_summary(port, reset=True)
    began = time.time()
    worker = start(notifier("worker", "--no-digests", "--config", str(work / f"{tag}.yaml"), "--db", db,
                            "--log-level", "warning"))
    try:
        deadline = time.monotonic() + timeout
        while (summary := sink_summary(port))["statuses"].get("200", 0) < n:
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError(f"{tag}: not all delivered: {summary}")
            await asyncio.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    summary["wall"] = summary["last_ok"] - began  # worker start-up (imports, store) included
    summary["delivering"] = summary["last_ok"] - summary["first"]
    return summary


async def adaptive(work: Path, slow_port: int, limited_port: int, n: int, n_limited: int) -> list[tuple[str, str, str]]:
    """A receiver that takes 50 ms per answer, and one that also answers 429 to every 5th
    request: the worker with no concurrency setting, its limit adapting to each."""
    rows: list[tuple[str, str, str]] = []
    if n:
        sink_summary(slow_port, reset=True)
        raw = await baseline(slow_port, n, 64)
        slow = await until_delivered(work, slow_port, n, "adaptive")
        rows.append(("50 ms sink: raw aiohttp, concurrency 64", f"{raw:,.0f} posts/s",
                     f"{n:,} posts in {n / raw:.1f} s (64: the default max_concurrency)"))
        rows.append((f"50 ms sink: {n:,} events, no concurrency setting", f"{slow['delivering']:.1f} s",
                     f"first to last delivery (target <= 12 s); {slow['wall']:.1f} s from the worker's start; "
                     f"at most {slow['peak_in_flight']} in flight"))
        rows.append(("50 ms sink not the bottleneck", "yes" if n / raw < slow["delivering"] else "NO",
                     f"raw aiohttp {n / raw:.1f} s for the same posts"))
    if n_limited:
        limited = await until_delivered(work, limited_port, n_limited, "throttled")
        refused = limited["statuses"].get("429", 0)
        rows.append((f"50 ms sink, 429 to every 5th: {n_limited:,} events", f"{limited['delivering']:.1f} s",
                     f"{refused:,} answered 429, retried; at most {limited['peak_in_flight']} in flight"))
    return rows


async def run_adaptive(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """The adaptive-concurrency scenarios, each with a sink of its own."""
    if not (args.adaptive_deliveries or args.throttled_deliveries):
        return []
    slow_port, limited_port = free_port(), free_port()
    sinks = [start_sink(slow_port, 0.05), start_sink(limited_port, 0.05, 5)]
    try:
        wait_http(f"http://127.0.0.1:{slow_port}/_summary")
        wait_http(f"http://127.0.0.1:{limited_port}/_summary")
        with tempfile.TemporaryDirectory() as tmp:
            return await adaptive(Path(tmp), slow_port, limited_port, args.adaptive_deliveries,
                                  args.throttled_deliveries)
    finally:
        for sink in sinks:
            sink.terminate()
            sink.wait(10)


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    load = os.getloadavg()[0]
    print(f"\nnotifier spine benchmark — {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" load average {load:.1f}")
    if load > (os.cpu_count() or 1):
        print("  (the machine was busy with other work: absolute figures are low; read the ratios)")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>18}  {note}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=6000, help="single-event POSTs")
    parser.add_argument("--batches", type=int, default=100, help="batches of 100 events")
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8, help="webhook concurrency (and baseline's)")
    parser.add_argument("--rounds", type=int, default=3, help="delivery rounds (median reported)")
    parser.add_argument("--slow-deliveries", type=int, default=2000,
                        help="deliveries to the sink that takes 50 ms per answer (0: skip)")
    parser.add_argument("--slow-rounds", type=int, default=1)
    parser.add_argument("--adaptive-deliveries", type=int, default=5000,
                        help="events to the 50 ms sink with no concurrency setting (0: skip)")
    parser.add_argument("--throttled-deliveries", type=int, default=1000,
                        help="events to a 50 ms sink answering 429 to every 5th request (0: skip)")
    parser.add_argument("--only-adaptive", action="store_true", help="run only the adaptive-concurrency scenarios")
    parser.add_argument("--alertmanager", type=int, default=20_000, metavar="N",
                        help="events for the comparison with Prometheus Alertmanager, when installed (0: skip)")
    parser.add_argument("--workers", type=int, default=None,
                        help="`notifier serve --workers` for the latency and Alertmanager runs (default: its own)")
    parser.add_argument("--only-latency", action="store_true", help="run only the accept-to-delivered latency")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sink", choices=["bench.receiver", "tests.sink"], default="bench.receiver",
                        help="the webhook receiver: the benches' lean one, or the test suite's (uvicorn)")
    args = parser.parse_args()
    global SINK
    SINK = args.sink
    if args.only_adaptive:
        print_rows(await run_adaptive(args))
        return

    sink_port, slow_port = free_port(), free_port()
    sinks = [start_sink(sink_port), start_sink(slow_port, 0.05)]
    rows: list[tuple[str, str, str]] = []
    try:
        wait_http(f"http://127.0.0.1:{sink_port}/_stats")
        wait_http(f"http://127.0.0.1:{slow_port}/_stats")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "channels.yaml").write_text(CONFIG.format(sink=sink_port, conc=args.concurrency))
            (work / "slow.yaml").write_text(CONFIG.format(sink=slow_port, conc=args.concurrency))
            if not args.only_latency:
                single, batched = await accept_rate(work, args.single, args.batches)
                rows.append(("accepted, single-event POSTs", f"{single:,.0f} events/s", ">= 1,500"))
                rows.append(("accepted, batches of 100", f"{batched:,.0f} events/s", ">= 5,000"))
                raw, rq, e2e, rounds = await compare(work, sink_port, args.deliveries, args.concurrency,
                                                     args.rounds, "r")
                rows.append((f"raw aiohttp to the sink, concurrency {args.concurrency}", f"{raw:,.0f} posts/s",
                             f"what the channel sends with; median of {args.rounds}"))
                if rq:
                    rows.append((f"raw pyreqwest to the sink, concurrency {args.concurrency}", f"{rq:,.0f} posts/s",
                                 f"median of {args.rounds}"))
                rows.append(("delivered end to end (one worker process)", f"{e2e:,.0f} events/s",
                             f"{e2e / raw:.0%} of raw aiohttp (target >= 80%)"
                             f"{f', {e2e / rq:.0%} of raw pyreqwest' if rq else ''}; rounds: {rounds}"))
                rows.append(("receiver not the bottleneck", "yes" if max(raw, rq) > e2e else "NO",
                             f"the sink serves the fastest raw client {max(raw, rq) / e2e:.1f}x notifier's "
                             "delivery rate"))
                from notifier.worker_processes import default_workers

                if (processes := args.workers or default_workers("sqlite:")) > 1:
                    conc = args.concurrency * processes
                    raw, rq, e2e, rounds = await compare(work, sink_port, args.deliveries, args.concurrency,
                                                         args.rounds, "p", processes=processes)
                    rows.append((f"raw aiohttp to the sink, concurrency {conc}", f"{raw:,.0f} posts/s",
                                 f"median of {args.rounds}"))
                    if rq:
                        rows.append((f"raw pyreqwest to the sink, concurrency {conc}", f"{rq:,.0f} posts/s",
                                     f"median of {args.rounds}"))
                    rows.append((f"delivered end to end ({processes} worker processes, as serve)",
                                 f"{e2e:,.0f} events/s",
                                 f"{e2e / raw:.0%} of raw aiohttp{f', {e2e / rq:.0%} of raw pyreqwest' if rq else ''}"
                                 f" at concurrency {conc}; rounds: {rounds}"))
                if args.slow_deliveries:
                    n = args.slow_deliveries
                    raw, _, e2e, rounds = await compare(work, slow_port, n, args.concurrency, args.slow_rounds, "s",
                                                        "slow.yaml")
                    rows.append((f"50 ms sink: raw aiohttp, concurrency {args.concurrency}", f"{raw:,.0f} posts/s",
                                 f"{n:,} posts in {n / raw:.1f} s"))
                    rows.append(("50 ms sink: delivered end to end", f"{e2e:,.0f} events/s",
                                 f"{e2e / raw:.0%} of raw aiohttp; {n:,} in {n / e2e:.1f} s "
                                 f"(limit starting at {args.concurrency}, adaptive); rounds: {rounds}"))
                if args.alertmanager:  # bench/alertmanager.py: the same events through both, same receiver
                    from alertmanager import compare as against_alertmanager

                    rows += await against_alertmanager(sink_port, args.alertmanager, workers=args.workers)
            p50, p99, count = await latency(work, sink_port, args.rate, args.seconds, args.workers)
            rows.append((f"accept-to-delivered at {args.rate:.0f}/s, p50", f"{p50:.1f} ms", f"{count} events"))
            rows.append((f"accept-to-delivered at {args.rate:.0f}/s, p99", f"{p99:.1f} ms", "<= 50 ms"))
    finally:
        for sink in sinks:
            sink.terminate()
            sink.wait(10)
    if not args.only_latency:
        rows += await run_adaptive(args)
    print_rows(rows)


if __name__ == "__main__":
    import uvloop  # with uvicorn[standard]: the raw aiohttp baseline at its fastest

    uvloop.run(main())
