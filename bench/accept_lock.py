"""How long accepting a batch holds SQLite's write lock, and how much of it is SQL.

    python bench/accept_lock.py 500      # batches of 500 (the Alertmanager comparison's)
    python bench/accept_lock.py 100 --batches 50

While the accept transaction holds the lock, worker processes (``serve --workers N``,
``notifier worker``) wait for it. This accepts ``--batches`` batches of the Alertmanager
comparison's events with ``Service.accept`` on a fresh SQLite file, in process, and
watches the writer connection from its own thread: a transaction is held from the start
of the call that began it (``BEGIN IMMEDIATE``) to the end of the call that committed it.
Printed: the mean time held per transaction and the part of it spent in the writer
thread's calls (SQL, with the Python that binds and reads it); the rest is the event
loop's Python between calls and the hand-overs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alertmanager import NOTIFIER_CONFIG, event  # noqa: E402
from notifier.core.events import Event  # noqa: E402
from notifier.service import Service  # noqa: E402
from notifier.store import sqlite_thread  # noqa: E402


class LockWatch:
    """Times the write transactions of the store's writer :class:`ThreadConnection`."""

    def __init__(self) -> None:
        self.held: list[float] = []
        self.in_calls: list[float] = []
        self._began: float | None = None
        self._writer: sqlite_thread.ThreadConnection | None = None
        self._calls = 0.0

    def install(self) -> None:
        original = sqlite_thread.ThreadConnection._call
        watch = self

        def call(conn: sqlite_thread.ThreadConnection, work: Callable[[Any], Any]) -> Any:
            started = time.perf_counter()
            try:
                return original(conn, work)
            finally:
                watch.after(conn, started, time.perf_counter())

        sqlite_thread.ThreadConnection._call = call  # type: ignore[method-assign]

    def after(self, conn: sqlite_thread.ThreadConnection, started: float, ended: float) -> None:
        open_now = conn._conn is not None and conn._conn.in_transaction
        if self._began is None and open_now:
            self._began, self._writer, self._calls = started, conn, 0.0
        if self._began is not None and conn is self._writer:
            self._calls += ended - started
            if not open_now:
                self.held.append(ended - self._began)
                self.in_calls.append(self._calls)
                self._began = None


async def run(size: int, batches: int) -> None:
    watch = LockWatch()
    watch.install()
    work = Path(tempfile.mkdtemp())
    (work / "channels.yaml").write_text(NOTIFIER_CONFIG.format(sink=9))
    service = Service(work / "channels.yaml", f"sqlite:///{work}/notifier.db")
    await service.store.open()
    try:
        bodies = [[event(b * size + i, "lock") for i in range(size)] for b in range(batches + 1)]
        await service.accept([Event.model_validate(e) for e in bodies[0]])  # warm-up, not counted
        watch.held.clear()
        watch.in_calls.clear()
        for body in bodies[1:]:
            await service.accept([Event.model_validate(e) for e in body])
    finally:
        await service.store.close()
    n = len(watch.held)
    print(f"batch {size}: lock held {1000 * sum(watch.held) / n:.1f} ms per transaction, "
          f"of which in the writer's calls {1000 * sum(watch.in_calls) / n:.1f} ms ({n} transactions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int, nargs="?", default=500, help="events per batch")
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.size, args.batches))


if __name__ == "__main__":
    main()
