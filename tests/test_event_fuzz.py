"""What the API accepts, the worker can load and every channel can render.

Property-based: events are generated from the model's own JSON Schema (hypothesis-jsonschema)
and by adversarial strategies (deep nesting, huge and odd Unicode, extreme dates, non-ASCII
addresses). Each is posted to the app; it must be refused with a 4xx in the documented
error format, or be stored, delivered to a real webhook sink over loopback, and rendered
by every built-in template (email fr/en text and HTML, serialised for servers with and
without SMTPUTF8; Slack; Teams; Zendesk; Freshdesk; Apprise) without error.

The example counts are bounded so that the whole file runs in well under 30 s; set
``NOTIFIER_FUZZ_EXAMPLES`` for a longer search.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import TypeAdapter

from notifier.api import create_app
from notifier.channels import Outbound
from notifier.channels.email import EmailTarget, wire_bytes
from notifier.core.events import MAX_DEPTH, NUL_FREE, Event, Kind, received_json
from notifier.service import Service
from tests.sink import Sink

KINDS = [k.value for k in Kind]

CONFIG = f"""
version: 1
defaults: {{timezone: Europe/Paris, locale: fr, admin_email: admin@example.com,
            retry: {{attempts: 1}}, dedup: {{window: 0s}}, event_url: "https://n.example.com/e/{{id}}"}}
channels:
  hook: {{type: webhook, url: "{{url}}", timeout: 5s}}
  mail-fr: {{type: email, to: [support@example.com], smtp: "smtp://127.0.0.1:9", locale: fr}}
  mail-en: {{type: email, to: [support@example.com], smtp: "smtp://127.0.0.1:9", locale: en}}
  slack: {{type: slack, token: xoxb-1-2, channel: "#support"}}
  teams: {{type: teams, url: "https://example.invalid/workflows/1"}}
  zendesk: {{type: zendesk, subdomain: acme, email: agent@example.com, api_token: t}}
  freshdesk: {{type: freshdesk, domain: acme, api_key: k}}
  apprise: {{type: apprise, urls: ["json://127.0.0.1:9/"]}}
routes:
  - name: everything
    match: {{kinds: {KINDS}}}
    to: [hook]
"""


class Harness:
    """A service with a live worker loop, the app on an ASGI client, and a loop to run them."""

    def __init__(self, tmp: Path, sink: Sink) -> None:
        self.sink = sink
        self.loop = asyncio.new_event_loop()
        path = tmp / "channels.yaml"
        path.write_text(CONFIG.replace("{url}", sink.url), encoding="utf-8")
        self.service = Service(path, f"sqlite:///{tmp}/fuzz.db", inbox_dir=tmp / "inbox")
        self.loop.run_until_complete(self.service.open())
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(self.service, manage=False)),
                                        base_url="http://test")
        self.tried = self.accepted = self.refused = 0

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.service.close())
        self.loop.close()

    def check(self, body: bytes) -> None:
        self.tried += 1
        same_either_way(body)
        self.loop.run_until_complete(self._check(body))

    async def _check(self, body: bytes) -> None:
        r = await self.client.post("/v1/events", content=body, headers={"content-type": "application/json"})
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 400:
            self.refused += 1
            error = r.json()
            assert isinstance(error["error"], str) and error["error"]
            for detail in error.get("details", []):
                assert isinstance(detail["path"], str) and isinstance(detail["message"], str)
            return
        assert r.status_code == 202, r.text
        self.accepted += 1
        answer = r.json()
        found = await self.service.store.get_event(answer["id"])
        assert found is not None
        event = found[0]
        if answer["deliveries"]:
            [planned] = answer["deliveries"]
            worker = self.service.worker
            assert worker is not None
            await worker.drain()
            delivery = await self.service.store.get_delivery(planned["id"])
            assert delivery is not None and delivery.status == "sent", delivery
            received = self.sink.keys()  # the Idempotency-Key of each request: the delivery id
            assert planned["id"] in received
        await self._render(event)

    async def _render(self, event: Event) -> None:
        message = Outbound(delivery_id="d" * 32, event=event, channel="x", route="everything",
                           priority=event.effective_priority, keywords=("urgent",))
        channels = self.service.channels
        for name in ("mail-fr", "mail-en"):
            mail = channels[name]
            assert isinstance(mail, EmailTarget)
            composed = mail.compose(message)
            html = composed.get_body(preferencelist=("html",))
            assert html is not None and html.get_content()
            for smtputf8 in (True, False):
                assert wire_bytes(composed, smtputf8=smtputf8)
        orjson.dumps(channels["slack"].body(message))  # type: ignore[attr-defined]
        orjson.dumps(channels["teams"].body(message))  # type: ignore[attr-defined]
        orjson.dumps(channels["zendesk"].ticket(message))  # type: ignore[attr-defined]
        orjson.dumps(channels["freshdesk"].ticket(message))  # type: ignore[attr-defined]
        title, text = channels["apprise"].render(message)  # type: ignore[attr-defined]
        assert title and text


def same_either_way(body: bytes) -> None:
    """The API's quick validation of a body (straight from its bytes) yields, when it applies,
    the very events the usual one (its parsed data, through the wrap validator) does."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    batch = isinstance(data, list)
    quick = received_json(body, batch=batch)
    if quick is None:
        return
    usual = (_MANY.validate_python(data, context={NUL_FREE: True}) if batch
             else [Event.model_validate(data, context={NUL_FREE: True})])
    assert quick == usual
    assert [e.model_fields_set for e in quick] == [e.model_fields_set for e in usual]
    assert [e.model_dump_json(exclude_none=True) for e in quick] == [e.model_dump_json(exclude_none=True)
                                                                      for e in usual]


_MANY = TypeAdapter(list[Event])


@pytest.fixture
def harness(tmp_path: Path, sink: Sink) -> Iterator[Harness]:
    h = Harness(tmp_path, sink)
    try:
        yield h
    finally:
        print(f"\nfuzz: {h.tried} events tried, {h.accepted} accepted and delivered, {h.refused} refused")
        h.close()


# Bounded for CI; NOTIFIER_FUZZ_EXAMPLES=2000 runs a deeper search by hand.
FUZZ = settings(max_examples=int(os.environ.get("NOTIFIER_FUZZ_EXAMPLES", "40")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


def test_events_from_the_json_schema(harness: Harness) -> None:
    schema = Event.model_json_schema()

    @FUZZ
    @given(from_schema(schema))
    def check(event: dict[str, Any]) -> None:
        harness.check(json.dumps(event).encode())

    check()
    assert harness.accepted > 0  # the schema's own examples are mostly valid


# ------------------------------------------------------------------- adversarial strategies
# Hostile but within the limits: these must be accepted, delivered and rendered.
ODD = st.sampled_from([
    "", " ", "\r\n", "Bcc: x@evil.example", "<!channel>", "@everyone", "[x](http://evil.example)",
    "{{ 7*7 }}", "{% raw %}", "<script>alert(1)</script>", "\u202eevil\u202c", "a\u200bb", "e\u0301" * 50,
    "😀" * 500, "中文" * 2000, "\U0010ffff", "\ufeff", "=?utf-8?q?x?=", "\\", "\"", "'", "%s%n",
    "x" * 20_000, "\x1b[31m", "\x7f\x01", "a" * 998 + " b", "lone \ud83d surrogate", "nul\x00inside",
])
TEXT = st.one_of(ODD, st.text(max_size=300))
SHORT = st.one_of(ODD.filter(lambda t: len(t) <= 64), st.text(max_size=64))
EMAILS = st.sampled_from([
    "jörg@example.com", "jorg@müller.de", "Jörg <jorg@example.com>", "用户@例子.广告", "a@b@c",
    "x@[127.0.0.1]", "\"quoted local\"@example.com", "a,b@example.com", "x@xn--mller-kva.de",
    "plain", "@", "a@", "jörg@müller.de", "a\r\nBcc: evil@example.com@x.com", "ö" * 64 + "@ex.com",
    "x@" + "ü" * 63 + ".de", "x@-bad-.de", "a@b..c", "<script>@x.com",
])
# The edges of the datetime range (year 1, year 9999) with the largest offsets: refused,
# never an OverflowError later.
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59)),
                            timezone(timedelta(hours=5, minutes=45))])
DATES = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=_OFFSETS
                 ).map(datetime.isoformat),
    st.datetimes(min_value=datetime.min, max_value=datetime.max,
                 timezones=st.sampled_from([UTC, timezone(timedelta(hours=23, minutes=59)),
                                            timezone(-timedelta(hours=23, minutes=59))])).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "1999-12-31T23:59:59Z",
                     "2100-01-01T00:00:00+01:00", "2099-12-31T23:59:59-23:59", "2000-01-01T00:00:00+23:59",
                     "2024-05-14T12:00:00", "not a date", "2024-02-30T00:00:00Z"]),
)


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


JSON_LEAF = st.one_of(TEXT, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                      st.booleans(), st.none())
ARGUMENTS = st.one_of(
    st.integers(0, MAX_DEPTH - 1).map(lambda d: {"message": _nested(d, "x")}),
    st.integers(MAX_DEPTH, 60).map(lambda d: {"message": _nested(d, "x")}),  # too deep: refused
    st.dictionaries(TEXT.filter(lambda t: len(t) <= 200), st.recursive(
        JSON_LEAF, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=10), max_size=5),
    st.just({"message": ["not", "a", "string"]}),
)
# Beyond a limit: exactly one of these makes the event a 422.
OVER_LIMIT: dict[str, st.SearchStrategy[Any]] = {
    "message": st.just("x" * 64_001),
    "labels": st.just({f"l{i}": "x" for i in range(51)}),
    "transcript": st.just([{"role": "user", "text": "x"}] * 201),
    "site": st.just("s" * 256),
}


@st.composite
def hostile_events(draw: st.DrawFn) -> bytes:
    event: dict[str, Any] = {"kind": draw(st.sampled_from(KINDS)), "site": draw(TEXT.filter(lambda t: len(t) <= 255))}
    optional: dict[str, st.SearchStrategy[Any]] = {
        "conversation_id": TEXT.filter(lambda t: len(t) <= 200), "message": TEXT, "occurred_at": DATES,
        "locale": st.sampled_from(["fr", "en", "de-CH", "zh_Hant_TW", "", "x" * 35]),
        "user": st.fixed_dictionaries({"consent": st.booleans()}, optional={
            "name": TEXT.filter(lambda t: len(t) <= 200), "email": EMAILS, "phone": SHORT, "ip": SHORT}),
        "page": st.fixed_dictionaries({}, optional={
            "url": st.sampled_from(["javascript:alert(1)", "https://ex.com/<a>?q=\"'", "https://例子.广告/ö",
                                    "http://x/" + "a" * 4000]),
            "title": TEXT}),
        "transcript": st.lists(st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system"]), "text": TEXT},
            optional={"at": DATES}), max_size=4),
        "tool": st.fixed_dictionaries({"name": st.sampled_from(["send_support_email", "ö" * 200, ""]),
                                       "arguments": ARGUMENTS}),
        "labels": st.dictionaries(st.text(string.ascii_letters + "é-_", max_size=100), TEXT.filter(
            lambda t: len(t) <= 1000), max_size=8),
        "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            event[key] = draw(strategy)
    if draw(st.integers(0, 1000)) % 10 == 7:  # one event in ten, not the first value tried
        key = draw(st.sampled_from(sorted(OVER_LIMIT)))
        event[key] = draw(OVER_LIMIT[key])
    # ensure_ascii escapes lone surrogates the way a careless client would send them
    return json.dumps(event, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


def test_hostile_events(harness: Harness) -> None:
    @FUZZ
    @given(hostile_events())
    def check(body: bytes) -> None:
        harness.check(body)

    check()
    assert harness.accepted > 0 and harness.refused > 0


def test_known_breakers_are_refused_with_the_field_named(harness: Harness) -> None:
    cases = {
        "tool.arguments": {"kind": "tool_call", "tool": {"name": "t", "arguments": _nested(MAX_DEPTH + 1, 1)}},
        "occurred_at": {"kind": "message", "occurred_at": "9999-12-31T23:59:59-23:59"},
        "transcript.0.at": {"kind": "message", "transcript": [{"role": "user", "text": "x",
                                                                "at": "0001-01-01T00:00:00+23:59"}]},
        "labels": {"kind": "message", "labels": {str(i): "x" for i in range(51)}},
        "transcript": {"kind": "message", "transcript": [{"role": "user", "text": "x"}] * 201},
    }

    async def post(body: dict[str, Any]) -> httpx.Response:
        return await harness.client.post("/v1/events", json=body)

    for path, body in cases.items():
        r = harness.loop.run_until_complete(post(body))
        assert r.status_code == 422, (path, r.text)
        paths = [d["path"].replace("[", ".").replace("]", "") for d in r.json()["details"]]
        assert path in paths, (path, r.json())
    # A NUL (which PostgreSQL cannot store) is replaced, not a reason to lose the request.
    r = harness.loop.run_until_complete(post({"kind": "support_request", "message": "a\u0000b",
                                              "labels": {"k\u0000": "v"}}))
    assert r.status_code == 202, r.text
    stored = harness.loop.run_until_complete(harness.service.store.get_event(r.json()["id"]))
    assert stored is not None and stored[0].message == "a\ufffdb" and stored[0].labels == {"k\ufffd": "v"}
    # Nested beyond what the JSON parser takes at all: a 400, not a 500.
    deep = b'{"kind":"tool_call","tool":{"name":"t","arguments":' + b'{"a":' * 5000 + b"1" + b"}" * 5002
    r = harness.loop.run_until_complete(harness.client.post("/v1/events", content=deep))
    assert r.status_code in (400, 422), r.text


def test_a_tool_written_with_escapes_goes_the_usual_way(harness: Harness) -> None:
    # A tool's arguments are any JSON. Read straight from the bytes, an integer beyond 64 bits
    # would stay an integer that no channel's JSON encoder can write (orjson gives a float):
    # the quick validation must leave such a body to the usual one, however "tool" is spelled.
    huge = b"123456789012345678901234567890"
    for key in (b'"tool"', b'"\\u0074ool"'):
        for kind in (b'"support_request"', b'"\\u0074ool_call"'):
            body = (b'{"kind":' + kind + b',"message":"help","user":{"name":"Zo\\u00e9","consent":false},' + key
                    + b':{"name":"send_support_email","arguments":{"n":' + huge + b',"message":"help"}}}')
            assert received_json(body, batch=False) is None
            assert received_json(b"[" + body + b"]", batch=True) is None
            harness.check(body)  # accepted, delivered to the webhook, rendered by every channel
    assert harness.accepted == 4


#: Bodies the generated ones rarely hold, which the quick validation takes: each must give
#: the usual way's events (a duplicate key's last value, as orjson reads it, whatever the
#: object's size; a number or a string where JSON has no other way to say it).
TAKEN_QUICKLY = [
    # A duplicate key: the last one wins, in a small object and in one of more than 16 keys.
    b'{"kind":"message","user":{"name":"Zo\\u00e9","consent":true,"consent":false}}',
    b'{"kind":"message","user":{"consent":"maybe","consent":true}}',
    b'{"kind":"message","message":1,"message":"ok"}',
    b'{"kind":"feedback","rating":9,"rating":3}',
    b'{"kind":"message","labels":{"a":"1","b":"2","a":"3"}}',
    b'{' + b",".join(b'"site":"s%d"' % i for i in range(20)) + b',"kind":"message","user":null,"user":{"name":"a"}}',
    b'{"kind":"message","labels":{' + b",".join(b'"k%d":"v%d"' % (i % 50, i) for i in range(60)) + b"}}",
    # Keys and values written with escapes; characters beyond the BMP, counted as one each.
    b'{"\\u006bind":"\\u006d\\u0065ssage","role":"\\u0075ser","message":"\\ud83d\\ude00\\u2028\\uffff\\/\\"\\\\"}',
    b'{"kind":"message","conversation_id":"' + b"\\ud83d\\ude00" * 200 + b'"}',
    b'{"kind":"message","labels":{"' + "😀".encode() * 100 + b'":"x"}}',
    '{"kind":"support_request","user":{"email":"jörg@bücher.de","phone":"\u0661\u0662\u200b","consent":true}}'.encode(),
    # Whole numbers and booleans as JSON may write them.
    b'{"kind":"feedback","rating":5.0}',
    b'{"kind":"feedback","rating":4.9999999999999999999}',
    b'{"kind":"feedback","rating":1e0}',
    b'{"kind":"message","user":{"consent":1.0000000000000000001}}',
    b'{"kind":"message","user":{"consent":"yes"}}',
    b'{"kind":"message","user":{"consent":-0.0}}',
    # Times as numbers (seconds, milliseconds), as digits in a string, with escapes.
    b'{"kind":"message","occurred_at":1700000000.123456789}',
    b'{"kind":"message","occurred_at":1700000000123.4567}',
    b'{"kind":"message","occurred_at":"1700000000.5"}',
    b'{"kind":"message","occurred_at":"2024\\u002d01-01t00:00:00.1234567891z"}',
    b'{"kind":"message","transcript":[{"role":"user","text":"x","text":"y","at":17e8}]}',
    # A tool written with escapes but null, and whitespace around it all.
    b' \t\r\n{"kind":"message","\\u0074ool":null} \n',
    b'[{"kind":"message"},{"kind":"feedback","rating":3},{"kind":"support_request","rating":null}]',
]

#: Bodies both ways refuse (the quick one leaves them to the usual one, for its errors).
REFUSED = [
    b'{"kind":"message","message":"ok","message":1}',
    b'{"kind":"feedback","rating":null,"rating":9}',
    b'{"kind":"feedback","rating":5,"kind":"message"}',
    b'{"kind":"message","user":{"consent":true,"consent":2}}',
    b'{"kind":"feedback","rating":123456789012345678901234567890}',
    b'{"kind":"feedback","rating":-0}',
    b'{"kind":"feedback","rating":true}',
    b'{"kind":"message","occurred_at":99999999999999999999999}',
    b'{"kind":"message","occurred_at":true}',
    b'{"kind":"message","occurred_at":"2024-01-01T23:59:60Z"}',
    b'{"kind":"message","conversation_id":"' + b"\\ud83d\\ude00" * 201 + b'"}',
    b'{"kind":"message","id":"\\u002e"}',
    b'[{"kind":"message"},{"kind":"message","role":"system"}]',
]


def test_bodies_the_quick_validation_takes_give_the_usual_events(harness: Harness) -> None:
    for body in TAKEN_QUICKLY:
        batch = body.lstrip().startswith(b"[")
        assert received_json(body, batch=batch) is not None, body
        same_either_way(body)
        if not batch:  # the harness reads one event's answer
            harness.check(body)
    for body in REFUSED:
        assert received_json(body, batch=body.startswith(b"[")) is None, body
        with pytest.raises(ValueError):
            data = orjson.loads(body)
            if isinstance(data, list):
                _MANY.validate_python(data, context={NUL_FREE: True})
            else:
                Event.model_validate(data, context={NUL_FREE: True})
        harness.check(body)
    assert harness.accepted == len(TAKEN_QUICKLY) - 1 and harness.refused == len(REFUSED)
