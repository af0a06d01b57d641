"""CPU the API process spends per accepted event: single POSTs, batches of 100 and of 500.

    python bench/accept_cpu.py                     # ~1 minute on 2 cores
    python bench/accept_cpu.py --rounds 3          # repeat each load, report every round

Starts ``notifier serve --no-worker`` on a fresh SQLite database (the config of
``bench/spine.py``: every event a support request routed to one webhook, so each opens
a case), warms it up, then posts a fixed load per scenario and reads the API process's
user+system CPU time from ``/proc/PID/stat`` before and after. CPU per event is what
other processes on a shared machine disturb least; events/s is printed too, but on a
busy machine it is only indicative. Every answer must be a ``202``.
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

from bench.spine import CONFIG, RawClient, event, notifier, start, wait_http  # noqa: E402
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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--singles", type=int, default=4000, help="single-event POSTs per round")
    parser.add_argument("--batch100", type=int, default=100, help="batches of 100 per round")
    parser.add_argument("--batch500", type=int, default=40, help="batches of 500 per round")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
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
