"""Which HTTP client should the HTTP channels send with? POSTs/s of each, same receiver, same run.

    python bench/http_clients.py                 # 5,000 POSTs at concurrency 4, 8, 32; ~1 minute
    python bench/http_clients.py --posts 2000 --rounds 3

The receiver is the webhook sink of the tests (uvicorn, own process, 127.0.0.1). The clients
run on the loop notifier sends on (uvloop, when installed, as it is with notifier). Each client
posts the same JSON body with the same headers, ``concurrency`` requests in flight over at most
``concurrency`` connections, the way a channel does. Rounds alternate the clients (the machine
is shared and noisy) and the median is printed, with the CPU this process spent per POST
(every thread counts: the clients written in Rust send from threads of their own).

Two clients written in Rust are measured too: pyreqwest, which the HTTP channels send with,
and rnet when it is installed (``pip install rnet``; not a dependency of notifier).

``--busy US`` makes each lane spend ``US`` µs of Python on the event loop after every answer,
as a worker does between two sends of a lane (claims, decoding, rendering, recording); the CPU
per POST is then printed without those ``US`` µs: what the client costs beside a busy loop.
A client that answers from threads of its own must take the GIL from that loop for every
answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
import orjson
from httpx_aiohttp import AiohttpTransport

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from notifier.channels.http_client import HttpClient  # noqa: E402
from notifier.cli_common import run_on_fastest_loop  # noqa: E402
from tests.sink import free_port  # noqa: E402

BODY = orjson.dumps({"event": {"kind": "support_request", "id": "bench", "site": "bench.example.com",
                               "message": "Bonjour, je voudrais parler à un conseiller"}, "delivery_id": "x"})
HEADERS = {"Content-Type": "application/json", "User-Agent": "notifier", "Idempotency-Key": "x"}

Poster = Callable[[str, int, int], Awaitable[tuple[float, float]]]

#: µs of Python each lane spends on the loop after every answer (``--busy``).
BUSY_US = 0.0


def _busy(us: float) -> None:
    """Hold the loop (and the GIL) for ``us`` µs of Python."""
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


async def drive(n: int, conc: int, post: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    """(POSTs/s, µs of this process's CPU per POST) of ``n`` POSTs, ``conc`` at a time."""
    left = n

    async def lane() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status = await post()
            if status != 200:
                raise RuntimeError(f"receiver answered {status}")
            if BUSY_US:
                _busy(BUSY_US)

    t0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(lane() for _ in range(conc)))
    return n / (time.perf_counter() - t0), (time.process_time() - cpu0) / n * 1e6 - BUSY_US


async def with_httpx(url: str, n: int, conc: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        async def post() -> int:
            return (await client.post(url, content=BODY, headers=HEADERS)).status_code
        return await drive(n, conc, post)


async def with_httpx_over_aiohttp(url: str, n: int, conc: int) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    async with httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=10) as client:
        async def post() -> int:
            return (await client.post(url, content=BODY, headers=HEADERS)).status_code
        return await drive(n, conc, post)


async def with_aiohttp(url: str, n: int, conc: int) -> tuple[float, float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc),
                                     timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def post() -> int:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()
                return response.status
        return await drive(n, conc, post)


async def with_channel_client(url: str, n: int, conc: int) -> tuple[float, float]:
    """What the HTTP channels send with (``notifier.channels.http_client``): pyreqwest plus
    the small interface the channels read responses through."""
    client = HttpClient(limit=conc, timeout=10, headers={"User-Agent": "notifier"})
    try:
        async def post() -> int:
            return (await client.post(url, content=BODY, headers=HEADERS)).status_code
        return await drive(n, conc, post)
    finally:
        await client.aclose()


async def with_pyreqwest(url: str, n: int, conc: int) -> tuple[float, float]:
    """pyreqwest: Rust's reqwest (hyper, tokio) behind an asyncio interface."""
    from pyreqwest.client import ClientBuilder

    async with ClientBuilder().max_connections(conc).error_for_status(False).build() as client:
        async def post() -> int:
            response = await client.post(url).body_bytes(BODY).headers(HEADERS).build().send()
            await response.bytes()
            return response.status
        return await drive(n, conc, post)


async def with_rnet(url: str, n: int, conc: int) -> tuple[float, float]:
    """rnet: another asyncio client over Rust's hyper."""
    import rnet

    client = rnet.Client()

    async def post() -> int:
        response = await client.post(url, body=BODY, headers=HEADERS)
        await response.bytes()
        return int(response.status)
    return await drive(n, conc, post)


CLIENTS: dict[str, Poster] = {
    "httpx AsyncClient": with_httpx,
    "httpx over aiohttp transport": with_httpx_over_aiohttp,
    "aiohttp ClientSession": with_aiohttp,
    "notifier's HttpClient (pyreqwest)": with_channel_client,
}
for _module, _name, _poster in (("pyreqwest", "pyreqwest (Rust)", with_pyreqwest), ("rnet", "rnet (Rust)", with_rnet)):
    try:
        __import__(_module)
    except ImportError:
        continue
    CLIENTS[_name] = _poster


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=5000, help="POSTs per client and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 32])
    parser.add_argument("--rounds", type=int, default=1, help="rounds (median reported)")
    parser.add_argument("--only", nargs="+", metavar="WORD",
                        help="only the clients whose name holds one of these words (e.g. aiohttp pyreqwest)")
    parser.add_argument("--busy", type=float, default=0.0, metavar="US",
                        help="µs of Python each lane spends on the loop after every answer (a busy worker)")
    args = parser.parse_args()
    global BUSY_US
    BUSY_US = args.busy
    if args.only:
        for name in list(CLIENTS):
            if not any(w.lower() in name.lower() for w in args.only):
                del CLIENTS[name]

    port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "tests.sink", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hook"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sink did not come up") from None
                await asyncio.sleep(0.05)
        for conc in args.concurrency:  # warm-up: connections, imports, the sink's first requests
            for poster in CLIENTS.values():
                await poster(url, 200, conc)
        rates: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for conc in args.concurrency:
                for name, poster in CLIENTS.items():
                    rates.setdefault((name, conc), []).append(await poster(url, args.posts, conc))
    finally:
        sink.terminate()
        sink.wait(10)

    print(f"\nHTTP clients, {args.posts:,} POSTs each — {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, httpx {httpx.__version__},"
          f" on {type(asyncio.get_running_loop()).__module__.split('.')[0]}'s loop"
          + (f"; {args.busy:.0f} µs of Python on the loop after each answer, not counted in the CPU" if args.busy
             else ""))
    width = max(len(n) for n in CLIENTS)
    first = next(iter(CLIENTS))
    print(f"  {'client (POSTs/s, µs CPU/POST)':<{width}}"
          + "".join(f"  {'conc ' + str(c):>16}" for c in args.concurrency) + f"   ratio to {first}")
    base = {c: statistics.median(r for r, _ in rates[(first, c)]) for c in args.concurrency}
    for name in CLIENTS:
        meds = [(statistics.median(r for r, _ in rates[(name, c)]), statistics.median(u for _, u in rates[(name, c)]))
                for c in args.concurrency]
        ratios = " / ".join(f"{m / base[c]:.1f}x" for (m, _), c in zip(meds, args.concurrency, strict=True))
        print(f"  {name:<{width}}" + "".join(f"  {m:>8,.0f} {u:>5,.0f}µs" for m, u in meds) + f"   {ratios}")


if __name__ == "__main__":
    run_on_fastest_loop(main())  # the loop notifier's worker sends on (uvloop)
