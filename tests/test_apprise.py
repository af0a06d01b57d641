"""The Apprise channel, posting through Apprise's own json:// service to local sinks."""

from __future__ import annotations

from notifier.channels import ChannelContext, Outbound
from notifier.channels.apprise import create
from notifier.config.models import AppriseChannel, Defaults
from notifier.core.events import Event, Priority
from notifier.render import Renderer
from tests.sink import Reply, Sink


def message(attempt: int = 1, progress: dict[str, list[int]] | None = None) -> Outbound:
    event = Event.model_validate({
        "id": "ev-apprise", "kind": "support_request", "site": "shop.example.com", "conversation_id": "c9",
        "message": "J'ai besoin d'aide pour ma facture",
        "page": {"url": "https://shop.example.com/facture", "title": "Factures"},
        "user": {"name": "Ana", "email": "ana@example.com", "consent": True},
    })
    return Outbound(delivery_id="d-apprise", event=event, channel="ping", route="handoff",
                    priority=Priority.urgent, attempt=attempt, progress=progress or {})


def channel(*urls: str) -> object:
    ctx = ChannelContext(defaults=Defaults(timezone="Europe/Paris", locale="fr"), renderer=Renderer())
    return create("ping", AppriseChannel(type="apprise", urls=list(urls), timeout="3s"), ctx)  # type: ignore[arg-type]


def json_url(sink: Sink) -> str:
    return f"json://127.0.0.1:{sink.port}/hook"


async def test_title_and_body_reach_the_service(sink: Sink) -> None:
    result = await channel(json_url(sink)).send(message())  # type: ignore[attr-defined]
    assert result.status == "sent", result.reason
    [req] = sink.received
    body = req.json()
    assert body["title"].startswith("[URGENTE] Demande de support")
    assert "J'ai besoin d'aide pour ma facture" in body["message"]
    assert "https://shop.example.com/facture" in body["message"]


async def test_failed_url_is_retried_alone_with_its_reason() -> None:
    with Sink() as good, Sink() as bad:
        bad.responder = lambda req: Reply(500, b"boom")
        ch = channel(json_url(good), json_url(bad))
        first = await ch.send(message())  # type: ignore[attr-defined]
        assert first.status == "retry"
        assert f"127.0.0.1:{bad.port}" in first.reason
        assert first.progress == {"done": [0]}
        bad.responder = None
        second = await ch.send(message(attempt=2, progress=first.progress))  # type: ignore[attr-defined]
        assert second.status == "sent"
        assert len(good.received) == 1, "the URL that succeeded was notified again"
        assert len(bad.received) == 2


async def test_unreachable_url_is_retryable_and_secret_free() -> None:
    from tests.sink import free_port

    port = free_port()  # nothing listens there
    result = await channel(f"json://user:hunter2secret@127.0.0.1:{port}/hook").send(message())  # type: ignore[attr-defined]
    assert result.status == "retry"
    assert "hunter2secret" not in result.reason


async def test_unknown_url_scheme_is_permanent() -> None:
    result = await channel("nosuchservice://whatever").send(message())  # type: ignore[attr-defined]
    assert result.status == "permanent"
    assert "does not recognise" in result.reason
