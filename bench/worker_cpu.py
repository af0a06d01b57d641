"""CPU the worker spends per delivery to a webhook, next to raw aiohttp's CPU per post.

    python bench/worker_cpu.py                     # ~30 s on 2 cores
    python bench/worker_cpu.py --rounds 3 --deliveries 5000
    python bench/worker_cpu.py --profile out.prof  # cProfile of the worker's drains
    python bench/worker_cpu.py --without-http      # and its drain with no HTTP request at all

Starts the receiver of ``bench/spine.py`` (``python bench/receiver.py PORT``) in its own
process, accepts ``--deliveries`` events into a fresh SQLite database (the config of
``bench/spine.py``: one webhook, concurrency 8), then, in alternated rounds in this process:
raw aiohttp posting the same number of bodies to the sink (the Python limit), and the
worker draining the backlog as ``notifier worker --burst`` does. Each is measured with
``time.process_time()`` (user+system CPU of every thread of this process, so the SQLite
thread counts), which other processes on a shared machine disturb far less than
wall-clock rates. The ratio raw/worker CPU is the ceiling of the spine's delivery ratio
when the CPU is the limit. On Linux the worker's CPU is also split between the event loop's
thread and the others (SQLite's). Other processes on a shared machine still inflate every
figure; the best (lowest) round is the least disturbed one, so compare best with best and
median with median, over alternated runs.

``--statements`` times each SQL statement the worker's drains run (``Connection.execute``;
the rows a ``SELECT`` returns are read after it and not counted), per delivery.

``--without-http`` adds a third drain per round, of the same backlog, in which the channels'
HTTP client answers 200 at once without sending anything (a diagnostic, in this process
only): what the worker spends on its own steps around the request (claims, decoding,
rendering the body, the gate, group commits, metrics). Raw aiohttp's CPU per post over that
plus raw aiohttp's is the ratio the worker could reach if its request cost what a raw one does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spine import CONFIG, baseline, baseline_pyreqwest, event, has_pyreqwest, start_sink, wait_http  # noqa: E402
from tests.sink import free_port  # noqa: E402


def loop_thread_cpu() -> float | None:
    """Seconds of CPU of this process's main thread (where ``asyncio.run`` runs the loop), if Linux says."""
    try:
        with open(f"/proc/self/task/{os.getpid()}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def worker_round(work: Path, n: int, tag: str,
                       profile: cProfile.Profile | None) -> tuple[float, float | None, float]:
    """(µs of CPU per delivery, of which the loop thread's, deliveries/s) of one burst drain
    of ``n`` accepted events."""
    from notifier.core.events import Event
    from notifier.service import Service

    db = f"sqlite:///{work}/cpu-{tag}.db"
    accepting = Service(work / "channels.yaml", db)
    await accepting.store.open()
    for start_i in range(0, n, 500):
        await accepting.accept([Event.model_validate(event(i, f"cpu{tag}"))
                                for i in range(start_i, min(n, start_i + 500))])
    await accepting.store.close()

    service = Service(work / "channels.yaml", db, inline_store=True)  # as `notifier worker` runs it
    await service.open()
    assert service.worker is not None
    gc.collect()
    gc.freeze()  # as `notifier worker` does once started (notifier.server.freeze_startup_heap)
    try:
        loop0, cpu0, t0 = loop_thread_cpu(), time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        STATEMENTS.on = True
        try:
            stats = await service.worker.drain(include_retries=False, timeout=300)
        finally:
            STATEMENTS.on = False
        if profile is not None:
            profile.disable()
        cpu, took, loop1 = time.process_time() - cpu0, time.perf_counter() - t0, loop_thread_cpu()
    finally:
        await service.close()
    if stats.sent != n:
        raise RuntimeError(f"sent {stats.sent} of {n}: {stats}")
    loop = (loop1 - loop0) / n * 1e6 if loop0 is not None and loop1 is not None else None
    return cpu / n * 1e6, loop, n / took


@contextlib.contextmanager
def without_http() -> Iterator[None]:
    """The channels' HTTP client answering 200 at once, sending nothing (this process only)."""
    from notifier.channels.http_client import HttpClient, Response

    real = HttpClient.request

    async def answer(self: HttpClient, method: str, url: str, **_: Any) -> Response:
        await asyncio.sleep(0)  # a request would let the loop run other sends meanwhile
        return Response(200, {}, b"", url)

    HttpClient.request = answer  # type: ignore[method-assign]
    try:
        yield
    finally:
        HttpClient.request = real  # type: ignore[method-assign]


class StatementTimer:
    """Seconds and calls of each SQL statement executed while :attr:`on` (``--statements``)."""

    def __init__(self) -> None:
        self.on = False
        self.spent: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Every SQLite connection opened meanwhile times its ``execute`` calls."""
        timer = self

        class Timed(sqlite3.Connection):
            def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
                if not timer.on:
                    return super().execute(sql, parameters)
                started = time.perf_counter()
                try:
                    return super().execute(sql, parameters)
                finally:
                    entry = timer.spent.setdefault(" ".join(sql.split())[:72], [0.0, 0])
                    entry[0] += time.perf_counter() - started
                    entry[1] += 1

        real = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            return real(*args, **{**kwargs, "factory": Timed})

        sqlite3.connect = connect  # type: ignore[assignment]
        try:
            yield
        finally:
            sqlite3.connect = real  # type: ignore[assignment]


#: What ``--statements`` reports (the worker's drains switch it on).
STATEMENTS = StatementTimer()


async def raw_round(port: int, n: int, conc: int, client: str = "aiohttp") -> tuple[float, float]:
    """(µs of CPU per post, posts/s) of raw aiohttp (or pyreqwest) posting ``n`` bodies to the sink."""
    cpu0 = time.process_time()
    rate = await (baseline_pyreqwest if client == "pyreqwest" else baseline)(port, n, conc)
    return (time.process_time() - cpu0) / n * 1e6, rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8, help="webhook concurrency (and raw aiohttp's)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the worker's drains to FILE")
    parser.add_argument("--without-http", action="store_true",
                        help="also drain with the HTTP client answering at once (the worker's own steps)")
    parser.add_argument("--statements", action="store_true",
                        help="time each SQL statement of the worker's drains (µs per delivery)")
    args = parser.parse_args()
    from notifier.logs import configure_logging

    configure_logging("warning")  # as the spine's worker runs
    profile = cProfile.Profile() if args.profile else None
    port = free_port()
    sink = start_sink(port)
    timing = contextlib.ExitStack()
    if args.statements:
        timing.enter_context(STATEMENTS.installed())
    try:
        wait_http(f"http://127.0.0.1:{port}/_stats")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            (work / "channels.yaml").write_text(CONFIG.format(sink=port, conc=args.concurrency))
            await raw_round(port, 500, args.concurrency)  # warm-up: imports, first connections
            raws: list[float] = []
            workers: list[float] = []
            loops: list[float] = []
            bare: list[float] = []
            fastest: list[float] = []
            print(f"{'round':<7}{'raw µs/post':>12}{'worker µs/delivery':>20}{'loop thread':>13}{'others':>8}"
                  f"{'raw/worker':>12}{'raw posts/s':>13}{'worker /s':>11}")
            for r in range(args.rounds):
                raw_cpu, raw_rate = await raw_round(port, args.deliveries, args.concurrency)
                if has_pyreqwest():
                    fastest.append((await raw_round(port, args.deliveries, args.concurrency, "pyreqwest"))[0])
                w_cpu, loop_cpu, w_rate = await worker_round(work, args.deliveries, str(r), profile)
                if args.without_http:
                    with without_http():
                        bare.append((await worker_round(work, args.deliveries, f"bare{r}", None))[0])
                raws.append(raw_cpu)
                workers.append(w_cpu)
                split = "" if loop_cpu is None else f"{loop_cpu:>13.0f}{w_cpu - loop_cpu:>8.0f}"
                if loop_cpu is not None:
                    loops.append(loop_cpu)
                print(f"{r:<7}{raw_cpu:>12.0f}{w_cpu:>20.0f}{split or ' ' * 21}{raw_cpu / w_cpu:>12.0%}"
                      f"{raw_rate:>13,.0f}{w_rate:>11,.0f}")
            for label, pick in (("median", statistics.median), ("best", min)):
                raw_m, w_m = pick(raws), pick(workers)
                split = f"{pick(loops):>13.0f}{'':>8}" if loops else " " * 21
                print(f"{label:<7}{raw_m:>12.0f}{w_m:>20.0f}{split}{raw_m / w_m:>12.0%}")
            if fastest:  # pyreqwest, the channels' own client: the fastest of bench/http_clients.py
                print(f"\nraw pyreqwest, per round: {', '.join(f'{f:.0f}' for f in fastest)} µs CPU per post; "
                      f"median {statistics.median(fastest):.0f}, "
                      f"{statistics.median(fastest) / statistics.median(workers):.0%} of the worker's per delivery")
            if bare:
                own = statistics.median(bare)
                raw_m = statistics.median(raws)
                print(f"\nwithout HTTP requests (the worker's own steps), per round: "
                      f"{', '.join(f'{b:.0f}' for b in bare)} µs CPU per delivery; median {own:.0f}.\n"
                      f"raw aiohttp's {raw_m:.0f} µs per post / ({raw_m:.0f} + {own:.0f}) = "
                      f"{raw_m / (raw_m + own):.0%}: "
                      f"the worker's ratio if its requests cost what raw aiohttp's do")
            if args.statements:
                drained = args.deliveries * args.rounds * (2 if args.without_http else 1)
                print(f"\nSQL statements of the drains, µs per delivery (execute only), {drained:,} deliveries:")
                for text, (spent, calls) in sorted(STATEMENTS.spent.items(), key=lambda kv: -kv[1][0])[:10]:
                    print(f"  {spent / drained * 1e6:7.1f}  {calls:>6,} calls  {text}")
    finally:
        timing.close()
        sink.terminate()
        sink.wait(10)
    if profile is not None:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    from notifier.cli_common import run_on_fastest_loop

    # The loop `notifier worker` runs on (uvloop when installed); raw aiohttp runs on it too.
    run_on_fastest_loop(main())
