"""Digest test helpers: a store on a temporary file, a config, a recording channel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from notifier.channels.base import Outbound, Report, SendResult, retryable, sent
from notifier.config.loader import parse_config
from notifier.config.models import Config
from notifier.core.events import Event
from notifier.pipeline import accept
from notifier.store import Store, store_for
from tests.pgserver import PgServer

CONFIG = """
version: 1
defaults:
  timezone: Europe/Paris
  locale: fr
  event_url: "https://notifier.example.com/v1/events/{id}"
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request, contact_request, tool_call]}
    to: [hook]
  - name: money words
    match: {kinds: [message], keywords: [remboursement, refund], role: user}
    to: [hook]
digests:
  - name: daily
    schedule: "0 8 * * *"
    to: [hook]
"""


def make_config(extra_digest: str = "", *, text: str = CONFIG) -> Config:
    """The test configuration; ``extra_digest`` lines are added to the first digest."""
    if extra_digest:
        text = text.rstrip("\n") + "\n" + extra_digest
    return parse_config(text, "channels.yaml")


class Recorder:
    """A channel that keeps the reports it is given (it satisfies the channel port)."""

    type = "recorder"

    def __init__(self, name: str = "hook", *replies: SendResult) -> None:
        self.name = name
        self.reports: list[Report] = []
        self.replies = list(replies)

    async def send(self, message: Outbound) -> SendResult:
        return sent()

    async def send_report(self, report: Report) -> SendResult:
        self.reports.append(report)
        return self.replies.pop(0) if self.replies else sent(report.key)

    async def aclose(self) -> None:
        return None


def failing(n: int) -> list[SendResult]:
    return [retryable("503 Service Unavailable") for _ in range(n)]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the digest tests (skipped where PostgreSQL is not installed)."""
    server = PgServer.find()
    if server is None:
        pytest.skip("PostgreSQL server binaries not found")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store on a fresh database, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/notifier.db"
    else:
        url = request.getfixturevalue("pg_server").create_database()
    s = store_for(url)
    await s.open()
    yield s
    await s.close()


async def add(store: Store, config: Config, events: list[Event] | list[dict[str, Any]],
              now: datetime | None = None) -> None:
    """Accept events through the real pipeline (question keys, routes, deliveries) at ``now``."""
    evs = [e if isinstance(e, Event) else Event.model_validate(e) for e in events]
    for i in range(0, len(evs), 500):
        await accept(store, config, evs[i:i + 500], now or datetime.now(UTC))
