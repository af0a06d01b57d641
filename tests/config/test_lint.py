"""`notifier check` warns, at the line, about a dedup key that can fold different people together."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli import main
from notifier.config.loader import load_config_warnings

HERE = Path(__file__).parent


def warnings_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return [str(w).removeprefix(f"{path}:") for w in load_config_warnings(path, env={})]


def config(defaults_dedup: str = "", route_dedup: str = "") -> str:
    return (
        "version: 1\n"
        "defaults:\n"
        f"  dedup: {defaults_dedup or '{window: 10m}'}\n"
        "channels:\n"
        "  hook: {type: webhook, url: 'http://127.0.0.1:9/h'}\n"
        "routes:\n"
        "  - name: handoff\n"
        "    match: {kinds: [contact_request]}\n"
        "    to: [hook]\n"
        + (f"    dedup: {route_dedup}\n" if route_dedup else "")
    )


def test_the_default_key_tells_people_apart_and_raises_no_warning(tmp_path: Path) -> None:
    assert warnings_of(tmp_path, config()) == []
    assert warnings_of(tmp_path, config('{window: 10m, key: "{site}:{person}:{kind}"}')) == []
    assert warnings_of(tmp_path, config(route_dedup='{key: "{route}:{id}"}')) == []


def test_a_conversation_only_key_is_named_at_its_line(tmp_path: Path) -> None:
    [warning] = warnings_of(tmp_path, config('{window: 10m, key: "{site}:{conversation_id}:{kind}"}'))
    assert warning.startswith("3:29  defaults.dedup.key: events without a conversation_id from different people")
    assert "{person}" in warning


@pytest.mark.parametrize(("key", "says"), [
    ("{site}:{kind}", "folds the requests of different people"),
    ("{site}:{user_email}", "people who gave no email get the same key"),
])
def test_a_route_key_that_can_fold_people_is_named_at_its_line(tmp_path: Path, key: str, says: str) -> None:
    [warning] = warnings_of(tmp_path, config(route_dedup=f'{{window: 30m, key: "{key}"}}'))
    assert warning.startswith("10:31  routes[0].dedup.key: ")
    assert says in warning


def test_no_warning_where_dedup_is_off(tmp_path: Path) -> None:
    assert warnings_of(tmp_path, config(route_dedup='{window: 0s, key: "{site}"}')) == []
    # Off everywhere: the fallback does not fold either.
    assert warnings_of(tmp_path, config('{window: 0s, key: "{site}"}')) == []


def test_check_prints_the_warning_and_still_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "channels.yaml").write_text(config('{window: 10m, key: "{site}:{conversation_id}:{kind}"}'),
                                            encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "channels.yaml"]) == 0
    err = capsys.readouterr().err
    assert "warning: channels.yaml:3:29  defaults.dedup.key: events without a conversation_id" in err


def test_explain_warns_about_a_key_that_can_fold_this_person_with_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "channels.yaml").write_text(config(route_dedup='{window: 30m, key: "{site}:{conversation_id}"}'),
                                            encoding="utf-8")
    (tmp_path / "event.json").write_text('{"kind": "contact_request", "site": "shop", '
                                         '"user": {"email": "marie@example.com"}}', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "event.json"]) == 0
    out = capsys.readouterr().out
    assert "dedup key handoff|shop: for" in out
    assert "warning: events without a conversation_id from different people" in out
    (tmp_path / "channels.yaml").write_text(config(), encoding="utf-8")
    assert main(["explain", "event.json"]) == 0
    out = capsys.readouterr().out
    assert "dedup key handoff|shop:email:marie@example.com:contact_request" in out and "warning" not in out
