"""Running the long-lived processes: ``notifier serve`` (HTTP) and the signals both obey.

* ``SIGHUP`` reloads ``channels.yaml`` (:meth:`Service.reload`): a broken file is refused,
  each problem logged with its ``file:line:col``, and the running configuration stays.
* ``SIGTERM`` / ``SIGINT`` drain: no new claims, sends under way finish (or are released
  to the queue after the worker's grace period), then the process exits 0.

The HTTP server is uvicorn, with the read deadlines and the connection cap of
:mod:`notifier.http_guard` so slow or idle clients cannot starve the API.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from collections.abc import Callable
from types import FrameType
from typing import Any

import structlog

from notifier.service import Service
from notifier.worker_processes import WorkerProcesses

__all__ = ["freeze_startup_heap", "handle_hangup", "serve_http"]

log = structlog.get_logger("notifier.server")


#: Net allocations of tracked objects between two young collections (Python's default: 700).
YOUNG_COLLECTION_AFTER = 20_000


def freeze_startup_heap() -> None:
    """Leave what start-up built (modules, the app, the configuration) out of garbage
    collection, and collect the young generation less often.

    A full collection walks every tracked object; a serving process allocates thousands a
    second (each event is a pydantic model, a dict, a plan) and so runs one every few
    seconds, each walking the whole start-up heap again for nothing: about a tenth of the
    API's CPU per accepted event. Frozen objects are still freed by reference counting.

    A batch of 500 events keeps some ten thousand objects alive while it is accepted or
    delivered. Every 700 allocations the default collected the young generation: it walked
    the batch each time and moved it on to the older generations, whose collections walked
    it again. At 20,000 most batches are done and freed before a collection comes: in the
    Alertmanager comparison's run the collector took 0.3-0.5 s of ``serve``'s CPU per two
    rounds instead of about 1 s, for a few MB more at the peak (docs/benchmarks.md).
    Reference cycles are still collected, only later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, 20, 10)


def handle_hangup(service: Service, after: Callable[[list[str]], None] | None = None,
                  also: Callable[[], None] | None = None) -> None:
    """Reload ``service``'s configuration on every ``SIGHUP`` (call inside the running loop).

    ``after`` receives the problems of each reload (empty when the new file is in use);
    ``also`` is called on each ``SIGHUP`` too (to pass it on to worker processes).
    """
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[list[str]]] = set()

    def reload() -> None:
        log.info("SIGHUP: reloading the configuration", path=str(service.config_path))
        if also is not None:
            also()
        task = loop.create_task(service.reload())
        pending.add(task)  # keep a reference until done: the loop holds tasks weakly
        task.add_done_callback(pending.discard)
        if after is not None:
            task.add_done_callback(lambda t: after(t.result()) if not t.cancelled() and t.exception() is None
                                   else None)

    loop.add_signal_handler(signal.SIGHUP, reload)


def serve_http(app: Any, service: Service, *, sockets: list[socket.socket],
               on_started: Callable[[], None] | None = None,
               on_reloaded: Callable[[list[str]], None] | None = None,
               workers: WorkerProcesses | None = None, stop_with_parent: bool = False,
               **options: Any) -> None:
    """Run ``app`` on ``sockets`` until ``SIGTERM``/``SIGINT``; ``SIGHUP`` reloads ``service``.

    With ``stop_with_parent`` (an extra API process of ``serve --api-processes``) it also
    stops once the ``serve`` that started it is gone, killed with ``SIGKILL`` included:
    otherwise it would go on answering on the port with nobody to stop it.

    ``on_started`` is called once the service is open and serving, ``on_reloaded`` after
    each ``SIGHUP`` reload with its problems; ``workers`` are started once the service is
    open, get every ``SIGHUP`` and the stop signal, and are waited for before returning;
    ``options`` go to :func:`notifier.http_guard.uvicorn_config` (``limits=`` among them).
    """
    import uvicorn

    from notifier.http_guard import uvicorn_config

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                freeze_startup_heap()
            if self.started and workers is not None:
                await workers.start()
            if self.started and on_started is not None:
                on_started()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Long-lived answers (the console's live queue) end when they see this, so a
            # stop is not held up by an open browser tab.
            state = getattr(app, "state", None)
            if state is not None:
                state.closing = True
            # The worker processes drain together with this one, not after it.
            if workers is not None:
                workers.terminate()
            super().handle_exit(sig, frame)

    config = uvicorn_config(app, **options)
    server = Server(config)

    async def main() -> None:
        # Before uvicorn: a database that cannot be opened ends the command with one line
        # (notifier.cli), where uvicorn's start-up would print a traceback. The app's own
        # start-up opens it again, which is then nothing to do.
        await service.store.open()
        handle_hangup(service, on_reloaded, workers.reload if workers is not None else None)
        watcher = None
        if stop_with_parent:
            from notifier.worker_processes import watch_parent

            watcher = asyncio.create_task(watch_parent(lambda: server.handle_exit(signal.SIGTERM, None)))
        try:
            await server.serve(sockets=sockets)
        finally:
            if watcher is not None:
                watcher.cancel()
            if workers is not None:
                await workers.stop()

    # uvicorn re-raises the stop signal once it has shut down, to exit "killed by SIGTERM";
    # ignoring it then makes a drained stop exit 0, as supervisors expect of a clean stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())
