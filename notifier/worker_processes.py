"""Worker (and API) processes beside the API: ``notifier serve --workers N`` uses every core.

One Python process delivers on one core. ``serve`` runs partition ``0/N`` in its own
process (woken at once by its own accepts) and starts ``N - 1`` ``notifier worker
--partition I/N`` processes beside it, on the same configuration and store. Each claims
its own share of the deliveries first (:mod:`notifier.store.partition`), so they do not
fight over the same rows; a share whose worker died is taken over by the others once
overdue, and the dead process is started again.

With ``--api-processes K``, ``K - 1`` more ``notifier serve --no-worker`` processes
answer on the same listening socket (inherited: the kernel hands each connection to
one of them), each with its own group commit.

Signals follow the parent: ``SIGHUP`` is passed on (each process reloads
``channels.yaml`` itself and keeps its running configuration if the new one is broken),
``SIGTERM`` stops them all, each finishing its sends under way. A child that finds its
parent gone (killed with ``SIGKILL``) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from notifier.store.partition import shares_claims

__all__ = ["PARENT_ENV", "WorkerProcesses", "default_workers", "watch_parent"]

log = structlog.get_logger("notifier.worker_processes")

#: Set in a child's environment: the pid of the ``serve`` that started it.
PARENT_ENV = "NOTIFIER_PARENT_PID"

#: The most worker processes ``serve`` starts by itself on SQLite.
SQLITE_MAX_WORKERS = 4


def default_workers(db_url: str) -> int:
    """The number of cores this process may run on (at most :data:`SQLITE_MAX_WORKERS` on SQLite).

    A worker's sending is Python on one core, so a burst needs every core. SQLite's one
    write lock is shared by all of them, but a worker holds it only to claim and to record
    (tens of microseconds a delivery, in batches), and an idle worker does not take it
    (see ``SqliteClaims.claim``); beyond a few processes the lock and each process's own
    memory would cost more than the cores bring.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, SQLITE_MAX_WORKERS) if db_url.startswith("sqlite:") else cores


class WorkerProcesses:
    """Children of a ``serve``: workers ``1/N`` .. ``N-1/N`` (its own worker is ``0/N``), and
    API processes sharing its listening socket when ``api_processes`` > 1."""

    def __init__(self, count: int, *, config: Path, db_url: str, log_level: str, capture: bool,
                 lease: str | None = None, grace: float = 10.0, api_processes: int = 1,
                 api_command: list[str] | None = None, listen_fd: int | None = None) -> None:
        self.count = count
        self.config = config
        self.db_url = db_url
        self.log_level = log_level
        self.capture = capture
        self.lease = lease
        #: How long a child may take to finish its sends after ``SIGTERM`` before it is killed.
        self.grace = grace
        self.api_processes = api_processes
        self.api_command = api_command or []
        self.listen_fd = listen_fd
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = False
        self._watch: asyncio.Task[None] | None = None

    def _indexes(self) -> list[int]:
        # Workers 1..N-1, then the extra API processes as -1, -2, ...
        return [*range(1, self.count), *(-i for i in range(1, self.api_processes))]

    def _name(self, index: int) -> str:
        return f"worker {index}/{self.count}" if index > 0 else f"API {-index + 1}/{self.api_processes}"

    def running(self) -> dict[str, int]:
        """How many of the worker processes beside ``serve`` run now, of how many (``/healthz``)."""
        alive = sum(1 for i, p in self.children.items() if i > 0 and p.returncode is None)
        return {"running": alive, "of": max(self.count - 1, 0)}

    def command(self, index: int) -> list[str]:
        """The command line of child ``index`` (a worker when positive, an API process otherwise)."""
        if index < 0:
            return [*self.api_command, "--listen-fd", str(self.listen_fd)]
        cmd = [sys.executable, "-m", "notifier.cli", "worker", "--config", str(self.config), "--db", self.db_url,
               "--no-digests", "--log-level", self.log_level]
        if shares_claims(self.db_url):
            cmd += ["--partition", f"{index}/{self.count}"]
        if self.capture:  # the parent was allowed the capture inbox: its workers deliver there too
            cmd.append("--dev")
        if self.lease:
            cmd += ["--lease", self.lease]
        return cmd

    async def _spawn(self, index: int) -> None:
        fds = (self.listen_fd,) if index < 0 and self.listen_fd is not None else ()
        proc = await asyncio.create_subprocess_exec(
            *self.command(index), env={**os.environ, PARENT_ENV: str(os.getpid())},
            stdin=asyncio.subprocess.DEVNULL, pass_fds=fds)
        self.children[index] = proc
        log.info("process started", process=self._name(index), pid=proc.pid)

    async def start(self) -> None:
        """Start the children and keep them running (a dead one is started again)."""
        for index in self._indexes():
            await self._spawn(index)
        self._watch = asyncio.create_task(self._keep_running())

    async def _keep_running(self) -> None:
        restarts: dict[int, float] = {}
        while not self._stopping:
            waits = {asyncio.ensure_future(p.wait()): i for i, p in self.children.items()}
            if not waits:
                return
            done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for fut in pending:
                fut.cancel()
            for fut in done:
                index = waits[fut]
                if self._stopping:
                    return
                log.warning("process exited; started again", process=self._name(index), code=fut.result())
                # Started again at once, or after a second if it keeps dying (a broken store).
                if time.monotonic() - restarts.get(index, 0.0) < 5:
                    await asyncio.sleep(1.0)
                restarts[index] = time.monotonic()
                if not self._stopping:
                    await self._spawn(index)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to every child still running."""
        for proc in self.children.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    def reload(self) -> None:
        """Ask each child to reload ``channels.yaml`` (``SIGHUP``)."""
        self.signal(signal.SIGHUP)

    def terminate(self) -> None:
        """Ask each child to finish its sends under way and stop (``SIGTERM``); no restart after this."""
        self._stopping = True
        self.signal(signal.SIGTERM)

    async def stop(self) -> None:
        """:meth:`terminate`, then wait for the children (killed after their grace period)."""
        self.terminate()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        for index, proc in self.children.items():
            try:
                await asyncio.wait_for(proc.wait(), self.grace + 5)
            except TimeoutError:
                log.warning("process did not stop in time: killed", process=self._name(index))
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()


async def watch_parent(on_gone: Callable[[], None], every: float = 1.0) -> None:
    """In a child of :class:`WorkerProcesses` (a worker or an API process): call ``on_gone``
    once the parent ``serve`` is gone."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return
    while os.getppid() == int(parent):
        await asyncio.sleep(every)
    log.warning("the serve process that started this process is gone: stopping")
    on_gone()
