"""Notifier against Prometheus Alertmanager: the same events to the same receiver, in the same run.

    python bench/alertmanager.py --events 20000     # or as part of bench/spine.py

Alertmanager (Debian's ``prometheus-alertmanager``, Go, alerts kept in memory) gets the
events as alerts posted to its v2 API in batches of 500; its route groups by every label
(``group_by: ['...']``), so each alert is a notification of its own, with small
``group_wait``/``group_interval``, to a webhook receiver. Notifier (``notifier serve``,
SQLite, synchronous durable commits, its default worker processes) gets the same events
posted to ``/v1/events`` in batches of 500, routed to a webhook channel on the same
receiver. For each: the time from the first post to the last notification received (and
to the last post answered: what is delivered after it was held back by accepting), and
the peak resident memory (``VmHWM``) of its processes (for notifier, the API's and its
workers', added up). Resident sizes added up count each shared library once per process, so
the proportional set size (``Pss``: a shared page divided among the processes mapping it),
sampled every 0.5 s, is reported beside it. And the CPU seconds each contender's processes
spent from the first post to the last delivery (``/proc/PID/stat``): on a shared machine,
less disturbed by other work than the times.

Each contender is started and warmed up first: one alert (one event) posted and delivered
before the clock starts, so neither run counts its own start (notifier's worker processes
start beside its API). ``--rounds R`` runs the two R times, each first in every other round;
medians are reported, and each round's own ratio.

``--states`` says what each of notifier's processes waited for (see :func:`sample_states`).
Its sampling takes a share of the two cores during notifier's runs only: it slows them
(by a tenth here), so time rounds without it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spine import children_of, start_sink, wait_workers  # noqa: E402
from tests.sink import free_port  # noqa: E402

ALERTMANAGER = "prometheus-alertmanager"
#: ``--timeline``: print each run's deliveries per 200 ms (see :func:`timeline`).
TIMELINE = False
#: ``--states``: print what notifier's processes waited for (see :func:`sample_states`).
STATES = False

AM_CONFIG = """
route:
  receiver: hook
  group_by: ['...']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{sink}/hook
        send_resolved: false
"""

NOTIFIER_CONFIG = """
version: 1
defaults: {{timezone: UTC, dedup: {{window: 0s}}, retry: {{attempts: 5, backoff: 100ms}}}}
channels:
  hook: {{type: webhook, url: "http://127.0.0.1:{sink}/hook", timeout: 10s}}
routes:
  - name: all
    match: {{kinds: [support_request]}}
    to: [hook]
"""


@dataclass
class Run:
    """One contender's result."""

    name: str
    seconds: float
    delivered: int
    peak_rss_mb: float
    peak_pss_mb: float
    cpu_seconds: float
    #: Of ``cpu_seconds``, the first process's: notifier serve's API (and the worker it runs).
    first_cpu_seconds: float
    #: ``cpu_seconds`` by kind of thread (see :func:`thread_cpu`).
    threads: dict[str, float] = field(default_factory=dict)
    #: Seconds from the first post until the last one was answered (all accepted).
    posted: float = 0.0


def event(i: int, tag: str) -> dict[str, object]:
    return {"kind": "support_request", "site": "bench.example.com", "conversation_id": f"{tag}-{i}",
            "id": f"{tag}-{i}", "message": "Bonjour, je voudrais parler à un conseiller au sujet de ma commande",
            "page": {"url": "https://bench.example.com/cart", "title": "Panier"},
            "user": {"name": "Bench", "email": "bench@example.com", "consent": True}}


def alert(i: int, tag: str, now: datetime) -> dict[str, object]:
    """The same event as an Alertmanager alert: what identifies it in labels, the text in annotations."""
    ev = event(i, tag)
    return {"labels": {"alertname": "support_request", "site": ev["site"], "conversation_id": ev["conversation_id"],
                       "id": ev["id"]},
            "annotations": {"message": ev["message"], "page": "https://bench.example.com/cart",
                            "user": "Bench <bench@example.com>"},
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat()}


def _status_mb(pids: list[int], file: str, field: str) -> float:
    """The sum of ``field`` (kB) in ``/proc/PID/file`` over ``pids``, in MB (a process gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def peak_rss_mb(pids: list[int]) -> float:
    """The sum of the peak resident set sizes (``VmHWM``) of ``pids``, in MB."""
    return _status_mb(pids, "status", "VmHWM:")


def pss_mb(pids: list[int]) -> float:
    """The sum of the proportional set sizes (``Pss``) of ``pids`` now, in MB."""
    return _status_mb(pids, "smaps_rollup", "Pss:")


async def peak_pss(pids: Callable[[], list[int]], until: asyncio.Event) -> float:
    """The highest :func:`pss_mb` of ``pids()`` seen every 0.5 s until ``until`` is set."""
    peak = 0.0
    while not until.is_set():
        peak = max(peak, pss_mb(pids()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), 0.5)
    return max(peak, pss_mb(pids()))


def _stat_cpu(stat: str) -> float:
    """User + system CPU seconds in a ``/proc/…/stat`` file (fields 14 and 15); ``OSError`` when gone."""
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds spent so far by ``pids`` (every thread of each)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += _stat_cpu(f"/proc/{pid}/stat")
    return total


def thread_cpu(pids: list[int]) -> dict[str, float]:
    """CPU seconds spent so far by the threads of ``pids``, by kind: each process's main
    thread (notifier's event loop), the HTTP client's threads (pyreqwest's tokio runtime,
    named ``pyreqwest``), and the others (SQLite's writer and checkpointer, executors)."""
    out = {"loops": 0.0, "HTTP client": 0.0, "other": 0.0}
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                name = Path(f"/proc/{pid}/task/{task}/comm").read_text().strip()
                kind = "loops" if int(task) == pid else "HTTP client" if name.startswith("pyreqwest") else "other"
                out[kind] += _stat_cpu(f"/proc/{pid}/task/{task}/stat")
    return out


def received(sink: int) -> int:
    """Requests the sink got so far: its summary, a few bytes however many arrived.

    Its full list (``/_stats``, 20,000 entries) polled every 50 ms would take a share of
    the two cores from whichever contender is being measured.
    """
    return int(httpx.get(f"http://127.0.0.1:{sink}/_summary", timeout=60).json()["requests"])


async def post_batches(url: str, batches: list[bytes], connections: int, ok: int) -> None:
    queue = list(reversed(batches))
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=connections)) as client:
        async def one() -> None:
            while queue:
                r = await client.post(url, content=queue.pop(), headers={"Content-Type": "application/json"})
                if r.status_code != ok:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:300]}")
        await asyncio.gather(*(one() for _ in range(connections)))


async def wait_received(sink: int, target: int, started: float, timeout: float) -> float:
    """Seconds from ``started`` until the sink holds ``target`` requests (polled every 50 ms)."""
    while True:
        if received(sink) >= target:
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"only {received(sink)} of {target} delivered after {timeout:.0f} s")
        await asyncio.sleep(0.05)


def timeline(sink: int, since: float, step: float = 0.2) -> str:
    """The requests the sink received after ``since`` (``time.time()``), counted per ``step``
    seconds: how the deliveries went while the posts were accepted, and after."""
    arrivals = [entry[1] - since for entry in httpx.get(f"http://127.0.0.1:{sink}/_stats", timeout=60).json()
                if entry[1] >= since]
    counts = [0] * (int(max(arrivals, default=0) / step) + 1)
    for at in arrivals:
        counts[int(at / step)] += 1
    return " ".join(str(c) for c in counts)


def sample_states(pids: list[int], done: threading.Event, into: dict[int, Counter[str]]) -> None:
    """Every 3 ms until ``done``, what each process of ``pids`` is doing, counted in ``into``
    by process: its main thread (the event loop) ``running`` (or waiting for a core), or
    ``waiting on its loop`` (asleep in ``epoll_wait``: nothing to do until a send's answer,
    a commit or a timer); and whether any of its threads is ``waiting for the write lock``
    (asleep in ``nanosleep``: SQLite's busy handler retrying while another process holds
    the database's one write lock). Read from ``/proc/PID/task/TID/stat`` and ``wchan``.
    """
    while not done.wait(0.003):
        for pid in pids:
            seen = into.setdefault(pid, Counter())
            with contextlib.suppress(OSError):  # a process or thread gone meanwhile
                for task in os.listdir(f"/proc/{pid}/task"):
                    stat = Path(f"/proc/{pid}/task/{task}/stat").read_text()
                    state = stat[stat.rindex(")") + 2]
                    where = "" if state == "R" else Path(f"/proc/{pid}/task/{task}/wchan").read_text()
                    if int(task) == pid:
                        seen["samples"] += 1
                        seen["running" if state == "R" else "waiting on its loop" if "epoll" in where
                             else "asleep elsewhere"] += 1
                    elif "nanosleep" in where:
                        seen["waiting for the write lock"] += 1


def states_line(pids: list[int], seen: dict[int, Counter[str]]) -> str:
    """:func:`sample_states`' counts as shares of the samples, a process a line."""
    lines = []
    for i, pid in enumerate(pids):
        counts = seen.get(pid, Counter())
        total = max(1, counts["samples"])
        parts = ", ".join(f"{what} {100 * counts[what] / total:.0f}%" for what in
                          ("running", "waiting on its loop", "asleep elsewhere", "waiting for the write lock"))
        lines.append(f"    {'serve' if i == 0 else 'worker process'} {pid}: {parts}")
    return "\n".join(lines)


async def timed(name: str, url: str, bodies: list[bytes], ok: int, sink: int, n: int, timeout: float,
                pids: Callable[[], list[int]]) -> Run:
    """``name``'s run: ``bodies`` posted to ``url``, timed until the sink got ``n`` more
    requests, with what ``pids()`` spent meanwhile (see :class:`Run`)."""
    before = received(sink)
    done = asyncio.Event()
    sampling = asyncio.create_task(peak_pss(pids, done))
    first = pids()[0]
    cpu0, first0, threads0 = cpu_seconds(pids()), cpu_seconds([first]), thread_cpu(pids())
    started, wall = time.perf_counter(), time.time()
    seen: dict[int, Counter[str]] = {}
    stopped = threading.Event()
    sampler = None
    if STATES and name == "notifier":
        sampler = threading.Thread(target=sample_states, args=(pids(), stopped, seen), daemon=True)
        sampler.start()
    try:
        await post_batches(url, bodies, 4, ok)
        posted = time.perf_counter() - started
        seconds = await wait_received(sink, before + n, started, timeout)
        if TIMELINE:
            print(f"    {url.rsplit('/', 1)[-1]}: posts answered in {posted:.1f} s; deliveries per 200 ms:"
                  f" {timeline(sink, wall)}", flush=True)
    finally:
        done.set()
        stopped.set()
    if sampler is not None:
        sampler.join()
        print(f"    what notifier's processes did, first post to last delivery:\n{states_line(pids(), seen)}",
              flush=True)
    threads = {kind: spent - threads0[kind] for kind, spent in thread_cpu(pids()).items()}
    return Run(name, seconds, n, peak_rss_mb(pids()), await sampling, cpu_seconds(pids()) - cpu0,
               cpu_seconds([first]) - first0, threads, posted)


async def warm_up(url: str, body: bytes, ok: int, sink: int) -> None:
    """Post ``body`` (one alert or event) and wait for its delivery: the contender has started."""
    before = received(sink)
    await post_batches(url, [body], 1, ok)
    await wait_received(sink, before + 1, time.perf_counter(), 60)


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.05)


async def run_alertmanager(work: Path, sink: int, n: int, batch: int, timeout: float) -> Run:
    """Alertmanager, in memory, delivering ``n`` alerts to the sink."""
    port = free_port()
    (work / "alertmanager.yml").write_text(AM_CONFIG.format(sink=sink))
    proc = subprocess.Popen([ALERTMANAGER, f"--config.file={work / 'alertmanager.yml'}",
                             f"--storage.path={work / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(f"http://127.0.0.1:{port}/-/ready", proc)
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        now = datetime.now(UTC)
        await warm_up(url, orjson.dumps([alert(0, "am-warm", now)]), 200, sink)
        bodies = [orjson.dumps([alert(i, "am", now) for i in range(s, min(n, s + batch))]) for s in range(0, n, batch)]
        return await timed("Alertmanager", url, bodies, 200, sink, n, timeout, lambda: [proc.pid])
    finally:
        proc.terminate()
        proc.wait(30)


async def run_notifier(work: Path, sink: int, n: int, batch: int, timeout: float, workers: int | None) -> Run:
    """``notifier serve`` on SQLite delivering ``n`` events to the sink."""
    port = free_port()
    (work / "notifier.yaml").write_text(NOTIFIER_CONFIG.format(sink=sink))
    cmd = [sys.executable, "-m", "notifier.cli", "serve", "--config", str(work / "notifier.yaml"),
           "--db", f"sqlite:///{work / 'notifier.db'}", "--port", str(port), "--log-level", "warning"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    log = (work / "notifier.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        try:
            wait_up(f"http://127.0.0.1:{port}/healthz", proc, timeout=120)
        except RuntimeError:
            raise RuntimeError((work / "notifier.log").read_text()[-3000:]) from None
        wait_workers(work / "notifier.db", proc, workers)
        url = f"http://127.0.0.1:{port}/v1/events"
        await warm_up(url, orjson.dumps([event(0, "nt-warm")]), 202, sink)
        bodies = [orjson.dumps([event(i, "nt") for i in range(s, min(n, s + batch))]) for s in range(0, n, batch)]
        return await timed("notifier", url, bodies, 202, sink, n, timeout,
                           lambda: [proc.pid, *children_of(proc.pid)])
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


async def compare(sink: int, n: int = 20_000, batch: int = 500, timeout: float = 600,
                  workers: int | None = None, rounds: int = 1) -> list[tuple[str, str, str]]:
    """Rows for the spine table: each contender's time and memory, and the ratio (``[]`` without
    Alertmanager); medians of ``rounds`` alternated runs."""
    if shutil.which(ALERTMANAGER) is None:
        return []
    ams, nts = [], []
    for r in range(rounds):
        # Each goes first in every other round: whatever the first run leaves behind (the
        # receiver's heap, the page cache, a neighbour's load) weighs on both alike.
        for contender in ("am", "notifier") if r % 2 == 0 else ("notifier", "am"):
            with tempfile.TemporaryDirectory() as tmp:
                if contender == "am":
                    ams.append(await run_alertmanager(Path(tmp), sink, n, batch, timeout))
                else:
                    nts.append(await run_notifier(Path(tmp), sink, n, batch, timeout, workers))
        if rounds > 1:
            first = "" if r % 2 == 0 else " (notifier first)"
            print(f"  round {r + 1}{first}: Alertmanager {ams[-1].seconds:.1f} s (posts answered in"
                  f" {ams[-1].posted:.1f} s; {ams[-1].cpu_seconds:.1f} s of CPU), notifier {nts[-1].seconds:.1f} s"
                  f" (posts answered in {nts[-1].posted:.1f} s; {nts[-1].cpu_seconds:.1f} s of CPU),"
                  f" ratio {ams[-1].seconds / nts[-1].seconds:.2f}", flush=True)

    def med(runs: list[Run], field: str) -> float:
        return statistics.median(getattr(x, field) for x in runs)

    am_s, nt_s = med(ams, "seconds"), med(nts, "seconds")
    am_rss, nt_rss, am_pss, nt_pss = med(ams, "peak_rss_mb"), med(nts, "peak_rss_mb"), med(ams, "peak_pss_mb"), \
        med(nts, "peak_pss_mb")
    paired = [a.seconds / b.seconds for a, b in zip(ams, nts, strict=True)]
    ratios = ", ".join(f"{r:.2f}" for r in paired)
    # The ratio of the medians hides how the rounds went; each round's own ratio (the two
    # ran minutes apart on the same machine) is the fairer view on a noisy machine.
    per_round = (f"; per round: {ratios}, median {statistics.median(paired):.2f},"
                 f" >= 1.0 in {sum(r >= 1.0 for r in paired)} of {len(paired)}") if rounds > 1 else ""
    am_cpu, nt_cpu = med(ams, "cpu_seconds"), med(nts, "cpu_seconds")
    nt_api = med(nts, "first_cpu_seconds")
    split = f" (serve's API and its own worker {nt_api:.1f} s, worker processes {nt_cpu - nt_api:.1f} s)" \
        if nt_cpu - nt_api > 0.05 else ""
    # By thread: the event loops (Python), the HTTP client's Rust threads, SQLite's and others.
    by_thread = ", ".join(f"{kind} {statistics.median(x.threads.get(kind, 0.0) for x in nts):.1f} s"
                          for kind in ("loops", "HTTP client", "other"))
    return [
        (f"Alertmanager: {n:,} alerts, batches of {batch}", f"{am_s:,.1f} s",
         f"all delivered, posts answered in {med(ams, 'posted'):.1f} s; {am_cpu:.1f} s of CPU;"
         f" peak RSS {am_rss:,.0f} MB, PSS {am_pss:,.0f} MB (in memory)"),
        (f"notifier: {n:,} events, batches of {batch}", f"{nt_s:,.1f} s",
         f"all delivered, posts answered in {med(nts, 'posted'):.1f} s; {nt_cpu:.1f} s of CPU{split},"
         f" by thread: {by_thread}; peak RSS {nt_rss:,.0f} MB,"
         f" PSS {nt_pss:,.0f} MB (API + workers, durable SQLite)"),
        ("notifier speed / Alertmanager's", f"{am_s / nt_s:.2f}",
         f"ratio of the median times; target >= 1.0{per_round}"),
        ("notifier CPU / Alertmanager's", f"{nt_cpu / am_cpu:.2f}" if am_cpu else "-",
         "median CPU seconds; on two saturated cores, what decides the times"),
        ("notifier memory / Alertmanager's", f"{nt_rss / am_rss:.2f}",
         f"peak RSS added up; by PSS {nt_pss / am_pss:.2f} (target <= 0.5)"),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=None, help="notifier serve --workers (default: its own)")
    parser.add_argument("--rounds", type=int, default=1, help="alternated runs of each (medians reported)")
    parser.add_argument("--timeline", action="store_true",
                        help="print each run's deliveries per 200 ms (alerts: Alertmanager's, events: notifier's)")
    parser.add_argument("--states", action="store_true",
                        help="print what notifier's processes waited for, sampled every 3 ms "
                             "(the sampling slows notifier's runs: time rounds without it)")
    args = parser.parse_args()
    if shutil.which(ALERTMANAGER) is None:
        print(f"{ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)", file=sys.stderr)
        raise SystemExit(1)
    sink = free_port()
    proc = start_sink(sink)
    try:
        wait_up(f"http://127.0.0.1:{sink}/_stats", proc)
        global TIMELINE, STATES
        TIMELINE, STATES = args.timeline, args.states
        rows = await compare(sink, args.events, args.batch, workers=args.workers, rounds=args.rounds)
    finally:
        proc.terminate()
        proc.wait(10)
    load = os.getloadavg()[0]
    print(f"\nnotifier against Alertmanager — {os.cpu_count()} cores, load average {load:.1f}")
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>10}  {note}")


if __name__ == "__main__":
    asyncio.run(main())
