"""A worker in another process wakes at once when work is committed (SQLite), not at its next poll.

The stores below poll ``PRAGMA data_version`` only every 30 s: a wait that ends within a
few seconds was ended by the committing process's wake-up datagram.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

from notifier.store.sqlite import SqliteStore
from notifier.store.sqlite_wake import WakeSockets
from tests.store.test_contract import T0, accept, event

SLOW_POLL = 30.0


async def _open(path: Path) -> SqliteStore:
    store = SqliteStore(f"sqlite:///{path}", poll_interval=SLOW_POLL)
    await store.open()
    await store.upgrade()
    return store


async def test_a_commit_in_one_process_wakes_the_worker_waiting_in_another(tmp_path: Path) -> None:
    api, worker = await _open(tmp_path / "n.db"), await _open(tmp_path / "n.db")
    try:
        waiting = asyncio.create_task(worker.wait_for_work(timeout=SLOW_POLL))
        # Bound once the wait has begun: the worker's socket is in the database's directory.
        assert worker._wakes is not None
        deadline = time.monotonic() + 10
        while not any(worker._wakes.dir.glob("*.sock")):
            assert time.monotonic() < deadline, "the waiting worker never listened"
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await accept(api, event("woken"), now=T0)
        await api.notify_work()  # as the pipeline does once an accept committed deliveries
        await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 5, "woken by the poll, not by the commit"
    finally:
        await api.close()
        await worker.close()


async def test_a_socket_left_by_a_process_that_died_is_removed(tmp_path: Path) -> None:
    wakes = WakeSockets(str(tmp_path / "n.db"))
    assert wakes._ready()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    left = wakes.dir / "99999-dead.sock"
    dead.bind(str(left))
    dead.close()  # its file stays, as after a SIGKILL
    wakes.notify()
    assert not left.exists()
    wakes.close()
    assert not wakes.dir.exists(), "the last process leaves no empty directory behind"


async def test_a_directory_others_can_write_is_not_used(tmp_path: Path) -> None:
    wakes = WakeSockets(str(tmp_path / "n.db"))
    wakes.dir.parent.mkdir(mode=0o700, exist_ok=True)
    wakes.dir.mkdir(mode=0o777)
    os.chmod(wakes.dir, 0o777)  # the umask may have narrowed it
    try:
        wakes.listen(lambda: None)
        assert not any(wakes.dir.iterdir()), "listened in a directory anyone may write to"
        store = await _open(tmp_path / "n.db")
        try:  # the poll still wakes a worker: here after its 50 ms
            store._poll = 0.05
            other = await _open(tmp_path / "n.db")
            waiting = asyncio.create_task(store.wait_for_work(timeout=SLOW_POLL))
            await asyncio.sleep(0)
            await accept(other, event("polled"), now=T0)
            await other.notify_work()
            await asyncio.wait_for(waiting, 10)
            await other.close()
        finally:
            await store.close()
    finally:
        if wakes.dir.exists():
            wakes.dir.rmdir()
