"""``/mcp`` under the API: the MCP endpoint, started on its first request.

The ``mcp`` SDK takes seconds to import on a busy machine; every ``notifier serve`` (and
each of its worker processes) would pay that at start-up for an endpoint many installs
never use. So the endpoint imports it, builds :func:`notifier.mcp_server.http_manager` and
starts its session manager on the first request, in a task of its own that also leaves it
(the SDK's task group must be entered and left by one task); :meth:`aclose` ends it with
the API's lifespan. A POST's body is checked first (:mod:`notifier.mcp_guard`), before
the SDK is started.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from notifier.mcp_guard import guarded

if TYPE_CHECKING:
    from notifier.service import Service

__all__ = ["McpEndpoint"]


class McpEndpoint:
    """An ASGI endpoint that serves MCP once it has started the SDK's session manager."""

    def __init__(self, get_service: Callable[[], Service]) -> None:
        self._get_service = get_service
        self._manager: Any = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Guarded first: a GET or a refused body is answered without starting the SDK.
        await guarded(self._handle, scope, receive, send)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        manager = self._manager or await self._start()
        await manager.handle_request(scope, receive, send)

    async def _start(self) -> Any:
        async with self._lock:
            if self._manager is not None:
                return self._manager
            from notifier.mcp_server import http_manager

            manager = http_manager(self._get_service)
            running = asyncio.Event()

            async def run() -> None:
                async with manager.run():
                    running.set()
                    await self._stop.wait()

            self._task = asyncio.create_task(run())
            waiting = asyncio.create_task(running.wait())
            await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if self._task.done():  # it failed to start: say why
                self._task.result()
            self._manager = manager
            return manager

    async def aclose(self) -> None:
        """Stop the session manager, if it was started."""
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
