"""Rotating a token on a running ``notifier serve``: two tokens overlap, then the old one stops.

A real process, real HTTP and a real SIGHUP, as the operations guide tells an admin to do it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from notifier.auth import hash_token
from notifier.cli import main
from tests.conftest import webhook_config
from tests.sink import Sink, free_port
from tests.test_signals import _hangup, _start, _wait

pytestmark = pytest.mark.slow

OLD, NEW = "ntf_old-token-0123456789abcdef", "ntf_new-token-0123456789abcdef"
SIGNED, HMAC_SECRET = "ntf_signed-token-0123456789abcdef", "a-shared-hmac-secret-0123456789"


def tokens(*entries: tuple[str, str]) -> str:
    lines = "".join(f'    - {{name: {name}, secret: "{hash_token(token)}", scopes: [events:write, read]}}\n'
                    for name, token in entries)
    # A chatbot whose bodies must be signed stays configured throughout.
    lines += (f'    - {{name: signed, secret: "{hash_token(SIGNED)}", scopes: [events:write], '
              f'hmac_secret: "{HMAC_SECRET}"}}\n')
    return "auth:\n  tokens:\n" + lines


def test_two_tokens_overlap_then_the_old_one_is_refused(sink: Sink, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    config = tmp_path / "channels.yaml"
    config.write_text(webhook_config(sink.url) + tokens(("bot", OLD)), encoding="utf-8")
    log, port = tmp_path / "serve.log", free_port()
    proc = _start("serve", "--config", str(config), "--db", f"sqlite:///{tmp_path}/n.db",
                  "--port", str(port), log=log)
    base = f"http://127.0.0.1:{port}"

    def post(token: str, eid: str) -> int:
        event = {"kind": "support_request", "site": "s", "conversation_id": eid, "id": eid}
        return httpx.post(f"{base}/v1/events", json=event, timeout=10,
                          headers={"Authorization": f"Bearer {token}"}).status_code

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait(up, "the API", proc, log)
        assert httpx.get(f"{base}/metrics", timeout=10).status_code == 401
        assert post(OLD, "e1") == 202 and post(NEW, "e2") == 401

        config.write_text(webhook_config(sink.url) + tokens(("bot", OLD), ("bot-2026", NEW)), encoding="utf-8")
        _hangup(proc, log, "configuration reloaded")
        assert post(OLD, "e3") == 202 and post(NEW, "e4") == 202

        config.write_text(webhook_config(sink.url) + tokens(("bot-2026", NEW)), encoding="utf-8")
        _hangup(proc, log, "configuration reloaded")
        assert post(OLD, "e5") == 401 and post(NEW, "e6") == 202

        # `notifier send --url` signs for a token that requires it
        event = tmp_path / "event.json"
        event.write_text('{"kind": "support_request", "site": "s", "conversation_id": "c", "id": "signed-1"}')
        assert main(["send", str(event), "--url", base, "--token", SIGNED]) == 1
        assert main(["send", str(event), "--url", base, "--token", SIGNED, "--hmac-secret", HMAC_SECRET]) == 0
        assert httpx.get(f"{base}/v1/events/signed-1", timeout=10,
                         headers={"Authorization": f"Bearer {NEW}"}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
