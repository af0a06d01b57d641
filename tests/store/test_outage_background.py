"""Work a request sets going without waiting for it is background work, outage-wise.

A store call made for a waiting client cuts its wait short in a known outage
(:func:`notifier.store.outage_log.for_a_client`); the worker's must not (nobody waits
for them, and a short wait turns a slow connection into a failure and a stalled worker).
A reload asked from the console is a request: the worker's senders it starts (a channel
allowed more sends at once) run on long after it answered, and must wait as the worker does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from notifier.core.events import Event
from notifier.store.base import StoreUnavailable
from notifier.store.outage_log import for_a_client
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def _config(url: str, concurrency: int) -> str:
    return webhook_config(url).replace("timeout: 2s}", f"timeout: 2s, max_concurrency: {concurrency}}}")


def _inspectable(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                 **kwargs: Any) -> asyncio.Future[Any]:
    # The pure-Python task keeps its context where a test can read it (``_context``).
    return asyncio.tasks._PyTask(coro, loop=loop, **kwargs)  # type: ignore[attr-defined,no-any-return]


async def test_senders_a_console_reload_starts_wait_as_the_worker_does(make_service: ServiceFactory, sink: Sink,
                                                                      tmp_path: Path) -> None:
    service = await make_service(_config(sink.url, 1))
    assert service.worker is not None
    await service.accept([Event.model_validate({"kind": "support_request", "site": "s", "conversation_id": "c",
                                                "id": "e1", "message": "help"})])
    running = asyncio.create_task(service.run(worker=True, digests=False))
    await sink.wait_for(1, timeout=30)  # the worker runs: the hook's lane and its one sender exist
    service.store.outage.failed(StoreUnavailable("down"))  # an outage is known
    (tmp_path / "channels.yaml").write_text(_config(sink.url, 4), encoding="utf-8")
    loop = asyncio.get_running_loop()
    loop.set_task_factory(_inspectable)
    try:
        before = asyncio.all_tasks()
        with for_a_client():  # as the console's reload page runs it
            assert await service.reload() == []
        started = [t for t in asyncio.all_tasks() - before if not t.done()]
    finally:
        loop.set_task_factory(None)
    assert started, "the reload started no task: nothing to check"
    waits = {f"{t.get_coro().__qualname__} {t.get_name()}": t._context.run(service.store.outage.patience, 10.0)  # type: ignore[attr-defined]
             for t in started}
    assert any("_sender" in name for name in waits), waits
    assert set(waits.values()) == {10.0}, waits
    await service.close()
    await running
