"""The OpenAPI description matches what the API does: schemathesis against the live app.

schemathesis reads ``/openapi.json`` from a real server on loopback, generates requests
from it (valid events and batches, and invalid ones), sends them, and checks every answer
against the description: status codes, content types, JSON bodies, and no 5xx. The number
of examples is bounded so the run stays short.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from notifier.api import create_app
from notifier.service import Service
from tests.conftest import webhook_config
from tests.sink import Sink, free_port


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("openapi")
    with Sink() as sink:
        config = tmp / "channels.yaml"
        config.write_text(webhook_config(sink.url), encoding="utf-8")
        service = Service(config, f"sqlite:///{tmp}/api.db", inbox_dir=tmp / "inbox")
        server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=free_port(),
                                               log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{server.config.port}"
        finally:
            server.should_exit = True
            thread.join(30)


def test_every_answer_is_described(live_api: str) -> None:
    # schemathesis' own pytest plugin does not run under this pytest; its strategies do.
    schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9, [op.label for op in operations]
    for operation in operations:
        # Invalid requests where something can be invalid: a body or a typed query parameter
        # (a path segment is any string: nothing to break there).
        negative = (GenerationMode.NEGATIVE,) if len(operation.query) or len(operation.body) else ()
        for mode in (GenerationMode.POSITIVE, *negative):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      phases=[Phase.explicit, Phase.generate])
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate()

            try:
                check()
            except Exception as exc:  # every operation is tried; the failures are reported together
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_event_body_is_typed(live_api: str) -> None:
    spec = httpx.get(f"{live_api}/openapi.json").json()
    post = spec["paths"]["/v1/events"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0] == {"$ref": "#/components/schemas/Event"}
    assert body["oneOf"][1]["maxItems"] == 1000
    assert "kind" in spec["components"]["schemas"]["Event"]["required"]
    for status in ("400", "401", "413", "422", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"}, status


def test_the_headers_an_event_may_carry_are_described(live_api: str) -> None:
    spec = httpx.get(f"{live_api}/openapi.json").json()
    said = spec["paths"]["/v1/events"]["post"]["description"]
    for header in ("`Idempotency-Key` (1 to 200 characters, not `.` or `..`)", "`X-Notifier-Timestamp`",
                   "`X-Notifier-Signature`"):
        assert header in said
    # /healthz needs no token and takes no parameter: it answers 200 or 503, nothing else
    assert sorted(spec["paths"]["/healthz"]["get"]["responses"]) == ["200", "503"]

