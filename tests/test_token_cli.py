"""``notifier token new`` and the refusal of ``serve`` to expose an API nobody guards."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from notifier.api import create_app
from notifier.auth_cli import exposure_refusal, exposure_warning
from notifier.cli import main
from notifier.config.auth import AuthConfig
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def test_serve_refuses_a_public_host_without_any_token(tmp_path: Path, sink: Sink) -> None:
    (tmp_path / "channels.yaml").write_text(webhook_config(sink.url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_API_TOKEN"}
    # A real process: it must exit at once, before listening anywhere.
    run = subprocess.run([sys.executable, "-m", "notifier.cli", "serve", "--host", "0.0.0.0", "--port", "1",
                          "--config", str(tmp_path / "channels.yaml"), "--db", f"sqlite:///{tmp_path}/n.db"],
                         capture_output=True, text=True, timeout=60, env=env)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert err[-1].startswith("refusing to listen on 0.0.0.0 without any API token")
    assert "--insecure" in err[-1] and "NOTIFIER_API_TOKEN" in err[-1]


def _serve_on_a_taken_port(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``serve`` with ``env``, on a port already taken: a start refused before it listens
    ends with its own message; one that got as far as the port fails there."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        return subprocess.run([sys.executable, "-m", "notifier.cli", "serve", "--port", str(busy.getsockname()[1]),
                               "--config", str(tmp_path / "channels.yaml"), "--db", f"sqlite:///{tmp_path}/n.db"],
                              capture_output=True, text=True, timeout=60, env=env)


def test_serve_refuses_a_guessable_env_token_as_check_does(tmp_path: Path, sink: Sink) -> None:
    # The placeholder of notifier.env.example left in place: `check` refused it, but a unit
    # started without `check` served the whole API behind it. Now `serve` stops first.
    (tmp_path / "channels.yaml").write_text(webhook_config(sink.url), encoding="utf-8")
    env = {**os.environ, "NOTIFIER_API_TOKEN": "change-me"}
    run = _serve_on_a_taken_port(tmp_path, env)  # were the token accepted, it would fail on the port
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: NOTIFIER_API_TOKEN is only 9 characters, and opens every scope and every site: anyone could guess "
        "it. Set it to a token from `notifier token new` (24 characters or more), or unset it and use auth.tokens"]
    assert not (tmp_path / "n.db").exists()  # stopped before opening anything


def test_serve_refuses_a_stuck_after_that_is_no_duration_in_one_line(tmp_path: Path, sink: Sink) -> None:
    # It was read when the app was built: "90" (seconds, meant) ended the start in a traceback.
    (tmp_path / "channels.yaml").write_text(webhook_config(sink.url), encoding="utf-8")
    env = {**os.environ, "NOTIFIER_STUCK_AFTER": "90"}
    env.pop("NOTIFIER_API_TOKEN", None)
    run = _serve_on_a_taken_port(tmp_path, env)  # were the value accepted, it would fail on the port
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: NOTIFIER_STUCK_AFTER: invalid duration '90': expected a duration like 30s, 10m, 24h, 1h30m"]
    assert not (tmp_path / "n.db").exists()  # stopped before opening anything


@pytest.mark.parametrize(("host", "tokens", "env", "insecure", "refused"), [
    ("127.0.0.1", False, None, False, False),
    ("::1", False, None, False, False),
    ("localhost", False, None, False, False),
    ("0.0.0.0", False, None, False, True),
    ("::", False, None, False, True),
    ("notifier.internal", False, None, False, True),
    ("0.0.0.0", False, None, True, False),
    ("0.0.0.0", False, "env-token", False, False),
    ("0.0.0.0", True, None, False, False),
])
def test_which_hosts_need_a_token(host: str, tokens: bool, env: str | None, insecure: bool, refused: bool) -> None:
    auth = AuthConfig.model_validate({"tokens": [{"name": "t", "secret": "sha256:" + "0" * 64,
                                                  "scopes": ["read"]}]} if tokens else {})
    assert (exposure_refusal(host, auth, env, insecure) is not None) is refused
    # --insecure is the only way past a refusal, and it is said out loud
    warned = exposure_warning(host, auth, env) is not None
    assert warned is (insecure or refused)


async def test_token_new_prints_a_working_entry(make_service: ServiceFactory, sink: Sink,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    assert main(["token", "new", "--name", "shop bot", "--scope", "events:write", "--scope", "read",
                 "--site", "shop.example.com"]) == 0
    out = capsys.readouterr().out
    token = re.search(r"\n  (ntf_\S+)\n", out)
    assert token is not None
    snippet = out.split("add to channels.yaml:\n\n", 1)[1]
    assert token.group(1) not in snippet, "only the hash goes into the file"
    service = await make_service(webhook_config(sink.url) + snippet)
    [entry] = service.config.auth.tokens
    assert entry.name == "shop bot" and entry.scopes == ["events:write", "read"] and entry.sites == ["shop.example.com"]
    app = create_app(service, manage=False)
    headers = {"Authorization": f"Bearer {token.group(1)}"}
    event = {"kind": "support_request", "site": "shop.example.com", "conversation_id": "c", "id": "t1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.post("/v1/events", json=event, headers=headers)).status_code == 202
        assert (await c.get("/v1/events/t1", headers=headers)).status_code == 200
        other = {**event, "site": "blog.example.com", "id": "t2"}
        assert (await c.post("/v1/events", json=other, headers=headers)).status_code == 403


def test_token_new_with_hmac_points_at_an_env_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "new", "--name", "bot", "--hmac"]) == 0
    out = capsys.readouterr().out
    assert 'hmac_secret: "${NOTIFIER_HMAC_BOT}"' in out and "scopes: [events:write]" in out


def test_webhook_secret_is_accepted_by_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    from notifier.config import parse_config

    assert main(["token", "webhook-secret"]) == 0
    secret = capsys.readouterr().out.split("\n", 1)[0]
    config = parse_config("channels: {hook: {type: webhook, url: 'https://x.example/h', "
                          f"signing_secret: '{secret}'}}}}")
    assert config.channels["hook"].signing_secret == secret  # type: ignore[union-attr]


def test_auth_mistakes_are_config_errors_with_their_lines() -> None:
    from notifier.config import ConfigError, parse_config

    text = ("auth:\n"
            "  tokens:\n"
            "    - name: bot\n"
            "      secret: ntf_the-token-itself\n"
            "      scopes: [events:write, write]\n"
            "      colour: blue\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    shown = [str(i) for i in caught.value.issues]
    assert any(s.startswith("channels.yaml:4:15  auth.tokens[0].secret: secret must be the token's hash")
               for s in shown), shown
    assert any(s.startswith("channels.yaml:5:30  auth.tokens[0].scopes[1]:") and "events:write, read, admin" in s
               for s in shown), shown
    assert any(s.startswith("channels.yaml:6:7  auth.tokens[0]: unknown key 'colour'") for s in shown), shown
    assert "ntf_the-token-itself" not in "\n".join(shown), "a token pasted by mistake is not echoed"
