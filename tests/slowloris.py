"""Slow HTTP clients, as a slowloris attack: ``python -m tests.slowloris PORT HEADERS BODIES``.

``HEADERS`` connections trickle their request headers and ``BODIES`` their body, one byte
or header line every half second, never finishing; a connection the server drops is opened
again at the next tick, as slowloris tools do (a tight reconnect loop would be a connection
flood, which is a matter for the kernel's and the network's limits, not for the server's).
Prints ``ready`` once every client has connected, runs until SIGTERM, then
prints what it saw as JSON: connections opened, refused, dropped by the server, the
longest time one was held, and how many were answered ``408``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import asdict, dataclass

import orjson


@dataclass
class Attack:
    opened: int = 0
    refused: int = 0
    dropped: int = 0
    longest: float = 0.0
    timeouts_answered: int = 0


async def slow_client(port: int, body: bool, stop: asyncio.Event, attack: Attack) -> None:
    loop = asyncio.get_running_loop()
    head = b"POST /v1/events HTTP/1.1\r\nHost: notifier\r\nContent-Type: application/json\r\n"
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            attack.refused += 1
            await asyncio.sleep(0.05)
            continue
        attack.opened += 1
        opened = loop.time()
        try:
            writer.write(head + b"Content-Length: 100000\r\n\r\n{" if body else head)
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(reader.read(4096), 0.5)
                except TimeoutError:  # one more byte, never the end
                    writer.write(b" " if body else b"X-Slow: 1\r\n")
                    await writer.drain()
                    continue
                attack.timeouts_answered += b" 408 " in data
                if not data:
                    raise ConnectionResetError
        except OSError:
            attack.dropped += 1
            attack.longest = max(attack.longest, loop.time() - opened)
        finally:
            writer.close()
        await asyncio.sleep(0.5)  # the next tick


async def main(port: int, headers: int, bodies: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    attack = Attack()
    clients = [asyncio.create_task(slow_client(port, False, stop, attack)) for _ in range(headers)]
    clients += [asyncio.create_task(slow_client(port, True, stop, attack)) for _ in range(bodies)]
    while attack.opened < headers + bodies and not stop.is_set():
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    await stop.wait()
    await asyncio.gather(*clients, return_exceptions=True)
    print(orjson.dumps(asdict(attack)).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*(int(a) for a in sys.argv[1:4])))
