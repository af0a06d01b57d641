"""Instructions per event: accepting it, delivering it, and one POST of the HTTP client.

    python bench/instructions.py                  # 2,000 events; about 3 minutes on 2 cores
    python bench/instructions.py --events 1000 --only client

On a shared machine the CPU benches (``bench/worker_cpu.py``, ``bench/accept_cpu.py``)
move by a quarter from one minute to the next, which hides any change worth less. Valgrind's
callgrind counts the instructions a program executes instead, which other programs do not
change: a program that never waits counts the same to a few hundredths of a percent. These
parts wait for the sink's answers, and what arrives together is handled together, so their
counts move by 1–3% from run to run: a change of a few percent shows. Instructions are not
time: a system call counts as the few instructions that make it, and an instruction that
waits for memory as one. Compare counts of one part before and after a change; confirm with
the CPU benches what matters.

Each part runs in a process of its own under ``valgrind --tool=callgrind``, once with the
work and once without it (the same start-up, imports and shut-down), and the difference is
divided by the number of events:

- **accept**: ``Service.accept`` of the events in batches of 500 (the Alertmanager
  comparison's events and config: one webhook, each event a support request that opens a
  case), each event validated from its JSON-ready dict first, as the API does, on the
  store's loop as ``serve`` runs it. The HTTP server's parsing is not in it.
- **delivery**: the worker draining those accepted events to the sink, as ``notifier worker``
  does (claims, decoding, rendering, the request, recording the outcome). Its runs accept
  the events first; the accept runs' counts are subtracted.
- **client**: one POST of the same body to the sink through the HTTP channels' client
  (``notifier.channels.http_client``), and through pyreqwest's own calls for comparison.

The sink (``bench/receiver.py``) runs natively in its own process: its instructions are not
counted. Under valgrind the counted process runs about fifty times slower than the sink, so
the worker finds its answers back sooner than it would; its batches may differ from a
native run's.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spine import start_sink, wait_http  # noqa: E402
from tests.sink import free_port  # noqa: E402

#: The parts, and what a unit of each is.
PARTS = {"accept": "event accepted", "delivery": "event delivered", "client": "POST (notifier's client)",
         "pyreqwest": "POST (pyreqwest's own calls)"}


async def _accept_and_deliver(part: str, n: int, sink: int) -> None:
    """The child's work: accept ``n`` events (and deliver them, for ``delivery``)."""
    import bench.alertmanager as am
    from notifier.core.events import Event
    from notifier.logs import configure_logging
    from notifier.server import freeze_startup_heap
    from notifier.service import Service

    configure_logging("warning")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "channels.yaml").write_text(am.NOTIFIER_CONFIG.format(sink=sink))
        db = f"sqlite:///{work}/bench.db"
        accepting = Service(work / "channels.yaml", db, inline_store=True)
        await accepting.store.open()
        await accepting.accept([Event.model_validate(am.event(n, "warm"))])  # first calls, in both runs
        freeze_startup_heap()  # as `notifier serve` does once started (its garbage collector's settings)
        if part == "accept" or part == "delivery":
            for start in range(0, n, 500):
                await accepting.accept([Event.model_validate(am.event(i, "ir"))
                                        for i in range(start, min(n, start + 500))])
        await accepting.store.close()
        if part == "accept":
            return
        worker = Service(work / "channels.yaml", db, inline_store=True)
        await worker.open()
        assert worker.worker is not None
        freeze_startup_heap()  # as `notifier worker` does once started
        try:
            if part == "delivery":
                stats = await worker.worker.drain(include_retries=False, timeout=3600)
                if stats.sent != n + 1:
                    raise RuntimeError(f"delivered {stats.sent} of {n + 1}: {stats}")
        finally:
            await worker.close()


async def _post(part: str, n: int, sink: int, concurrency: int = 16) -> None:
    """The child's work: ``n`` POSTs to the sink, ``concurrency`` at a time, after one per lane."""
    from pyreqwest.client import ClientBuilder

    from bench.http_clients import BODY, HEADERS, drive
    from notifier.channels.http_client import HttpClient

    url = f"http://127.0.0.1:{sink}/hook"
    ours = HttpClient(limit=concurrency, timeout=10, headers={"User-Agent": "notifier"})
    theirs = ClientBuilder().max_connections(concurrency).error_for_status(False).build()

    async def post() -> int:
        if part == "client":
            return (await ours.post(url, content=BODY, headers=HEADERS)).status_code
        answer = await theirs.post(url).body_bytes(BODY).headers(HEADERS).build().send()
        await answer.bytes()
        return answer.status

    await asyncio.gather(*(post() for _ in range(concurrency)))  # connections opened, in both runs
    if n:  # the lanes of bench/http_clients.py (its timing unused)
        await drive(n, concurrency, post)
    await ours.aclose()
    await theirs.close()


def child(part: str, n: int, sink: int) -> None:
    """Run one part's work in this process (under valgrind, started by :func:`count`)."""
    from notifier.cli_common import run_on_fastest_loop

    work = _post(part, n, sink) if part in ("client", "pyreqwest") else _accept_and_deliver(part, n, sink)
    run_on_fastest_loop(work)


def count(part: str, n: int, sink: int) -> int:
    """Instructions callgrind counted in a child doing ``part`` for ``n`` events."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, __file__, "--child", part, str(n), str(sink)],
                          capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{part} ({n}) under valgrind failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events (or POSTs) per part")
    parser.add_argument("--only", nargs="+", choices=list(PARTS), help="only these parts")
    parser.add_argument("--child", nargs=3, metavar=("PART", "N", "SINK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        part, n, sink = args.child
        child(part, int(n), int(sink))
        return
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        raise SystemExit(1)
    parts = args.only or list(PARTS)
    # The delivery runs accept their events first: the accept runs are subtracted from them.
    runs = [(part, n) for part in dict.fromkeys(["accept", *parts] if "delivery" in parts else parts)
            for n in (0, args.events)]
    port = free_port()
    sink = start_sink(port)
    try:
        wait_http(f"http://127.0.0.1:{port}/_stats")
        print(f"{len(runs)} runs under callgrind, two at a time ...", flush=True)
        # Counts do not depend on what else runs: two at a time, one per core.
        with ThreadPoolExecutor(2) as pool:
            counted = dict(zip(runs, pool.map(lambda run: count(run[0], run[1], port), runs), strict=True))
    finally:
        sink.terminate()
        sink.wait(10)
    print(f"\ninstructions (callgrind), {args.events:,} events per part")
    def spent(part: str) -> int:
        return counted[(part, args.events)] - counted[(part, 0)]

    for part in parts:
        per = (spent(part) - (spent("accept") if part == "delivery" else 0)) / args.events
        print(f"  {part:<10} {per:>11,.0f} per {PARTS[part]}")


if __name__ == "__main__":
    main()
