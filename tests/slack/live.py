"""A real notifier API (uvicorn on 127.0.0.1) whose Slack channel talks to the fake Slack."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from notifier.api import create_app
from notifier.service import Service
from tests.channels.fakes import FakeSlack
from tests.sink import free_port


def slack_config(slack: FakeSlack, *, allow: str = "[]", locale: str = "fr", extra: str = "") -> str:
    """A channels.yaml whose handoffs go to the fake Slack, with buttons."""
    return f"""
version: 1
defaults:
  timezone: Europe/Paris
  retry: {{attempts: 5, backoff: 20ms, max_backoff: 200ms}}
channels:
  team-slack: {{type: slack, token: "{slack.token}", channel: "#support", base_url: "{slack.api_url}",
               signing_secret: "{slack.signing_secret}", locale: {locale}, rate: 200, allow: {allow}{extra}}}
routes:
  - name: handoff
    match: {{kinds: [support_request]}}
    to: [team-slack]
"""


@dataclass
class Live:
    """The running API and its service."""

    url: str
    service: Service
    client: httpx.AsyncClient

    async def request(self, conversation: str = "c-1", message: str = "Je veux parler à quelqu'un") -> str:
        """Post a support request; its case id."""
        answer = await self.client.post(f"{self.url}/v1/events", json={
            "kind": "support_request", "site": "shop.example.com", "conversation_id": conversation,
            "message": message})
        assert answer.status_code == 202, answer.text
        return str(answer.json()["case"]["id"])

    async def click(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(f"{self.url}/v1/slack/interactions", content=body, headers=headers)


async def until(condition: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    """Wait (polling) until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def live_api(tmp_path: Path, config_text: str, db: str | None = None) -> AsyncIterator[Live]:
    """Serve the API (with its worker) on a free loopback port for the duration."""
    path = tmp_path / "channels.yaml"
    path.write_text(config_text, encoding="utf-8")
    service = Service(path, db or f"sqlite:///{tmp_path}/live.db", inbox_dir=tmp_path / "inbox")
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=free_port(),
                                           log_level="error", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        await until(lambda: server.started or task.done(), 30, "the API to start")
        assert not task.done(), "the API did not start"
        async with httpx.AsyncClient(timeout=10) as client:
            yield Live(f"http://127.0.0.1:{server.config.port}", service, client)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
