"""CPU the API process spends per accepted event: single POSTs, batches of 100 and of 500.

    python bench/accept_cpu.py                     # ~1 minute on 2 cores
    python bench/accept_cpu.py --rounds 3          # repeat each load, report every round
    python bench/accept_cpu.py --delivering 20000  # serve with its worker, delivering meanwhile

Starts ``notifier serve --no-worker`` on a fresh SQLite database (the config of
``bench/spine.py``: every event a support request routed to one webhook, so each opens
a case), warms it up, then posts a fixed load per scenario and reads the API process's
user+system CPU time from ``/proc/PID/stat`` before and after. CPU per event is what
other processes on a shared machine disturb least; events/s is printed too, but on a
busy machine it is only indicative. Every answer must be a ``202``.

``--delivering N`` is the accept side of ``bench/alertmanager.py``'s run instead: ``serve``
with its default workers, delivering to a local webhook sink while ``N`` events are posted
in batches of 500 over 4 connections; it prints how long accepting all of them took and
the CPU of the API process (its in-process worker included) per event meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.spine import CONFIG, RawClient, event, notifier, start, start_sink, wait_http, wait_workers  # noqa: E402
from tests.sink import free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (fields 14 and 15 of ``/proc/PID/stat``)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def scenario(client: RawClient, pid: int, bodies: list[bytes], per_body: int,
                   connections: int) -> tuple[float, float]:
    """(µs of API CPU per event, events/s) for posting ``bodies`` over ``connections``."""
    before = cpu_seconds(pid)
    took, bad = await client.run(bodies, connections)
    used = cpu_seconds(pid) - before
    if bad:
        raise RuntimeError(f"{bad} posts were not answered 202")
    n = len(bodies) * per_body
    return used / n * 1e6, n / took


async def delivering(n: int) -> None:
    """Accept ``n`` events (batches of 500, 4 connections) while ``serve`` delivers them to a sink."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sink = free_port()
        sink_proc = start_sink(sink)
        (work / "channels.yaml").write_text(CONFIG.format(sink=sink, conc=32))
        port = free_port()
        api = start(notifier("serve", "--config", str(work / "channels.yaml"), "--db", f"sqlite:///{work}/accept.db",
                             "--port", str(port), "--log-level", "warning"))
        try:
            wait_http(f"http://127.0.0.1:{sink}/_summary")
            wait_http(f"http://127.0.0.1:{port}/healthz")
            wait_workers(work / "accept.db", api)
            client = RawClient(port, "/v1/events")
            bodies = [orjson.dumps([event(i, "d") for i in range(s, min(n, s + 500))]) for s in range(0, n, 500)]
            before = cpu_seconds(api.pid)
            took, bad = await client.run(bodies, 4)
            used = cpu_seconds(api.pid) - before
            if bad:
                raise RuntimeError(f"{bad} posts were not answered 202")
            print(f"{n:,} events accepted in {took:.1f} s ({n / took:,.0f}/s) while delivering; "
                  f"API process {used / n * 1e6:.0f} µs CPU per event (its worker included)")
        finally:
            api.terminate()
            api.wait(30)
            sink_proc.terminate()
            sink_proc.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--singles", type=int, default=4000, help="single-event POSTs per round")
    parser.add_argument("--batch100", type=int, default=100, help="batches of 100 per round")
    parser.add_argument("--batch500", type=int, default=40, help="batches of 500 per round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--delivering", type=int, default=0, metavar="N",
                        help="instead: accept N events while serve's worker delivers them")
    args = parser.parse_args()
    if args.delivering:
        await delivering(args.delivering)
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "channels.yaml").write_text(CONFIG.format(sink=free_port(), conc=8))
        port = free_port()
        api = start(notifier("serve", "--no-worker", "--config", str(work / "channels.yaml"),
                             "--db", f"sqlite:///{work}/accept.db", "--port", str(port), "--log-level", "warning"))
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            client = RawClient(port, "/v1/events")
            await client.run([orjson.dumps(event(i, "warm")) for i in range(300)], 8)
            await client.run([orjson.dumps([event(b * 100 + i, "warmb") for i in range(100)]) for b in range(5)], 4)
            print(f"{'scenario':<16}{'µs CPU/event':>14}{'events/s':>11}")
            for r in range(args.rounds):
                loads = [
                    ("single", [orjson.dumps(event(i, f"s{r}")) for i in range(args.singles)], 1, 16),
                    ("batch of 100", [orjson.dumps([event(b * 100 + i, f"h{r}") for i in range(100)])
                                      for b in range(args.batch100)], 100, 4),
                    ("batch of 500", [orjson.dumps([event(b * 500 + i, f"f{r}") for i in range(500)])
                                      for b in range(args.batch500)], 500, 4),
                ]
                for name, bodies, per_body, conns in loads:
                    us, rate = await scenario(client, api.pid, bodies, per_body, conns)
                    print(f"{name:<16}{us:>14.0f}{rate:>11.0f}", flush=True)
        finally:
            api.terminate()
            api.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
