"""`notifier send --url`: posting to a running notifier says what it said, like a local send.

A real API on a loopback port; the command runs in a thread, as it would in a shell.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from notifier.auth import hash_token
from notifier.cli import main
from tests.conftest import ServiceFactory, webhook_config
from tests.console.helpers import serving
from tests.sink import Sink, free_port

TOKEN = "ntf_send-url-token-0123456789abcdef"
EVENT = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "conv-42",
         "message": "Je voudrais parler à un conseiller", "id": "send-url-1"}


async def test_send_url_prints_the_deliveries_and_the_case(
        make_service: ServiceFactory, sink: Sink, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    auth = f'auth:\n  tokens:\n    - {{name: bot, secret: "{hash_token(TOKEN)}", scopes: [events:write]}}\n'
    service = await make_service(webhook_config(sink.url) + auth)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(EVENT), encoding="utf-8")
    async with serving(service) as base:
        # Refused: the server's answer, on stderr, with its status
        assert await asyncio.to_thread(main, ["send", str(path), "--url", base]) == 1
        err = capsys.readouterr().err
        # (the server's own log lines may share stderr with the command's, in this one process)
        assert f"\n{base}/v1/events: HTTP 401 Unauthorized: " in "\n" + err and "bearer token" in err, err

        send = ["send", str(path), "--url", base, "--token", TOKEN]
        assert await asyncio.to_thread(main, send) == 0
        out = capsys.readouterr().out
        assert out.startswith("send-url-1: accepted\n  → hook via handoff: pending\n  case "), out
        assert await asyncio.to_thread(main, send) == 0
        assert capsys.readouterr().out == "send-url-1: already received (duplicate), nothing new to deliver\n"
        assert await asyncio.to_thread(main, [*send, "--json"]) == 0
        [answer] = json.loads(capsys.readouterr().out)
        assert answer["id"] == "send-url-1" and answer["duplicate"] is True


def test_an_invalid_event_is_named_field_by_field_before_sending(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps([EVENT, {**EVENT, "kind": "support", "colour": "blue"}]), encoding="utf-8")
    assert main(["send", str(path), "--url", f"http://127.0.0.1:{free_port()}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}: invalid event\n  [1].kind: Input should be 'support_request'"), err
    assert "\n  [1].colour: unknown field\n" in err and "pydantic" not in err, err


def test_send_url_to_nothing_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(EVENT), encoding="utf-8")
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["send", str(path), "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{url}/v1/events: ") and "is `notifier serve` running there?" in err, err
    assert "Traceback" not in err
