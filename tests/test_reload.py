"""Reload in one process: a good file swaps everything at once, a broken one changes nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from notifier.core.events import Event
from notifier.inbox import captured
from tests.conftest import ServiceFactory, webhook_config
from tests.sink import Sink


def _event(eid: str) -> Event:
    return Event.model_validate({"kind": "support_request", "site": "s", "conversation_id": eid, "id": eid,
                                 "message": "help"})


async def test_old_channels_close_only_after_the_send_under_way(make_service: ServiceFactory, sink: Sink,
                                                                tmp_path: Path) -> None:
    service = await make_service(webhook_config(sink.url))
    assert service.worker is not None
    sink.latency = 1.0
    await service.accept([_event("slow")])
    old = service.channels
    drain = asyncio.create_task(service.worker.drain())
    await sink.wait_for(1, timeout=30)

    with Sink() as other:
        (tmp_path / "channels.yaml").write_text(webhook_config(other.url), encoding="utf-8")
        assert await service.reload() == []
        assert service.channels is not old
        assert not old.closed, "the old channels were closed under a send still using them"

        stats = await drain
        assert stats.sent == 1 and stats.retried == 0, stats
        deadline = time.monotonic() + 10
        while not old.closed:
            assert time.monotonic() < deadline, "the old channels were never closed"
            await asyncio.sleep(0.01)

        await service.accept([_event("next")])
        assert (await service.worker.drain()).sent == 1
        assert [r.json()["event"]["id"] for r in other.received] == ["next"]


async def test_broken_file_changes_nothing(make_service: ServiceFactory, sink: Sink, tmp_path: Path) -> None:
    service = await make_service(webhook_config(sink.url))
    config, channels = service.config, service.channels
    (tmp_path / "channels.yaml").write_text("version: 1\nchannels:\n  hook: {type: webhook}\n", encoding="utf-8")
    problems = await service.reload()
    assert problems and "channels.yaml:3:" in problems[0], problems
    assert service.config is config and service.channels is channels and not channels.closed
    (tmp_path / "channels.yaml").unlink()
    assert await service.reload(), "a missing file was taken as a configuration"
    assert service.config is config


async def test_a_file_cut_short_while_being_written_changes_nothing(make_service: ServiceFactory, sink: Sink,
                                                                      tmp_path: Path) -> None:
    # An editor or a deployment that truncates, then writes: a reload (or a restart) can
    # land in between and read an empty file, or its first lines without any channel. Taken
    # as a configuration, every request would be accepted and nobody told.
    service = await make_service(webhook_config(sink.url))
    config = service.config
    for cut in ("", "# notifier\n", "version: 1\ndefaults:\n  timezone: Europe/Paris\n"):
        (tmp_path / "channels.yaml").write_text(cut, encoding="utf-8")
        problems = await service.reload()
        assert problems and problems[0].startswith(f"{tmp_path / 'channels.yaml'}:1:1  "), problems
        assert "no channel" in problems[0]
        assert service.config is config
    await service.accept([_event("after")])
    assert (await service.worker.drain()).sent == 1  # type: ignore[union-attr]
    assert [r.json()["event"]["id"] for r in sink.received] == ["after"]


async def test_a_file_that_is_not_utf8_is_refused_with_its_line(make_service: ServiceFactory, sink: Sink,
                                                                 tmp_path: Path) -> None:
    service = await make_service(webhook_config(sink.url))
    config = service.config
    (tmp_path / "channels.yaml").write_bytes(webhook_config(sink.url).encode() + b"# d\xe9faut\n")
    problems = await service.reload()
    assert problems and "not UTF-8 text (byte 0xe9)" in problems[0], problems
    assert service.config is config


async def test_a_reload_that_adds_email_without_smtp_starts_the_capture_inbox(make_service: ServiceFactory,
                                                                              sink: Sink, tmp_path: Path) -> None:
    # Started with webhooks only, the service has no inbox (nor its SMTP server loaded): an
    # email channel without `smtp` added later must still deliver, to the capture inbox.
    service = await make_service(webhook_config(sink.url))
    assert service.inbox is None
    mail = '  mail: {type: email, to: ["support@example.com"]}\n'
    routes = """
      - name: handoff
        match: {kinds: [support_request]}
        to: [hook, mail]
    """
    (tmp_path / "channels.yaml").write_text(webhook_config(sink.url, extra=mail, routes=routes), encoding="utf-8")
    assert await service.reload() == []
    assert service.inbox is not None
    await service.accept([_event("by-mail")])
    assert (await service.worker.drain()).sent == 2  # type: ignore[union-attr]
    [kept] = captured(tmp_path / "inbox")
    assert kept.to == "support@example.com"
    assert "help" in kept.message().get_body(("plain",)).get_content()  # type: ignore[union-attr]
