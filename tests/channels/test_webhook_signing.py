"""Outgoing webhooks signed per the Standard Webhooks spec, verified as a receiver would.

The receiver below is the snippet the documentation gives (the ``standardwebhooks``
package, https://github.com/standard-webhooks/standard-webhooks/tree/main/libraries/python):
it answers 401 unless the signature verifies, so a delivery counts as sent only when a
real receiver accepted its signature.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifier.config import ConfigError, parse_config
from notifier.core.events import Event, Kind, User
from tests.conftest import ServiceFactory
from tests.sink import Received, Reply, Sink

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def receiver(secret: str) -> Callable[[Received], Reply]:
    hook = Webhook(secret)

    def verify(req: Received) -> Reply:
        try:
            hook.verify(req.body, req.headers)
        except WebhookVerificationError as exc:
            return Reply(401, str(exc).encode())
        return Reply(204, b"")
    return verify


def config(url: str, secret: str) -> str:
    return f"""
channels:
  hook: {{type: webhook, url: "{url}", signing_secret: "{secret}", timeout: 2s,
          retry: {{attempts: 3, backoff: 10ms, max_backoff: 50ms}}}}
routes:
  - {{name: handoff, match: {{kinds: [support_request]}}, to: [hook]}}
"""


def event() -> Event:
    return Event(kind=Kind.support_request, site="shop", conversation_id="c", message="Un humain svp",
                 user=User(name="Jörg", email="j@example.com", consent=True))


async def test_a_receiver_verifies_a_real_delivery_and_its_retry(make_service: ServiceFactory, sink: Sink) -> None:
    sink.reply(Reply(503, b"busy"))  # the first attempt fails: the retry must be signed afresh
    sink.responder = receiver(SECRET)
    service = await make_service(config(sink.url, SECRET))
    [accepted] = await service.accept([event()])
    assert service.worker is not None
    await service.worker.drain(include_retries=True, timeout=30)
    [delivery] = await service.store.list_deliveries(event_id=accepted.id)
    assert delivery.status == "sent", delivery.last_error
    first, retry = sink.received
    # one message id across retries (receivers dedup on it), the delivery's id as for Idempotency-Key
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == delivery.id
    assert retry.headers["idempotency-key"] == delivery.id
    assert Webhook(SECRET).verify(retry.body, retry.headers)["event"]["user"]["name"] == "Jörg"


async def test_a_forged_or_tampered_delivery_is_rejected(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(config(sink.url, SECRET))
    await service.accept([event()])
    assert service.worker is not None
    await service.worker.drain()
    [req] = sink.received
    hook = Webhook(SECRET)
    hook.verify(req.body, req.headers)
    with pytest.raises(WebhookVerificationError):
        hook.verify(req.body.replace(b"Un humain", b"Un robot!"), req.headers)
    with pytest.raises(WebhookVerificationError):
        hook.verify(req.body, {**req.headers, "webhook-id": "another-id"})
    other = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(req.body, req.headers)
    unsigned = {k: v for k, v in req.headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError):
        hook.verify(req.body, unsigned)


async def test_a_receiver_with_another_secret_makes_it_a_dead_letter(make_service: ServiceFactory,
                                                                     sink: Sink) -> None:
    sink.responder = receiver("whsec_" + base64.b64encode(b"x" * 32).decode())
    service = await make_service(config(sink.url, SECRET))
    [accepted] = await service.accept([event()])
    assert service.worker is not None
    await service.worker.drain()
    [delivery] = await service.store.list_deliveries(event_id=accepted.id)
    assert delivery.status == "dead" and "401" in (delivery.last_error or "")
    assert SECRET[6:16] not in (delivery.last_error or "")


@pytest.mark.parametrize("bad", ["plain-text-secret", "whsec_not*base64",
                                 "whsec_" + base64.b64encode(b"short").decode()])
def test_a_bad_signing_secret_is_a_config_error_with_its_line(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config("https://example.com/hook", bad))
    [issue] = info.value.issues
    assert issue.line == 3 and "channels.hook.signing_secret" in str(issue) and "whsec_" in str(issue)


def documented_receiver(secret: str) -> Callable[[bytes, dict[str, str]], int]:
    """The receiver snippet of docs/operations.md, run as written."""
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    [snippet] = [block for block in re.findall(r"```python\n(.*?)```", doc, re.S) if "standardwebhooks" in block]
    namespace: dict[str, Any] = {"HOOK_SIGNING_SECRET": secret}
    exec(snippet.replace("    ...", "    pass"), namespace)
    receive: Callable[[bytes, dict[str, str]], int] = namespace["receive"]
    return receive


async def test_the_documented_receiver_snippet(make_service: ServiceFactory, sink: Sink) -> None:
    service = await make_service(config(sink.url, SECRET))
    await service.accept([event()])
    assert service.worker is not None
    await service.worker.drain()
    [req] = sink.received
    receive = documented_receiver(SECRET)
    assert receive(req.body, req.headers) == 204
    assert receive(req.body.replace(b"Un humain", b"Un robot!"), req.headers) == 401
