"""Routing: which channels an event goes to, per channels.yaml."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.config import Config, parse_config
from notifier.core.events import Event, Priority
from notifier.core.routing import FALLBACK_ROUTE, in_business_hours, plan

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

CHANNELS = """\
channels:
  email: {type: email, to: [support@example.com]}
  slack: {type: slack, webhook_url: "https://hooks.slack.com/services/T/B/X"}
  desk: {type: zendesk, subdomain: acme, email: agent@acme.com, api_token: t}
  oncall: {type: webhook, url: "https://oncall.example.com/page"}
"""


def config(routes: str, extra: str = "") -> Config:
    return parse_config("defaults: {timezone: Europe/Paris}\n" + CHANNELS + extra + "routes:\n" + routes)


def event(kind: str = "support_request", **fields: object) -> Event:
    data: dict[str, object] = {"id": "e1", "kind": kind, "site": "shop.example.com", "conversation_id": "c1"}
    return Event.model_validate(data | fields)


def sent_to(cfg: Config, ev: Event, now: datetime = NOW) -> list[tuple[str, str]]:
    explained, accepted = plan(cfg, ev, now), plan(cfg, ev, now, explain=False)
    # Accepting routes without the reasons: it must reach the same verdicts as `notifier explain`.
    assert [(v.route, v.matched) for v in accepted.verdicts] == [(v.route, v.matched) for v in explained.verdicts]
    assert accepted.deliveries == explained.deliveries and accepted.keywords == explained.keywords
    return [(d.route, d.channel) for d in explained.deliveries]


HANDOFF_AND_WORDS = """\
  - name: urgent words
    match: {kinds: [message], keywords: [urgent, remboursement], role: user}
    to: [email, desk]
    priority: high
  - name: human handoff
    match: {kinds: [support_request, contact_request, message]}
    to: [email, slack]
"""


def test_every_matching_route_fires_and_a_channel_gets_the_event_once() -> None:
    cfg = config(HANDOFF_AND_WORDS)
    ev = event("message", message="Un REMBOURSEMENT, vite", role="user")
    # email is named by both routes: one delivery, from the first route that named it.
    assert sent_to(cfg, ev) == [("urgent words", "email"), ("urgent words", "desk"), ("human handoff", "slack")]
    routed = plan(cfg, ev, NOW)
    assert routed.keywords == ["remboursement"]
    assert [d.priority for d in routed.deliveries] == [Priority.high, Priority.high, Priority.normal]
    assert [v.matched for v in routed.verdicts] == [True, True]


def test_stop_ends_the_walk() -> None:
    cfg = config(HANDOFF_AND_WORDS.replace("    priority: high\n", "    priority: high\n    stop: true\n"))
    ev = event("message", message="urgent", role="user")
    assert sent_to(cfg, ev) == [("urgent words", "email"), ("urgent words", "desk")]
    # A route that did not match does not stop anything.
    assert sent_to(cfg, event("support_request")) == [("human handoff", "email"), ("human handoff", "slack")]


def test_fallback_takes_unrouted_support_and_contact_requests_but_not_messages() -> None:
    cfg = config("  - name: billing only\n    match: {labels: {team: billing}}\n    to: [desk]\n",
                 extra="fallback: [email, oncall]\n")
    for kind in ("support_request", "contact_request"):
        routed = plan(cfg, event(kind), NOW)
        assert routed.used_fallback
        assert [(d.route, d.channel) for d in routed.deliveries] == [
            (FALLBACK_ROUTE, "email"), (FALLBACK_ROUTE, "oncall"),
        ]
    assert sent_to(cfg, event("message", message="bonjour")) == []
    assert sent_to(cfg, event("tool_call")) == []
    # A request some route took does not also go to the fallback.
    assert sent_to(cfg, event("support_request", labels={"team": "billing"})) == [("billing only", "desk")]


def test_without_a_fallback_every_email_channel_is_the_fallback() -> None:
    cfg = config("  - name: never\n    match: {site: other}\n    to: [slack]\n")
    assert sent_to(cfg, event("contact_request")) == [(FALLBACK_ROUTE, "email")]


WORKING_HOURS = """\
  - name: day
    match: {kinds: [support_request], when: business_hours}
    to: [slack]
  - name: night
    match: {kinds: [support_request], when: after_hours}
    to: [oncall]
"""


@pytest.mark.parametrize(
    ("local", "route"),
    [
        (datetime(2026, 3, 2, 10, 0, tzinfo=PARIS), "day"),  # Monday 10:00 in Paris
        (datetime(2026, 3, 2, 20, 0, tzinfo=PARIS), "night"),  # Monday 20:00
        (datetime(2026, 3, 7, 10, 0, tzinfo=PARIS), "night"),  # Saturday 10:00
        (datetime(2026, 3, 2, 8, 30, tzinfo=UTC), "day"),  # 09:30 in Paris, though 08:30 UTC
        (datetime(2026, 3, 2, 17, 30, tzinfo=UTC), "night"),  # 18:30 in Paris, though 17:30 UTC
        (datetime(2026, 7, 6, 7, 30, tzinfo=UTC), "day"),  # summer time: 09:30 in Paris
    ],
)
def test_business_hours_are_in_the_configured_time_zone(local: datetime, route: str) -> None:
    cfg = config(WORKING_HOURS)
    assert [r for r, _ in sent_to(cfg, event(occurred_at=local.isoformat()))] == [route]


def test_business_hours_use_now_when_the_event_has_no_time() -> None:
    cfg = config(WORKING_HOURS)
    assert sent_to(cfg, event(), now=datetime(2026, 3, 2, 10, 0, tzinfo=PARIS)) == [("day", "slack")]
    assert sent_to(cfg, event(), now=datetime(2026, 3, 1, 10, 0, tzinfo=PARIS)) == [("night", "oncall")]


def test_business_hours_bounds_and_custom_days() -> None:
    hours = parse_config("defaults: {business_hours: {days: [sat], hours: '08:00-12:00'}}").defaults.business_hours
    saturday = datetime(2026, 3, 7, tzinfo=PARIS)
    assert in_business_hours(hours, "Europe/Paris", saturday.replace(hour=8))
    assert in_business_hours(hours, "Europe/Paris", saturday.replace(hour=12))
    assert not in_business_hours(hours, "Europe/Paris", saturday.replace(hour=12, minute=1))
    assert not in_business_hours(hours, "Europe/Paris", saturday.replace(hour=10) - timedelta(days=1))


def test_labels_priority_role_regex_and_site_conditions() -> None:
    cfg = config("""\
  - name: vip
    match: {labels: {plan: enterprise, region: eu}}
    to: [desk]
  - name: urgent ones
    match: {priority: [high, urgent]}
    to: [oncall]
  - name: from the user
    match: {role: user, kinds: [message]}
    to: [slack]
  - name: order numbers
    match: {regex: "commande\\\\s*#?\\\\d{5}"}
    to: [email]
  - name: blog
    match: {site: [blog.example.com, news.example.com]}
    to: [slack]
""")
    assert sent_to(cfg, event("feedback", labels={"plan": "enterprise", "region": "eu", "x": "y"})) == [("vip", "desk")]
    assert sent_to(cfg, event("feedback", labels={"plan": "enterprise"})) == []
    assert sent_to(cfg, event("feedback", priority="urgent")) == [("urgent ones", "oncall")]
    assert sent_to(cfg, event("feedback", priority="normal")) == []
    assert sent_to(cfg, event("message", role="assistant", message="hi")) == []
    assert sent_to(cfg, event("message", role="user", message="hi")) == [("from the user", "slack")]
    assert sent_to(cfg, event("feedback", message="Ma COMMANDE #12345 ?")) == [("order numbers", "email")]
    assert sent_to(cfg, event("feedback", message="commande 12")) == []
    assert sent_to(cfg, event("feedback", site="news.example.com")) == [("blog", "slack")]


def test_every_condition_must_hold_and_explain_says_why() -> None:
    cfg = config("  - name: words\n    match: {kinds: [message], keywords: [avocat]}\n    to: [email]\n")
    routed = plan(cfg, event("message", message="je contacte mon avocat"), NOW)
    assert routed.verdicts[0].matched
    assert routed.verdicts[0].reasons == ["kind message is listed", "keywords ['avocat'] found in the message"]
    routed = plan(cfg, event("support_request", message="avocat"), NOW)
    assert not routed.verdicts[0].matched
    assert "kind support_request is not in ['message']" in routed.verdicts[0].reasons


def test_deliveries_carry_the_routes_dedup() -> None:
    cfg = config("  - name: handoff\n    match: {kinds: [support_request]}\n    to: [email]\n    dedup: {window: 30m}\n"
                 "  - name: raw\n    match: {kinds: [support_request]}\n    to: [oncall]\n    dedup: {window: 0s}\n")
    first, second = plan(cfg, event(), NOW).deliveries
    assert first.dedup_key == "handoff|shop.example.com:conversation:c1:support_request"
    assert first.dedup_window == timedelta(minutes=30)
    assert (second.dedup_key, second.dedup_window) == (None, timedelta(0))
