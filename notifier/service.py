"""Wiring: configuration + store + channels, and the long-running parts (worker, digests).

A :class:`Service` is what ``notifier serve`` and ``notifier worker`` run, and what the
HTTP API calls to accept events. ``reload()`` (``SIGHUP``) swaps in a new configuration
only if it loads cleanly: a broken ``channels.yaml`` never replaces a running one. A good
one replaces config, routes, channels and digests at once, between two awaits, so no
request sees half of each; the old channels close once the sends using them returned.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from notifier import metrics
from notifier.action_links import links_for
from notifier.channels import ChannelContext, build_channel
from notifier.channels.channel_set import ChannelSet
from notifier.channels.slack_config import socket_mode_channels
from notifier.config.errors import ConfigError
from notifier.config.loader import load_config
from notifier.config.models import ChannelConfig, Config
from notifier.core.events import Event
from notifier.health import WorkerLiveness
from notifier.intake import Intake
from notifier.pipeline import Accepted, accept
from notifier.render import Renderer
from notifier.store import Store, store_for
from notifier.store.outage_log import for_the_background
from notifier.worker import Worker, utcnow

if TYPE_CHECKING:
    from notifier.digest import DigestScheduler
    from notifier.slack_socket import SlackSockets

__all__ = ["DEFAULT_CONFIG", "DEFAULT_DB", "Service"]

log = structlog.get_logger("notifier.service")

DEFAULT_CONFIG = "channels.yaml"
DEFAULT_DB = "sqlite:///notifier.db"


def default_config_path() -> Path:
    """``NOTIFIER_CONFIG`` or ``./channels.yaml``."""
    return Path(os.environ.get("NOTIFIER_CONFIG", DEFAULT_CONFIG))


def default_db_url() -> str:
    """``NOTIFIER_DB`` or ``sqlite:///notifier.db``."""
    return os.environ.get("NOTIFIER_DB", DEFAULT_DB)


def checked_renderer(config: Config) -> Renderer:
    """The renderer of ``config``; a template that does not compile is a :class:`ConfigError`.

    Checked when the configuration loads, so a typo in a template is reported with its
    file and line at start-up, not as a failed send at night.
    """
    from notifier.config.errors import ConfigError, ConfigIssue

    if config.templates is not None and not config.templates.is_dir():
        raise ConfigError([ConfigIssue(str(config.templates), None, None, ("templates",),
                                       "templates directory not found")])
    renderer = Renderer(config.templates)
    problems = renderer.check()
    if problems:
        raise ConfigError([ConfigIssue(p.file, p.line or 1, 1, ("templates",), p.message) for p in problems])
    return renderer


def needs_inbox(config: Config) -> bool:
    """Whether an email channel has no SMTP server and so delivers to the capture inbox."""
    return any(ch.type == "email" and not ch.smtp for ch in config.channels.values())


class Service:
    """The running notifier."""

    def __init__(
        self,
        config_path: str | Path | None = None,
        db_url: str | None = None,
        *,
        config: Config | None = None,
        inbox_dir: str | Path | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_options: dict[str, Any] | None = None,
        capture: bool = True,
        inline_store: bool = False,
    ) -> None:
        self.config_path = Path(config_path) if config_path else default_config_path()
        self.db_url = db_url or default_db_url()
        self.config: Config = config if config is not None else load_config(self.config_path)
        # `serve` and `worker`: SQLite's short calls run on the loop (see store.sqlite_thread).
        self.store: Store = store_for(self.db_url, inline=inline_store)
        self.clock = clock
        self.inbox_dir = Path(inbox_dir or os.environ.get("NOTIFIER_INBOX", "notifier-inbox"))
        self.inbox: Any = None
        # Whether an email channel without SMTP may deliver to the capture inbox; the
        # command line allows it on a loopback address or with --dev only.
        self.capture = capture
        self.renderer = checked_renderer(self.config)
        self.channels = ChannelSet()
        self.worker: Worker | None = None
        self.scheduler: DigestScheduler | None = None
        self._retiring: set[asyncio.Task[None]] = set()
        self._worker_options = worker_options or {}
        self._tasks: list[asyncio.Task[None]] = []
        # Reads the service's store, config and clock at each commit: a reload applies to the next one.
        self._intake = Intake(lambda: self.store, lambda: self.config, lambda: self.clock())
        self._worker_task: asyncio.Task[None] | None = None
        self.sockets: SlackSockets | None = None
        #: Channels a reload removed (by name, as last configured): buttons of the alerts they
        #: posted are still clicked, and the click is answered that the channel is gone.
        self.removed_channels: dict[str, ChannelConfig] = {}
        self._stop = asyncio.Event()

    # ----------------------------------------------------------------- lifecycle
    async def open(self) -> None:
        """Open the store, start the capture inbox if needed, build the channels."""
        await self.store.open()
        if self.capture and needs_inbox(self.config):
            from notifier.inbox import Inbox

            self.inbox = Inbox(self.inbox_dir)
            await self.inbox.start()
            log.info("email without smtp goes to the capture inbox", address=self.inbox.address,
                     directory=str(self.inbox_dir))
        self.channels = self._build_channels(self.config, self.renderer)
        self.worker = Worker(self.store, self.config, self.channels, clock=self.clock, **self._worker_options)

    def context(self, config: Config, renderer: Renderer) -> ChannelContext:
        """What channels share."""
        return ChannelContext(
            defaults=config.defaults,
            renderer=renderer,
            inbox=self.inbox.address if self.inbox is not None else None,
            event_url=config.defaults.event_url,
            links=links_for(config),
            clock=self.clock,
        )

    def _build_channels(self, config: Config, renderer: Renderer) -> ChannelSet:
        ctx = self.context(config, renderer)
        return ChannelSet({name: build_channel(name, cfg, ctx) for name, cfg in config.channels.items()})

    async def run(self, *, worker: bool = True, digests: bool = True) -> None:
        """Run the worker, the digest scheduler and the daily retention purge until :meth:`stop`."""
        if worker and self.worker is not None:
            self._worker_task = asyncio.create_task(self.worker.run(self._stop))
            self._tasks.append(self._worker_task)
            from notifier.escalation import Escalator

            escalator = Escalator(self.store, lambda: self.config, self.worker.id, self.clock)
            self._tasks.append(asyncio.create_task(escalator.run(self._stop)))
            self._follow_sockets()
        if digests:
            from notifier.digest import DigestScheduler

            # Started even without digests: a reload may add one.
            self.scheduler = DigestScheduler(self.config, self.store, self.channels, self.renderer,
                                             self.worker.id if self.worker else "scheduler")
            self._tasks.append(asyncio.create_task(self.scheduler.run(self._stop)))
        if worker or digests:
            from notifier.retention import Purger

            purger = Purger(self.store, lambda: self.config, self.worker.id if self.worker else "scheduler",
                            self.clock)
            self._tasks.append(asyncio.create_task(purger.run(self._stop)))
        if self._tasks:
            await asyncio.gather(*self._tasks)

    def _follow_sockets(self) -> None:
        """Slack clicks over Socket Mode (no public URL needed), beside the worker: its
        connections follow the configuration, started by the first reload that asks for one."""
        if self.sockets is not None:
            self.sockets.follow()
        elif socket_mode_channels(self.config.channels.values()) and not self._stop.is_set():
            from notifier.slack_socket import SlackSockets  # Slack's client only where a channel asks for it

            self.sockets = SlackSockets(self)
            self._tasks.append(asyncio.create_task(self.sockets.run(self._stop)))

    def worker_liveness(self) -> WorkerLiveness | None:
        """The state of this process's worker loop; ``None`` when it runs none."""
        if self._worker_task is None or self.worker is None:
            return None
        return WorkerLiveness.of(not self._worker_task.done(), self.worker.beat)

    def stop(self) -> None:
        """Ask the worker and scheduler to finish (graceful: in-flight sends complete)."""
        self._stop.set()

    async def close(self) -> None:
        """Stop everything and release resources."""
        self.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
        await self.channels.aclose()
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        if self.inbox is not None:
            await self.inbox.stop()
        await self.store.close()

    async def reload(self) -> list[str]:
        """Load the configuration file again; keep the running one if the new one is broken.

        Returns the problems (``file:line:col  path: message``), empty when the new
        configuration is in use. Sends under way finish on the old channels, which are
        closed in the background once the last of them returned.
        """
        # Asked from the console, this runs inside a request; the worker senders and Slack
        # connections it starts are background work all the same.
        with for_the_background():
            return await self._reload()

    async def _reload(self) -> list[str]:
        try:
            config = load_config(self.config_path, require_channels=True)
            renderer = checked_renderer(config)
        except (ConfigError, OSError) as exc:
            problems = ([str(i) for i in exc.issues] if isinstance(exc, ConfigError)
                        else [f"{self.config_path}: {exc.strerror or exc}"])
            for problem in problems:
                log.error("configuration problem", problem=problem)
            log.error("configuration not reloaded: the running one stays", path=str(self.config_path),
                      problems=len(problems))
            metrics.config_reloads.labels("refused").inc()
            return problems
        if not self.capture:
            from notifier.startup import capture_problems

            if capture_problems(config):  # the same refusal as at start: mail would reach nobody
                for problem in capture_problems(config):
                    log.error("configuration problem", problem=problem)
                log.error("configuration not reloaded: the running one stays", path=str(self.config_path))
                metrics.config_reloads.labels("refused").inc()
                return capture_problems(config)
        elif needs_inbox(config) and self.inbox is None:
            from notifier.inbox import Inbox

            self.inbox = Inbox(self.inbox_dir)
            await self.inbox.start()
        channels = self._build_channels(config, renderer)
        # From here to the end of the swap there is no await: every request and every send
        # sees either the old configuration whole or the new one whole.
        old = self.channels
        self.removed_channels = {**{n: c for n, c in self.removed_channels.items() if n not in config.channels},
                                 **{n: c for n, c in self.config.channels.items() if n not in config.channels}}
        self.config, self.renderer, self.channels = config, renderer, channels
        if self.worker is not None:
            self.worker.reconfigure(config, channels)
        if self.scheduler is not None:
            self.scheduler.reconfigure(config, channels, renderer)
        if self._worker_task is not None:
            self._follow_sockets()
        task = asyncio.create_task(old.retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        metrics.config_reloads.labels("applied").inc()
        log.info("configuration reloaded", path=str(self.config_path), channels=len(config.channels),
                 routes=len(config.routes), digests=len(config.digests))
        return []

    # ----------------------------------------------------------------- use cases
    async def accept(self, events: list[Event], *, now: datetime | None = None) -> list[Accepted]:
        """Accept events (ids and times filled in): durable when this returns."""
        if now is not None:  # a given time (tests, imports): a transaction of its own
            return await accept(self.store, self.config, [e.completed(now) for e in events], now)
        received = self.clock()  # one request's events arrived together
        return await self._intake.accept([e.completed(received) for e in events])
