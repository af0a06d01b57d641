"""Response times and satisfaction, measured where the facts happen: each test runs on SQLite and PostgreSQL.

A week of a small support team: requests accepted through the pipeline, claims and
resolutions through :func:`notifier.cases.act` (as every channel calls it), feedback
events with ratings. The digest's figures, its rendering in every form and the
Prometheus histograms are read back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier import metrics
from notifier.cases import act
from notifier.config.loader import parse_config
from notifier.config.models import Config
from notifier.core.digest import period_for_date
from notifier.core.events import Event
from notifier.digest import DigestScheduler
from notifier.pipeline import accept
from notifier.render import Renderer
from notifier.store import Store
from notifier.store.measures import MeasureStore

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris
THURSDAY_LATE = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)  # 17:30 in Paris, half an hour before closing
H = timedelta(hours=1)
M = timedelta(minutes=1)

CONFIG = """
version: 1
defaults:
  timezone: Europe/Paris
  locale: en
  business_hours: {days: [mon, tue, wed, thu, fri], hours: "09:00-18:00"}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request, tool_call]}
    to: [hook]
    response_target: 2h
digests:
  - name: weekly
    schedule: "0 8 * * 1"
    to: [hook]
    sections: [response_times, satisfaction]
"""


def config() -> Config:
    return parse_config(CONFIG, "channels.yaml")


def request(conversation: str, site: str = "shop") -> Event:
    return Event.model_validate({"kind": "support_request", "site": site, "conversation_id": conversation,
                                 "message": "Je veux parler à quelqu'un"})


def feedback(conversation: str, rating: int, site: str = "shop") -> Event:
    return Event.model_validate({"kind": "feedback", "site": site, "conversation_id": conversation,
                                 "rating": rating, "message": "merci"})


async def case_of(store: Store, cfg: Config, event: Event, now: datetime) -> str:
    (res,) = await accept(store, cfg, [event.completed(now)], now)
    assert res.case is not None
    return str(res.case["id"])


def samples(name: str, site: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"{name}_count", {"site": site}) or 0.0


async def a_week(store: Store) -> tuple[Config, dict[str, str]]:
    """Four cases: A claimed and resolved by marie, B claimed overnight by paul, C left alone, D resolved late."""
    cfg = config()
    ids = {
        "a": await case_of(store, cfg, request("a"), MONDAY),
        "c": await case_of(store, cfg, request("c"), MONDAY),
        "d": await case_of(store, cfg, request("d"), MONDAY),
        "b": await case_of(store, cfg, request("b", site="blog"), THURSDAY_LATE),
    }
    await act(store, cfg, ids["a"], "claim", by="marie", via="slack", now=MONDAY + 30 * M)
    await act(store, cfg, ids["a"], "claim", by="marie", via="email", now=MONDAY + 40 * M)  # a repeat: no new measure
    await act(store, cfg, ids["a"], "resolve", by="marie", via="slack", now=MONDAY + 90 * M)
    await act(store, cfg, ids["d"], "resolve", by="paul", via="api", now=MONDAY + 3 * H)
    # Thursday 17:30 -> Friday 09:30 in Paris: 16 hours on the wall, one in business hours.
    await act(store, cfg, ids["b"], "claim", by="paul", via="teams", now=THURSDAY_LATE + 16 * H)
    for conversation, rating in (("a", 5), ("d", 2), ("z", 4)):  # z: the bot answered alone, no case
        await accept(store, cfg, [feedback(conversation, rating).completed(MONDAY + 5 * H)], MONDAY + 5 * H)
    return cfg, ids


async def test_times_rate_and_overdue_per_site_and_agent(store: Store) -> None:
    before = samples("notifier_case_time_to_claim_seconds", "blog")
    await a_week(store)
    # The histogram took the claim when it was recorded, in business-hours seconds.
    assert samples("notifier_case_time_to_claim_seconds", "blog") == before + 1
    r = await MeasureStore(store.connector()).response_times(
        MONDAY - 24 * H, MONDAY + 7 * 24 * H, site=None, at=MONDAY + 7 * 24 * H, business_hours=True)
    assert (r.claimed.count, r.claimed.mean, r.claimed.longest, r.claimed.late) == (2, 2700.0, 3600.0, 0)
    assert (r.resolved.count, r.resolved.mean, r.resolved.late) == (2, 8100.0, 1)  # D: 3 h, past its 2 h
    agents = {g.key: g for g in r.per_agent}
    assert agents["marie"].claimed.mean == 1800 and agents["marie"].resolved.mean == 5400
    assert agents["paul"].claimed.mean == 3600 and agents["paul"].resolved.mean == 10800
    sites = {g.key: (g.claimed.count, g.resolved.count) for g in r.per_site}
    assert sites == {"shop": (1, 2), "blog": (1, 0)}
    assert (r.opened, r.opened_resolved, r.resolution_rate) == (4, 2, 0.5)
    assert r.overdue == 1 and r.overdue_cases[0].site == "shop"
    wall = await MeasureStore(store.connector()).response_times(
        MONDAY - 24 * H, MONDAY + 7 * 24 * H, site="blog", at=MONDAY, business_hours=False)
    assert wall.claimed.mean == 16 * 3600 and wall.overdue == 0


async def test_ratings_join_their_case_and_its_agent(store: Store) -> None:
    _, ids = await a_week(store)
    s = await MeasureStore(store.connector()).satisfaction(MONDAY, MONDAY + 24 * H, site=None)
    assert s.count == 3 and s.mean == 3.67 and s.satisfied == 0.6667
    assert [(a.agent, a.count, a.mean) for a in s.per_agent] == [("marie", 1, 5.0), ("paul", 1, 2.0)]
    assert s.without_agent == 1
    assert await MeasureStore(store.connector()).case_rating(ids["a"]) == {"mean": 5.0, "count": 1}
    # Posting the same feedback again (same id) rates nothing twice.
    cfg = config()
    again = feedback("a", 1).completed(MONDAY + 6 * H, "fb-1")
    await accept(store, cfg, [again], MONDAY + 6 * H)
    await accept(store, cfg, [again], MONDAY + 6 * H)
    assert (await MeasureStore(store.connector()).satisfaction(MONDAY, MONDAY + 24 * H, site=None)).count == 4


async def test_the_digest_shows_both_sections_in_every_form(store: Store) -> None:
    cfg, ids = await a_week(store)
    scheduler = DigestScheduler(cfg, store, {}, Renderer(), "test")
    digest = cfg.digests[0]
    period = period_for_date(digest.schedule, ZoneInfo("Europe/Paris"), MONDAY.date())
    assert period.start <= MONDAY < THURSDAY_LATE + 16 * H < period.end
    report = scheduler.report(digest, period, await scheduler.stats(digest, period))
    text = report.text
    assert "RESPONSE TIMES (in business hours)" in text
    assert "Claimed: 2 cases, average 45 min, longest 1 h" in text
    assert "Resolved: 2 cases, average 2 h 15 min, longest 3 h, 1 after the promised time" in text
    assert "Resolution rate: 50% (2 of the 4 opened in the period)" in text
    assert f"Overdue, not claimed: 1\n    shop · opened 02/03 10:00 · expected 02/03 12:00 · {ids['c']}" in text
    assert "Average rating: 3.7 / 5 (3 ratings), 67% satisfied (4 or 5)" in text
    assert "marie 5.0 (1) · paul 2.0 (1)" in text
    assert report.html is not None and "Response times" in report.html and "★★★★★" in report.html
    slack = json.dumps(report.blocks, ensure_ascii=False)
    assert "*Response times* (in business hours)" in slack and "marie *5.0* (1)" in slack
    card = json.dumps(report.card, ensure_ascii=False)
    assert '"Resolution rate"' in card and "50% (2 of the 4 opened in the period)" in card
    data: dict[str, Any] = report.data
    assert data["response_times"]["resolution_rate"] == 0.5
    assert data["satisfaction"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}


async def test_names_people_typed_are_inert_in_every_form(store: Store) -> None:
    if not store.url.startswith("sqlite"):
        pytest.skip("rendering does not depend on the backend")
    cfg = config()
    agent, site = "<img src=x onerror=alert(1)> *gras* <!channel>", "<b>evil</b>.example"
    case = await case_of(store, cfg, request("h", site=site), MONDAY)
    await act(store, cfg, case, "claim", by=agent, via="api", now=MONDAY + 10 * M)
    await accept(store, cfg, [feedback("h", 1, site=site).completed(MONDAY + H)], MONDAY + H)
    scheduler = DigestScheduler(cfg, store, {}, Renderer(), "test")
    digest = cfg.digests[0]
    period = period_for_date(digest.schedule, ZoneInfo("Europe/Paris"), MONDAY.date())
    report = scheduler.report(digest, period, await scheduler.stats(digest, period))
    assert report.html is not None and "<img" not in report.html and "&lt;img src=x" in report.html
    assert "<b>evil" not in report.html
    slack = json.dumps(report.blocks, ensure_ascii=False)
    assert "<!channel>" not in slack and "<img" not in slack and "&lt;!channel&gt;" in slack
    # Teams reads Markdown in TextBlocks and facts: the names only travel in TextRuns.
    assert report.card is not None
    plain = [b for b in report.card["body"] if b.get("type") == "TextBlock"]
    facts = [f for b in report.card["body"] if b.get("type") == "FactSet" for f in b["facts"]]
    assert not any("<img" in b["text"] or "evil" in b["text"] for b in plain)
    assert not any("<img" in f["value"] or "evil" in f["value"] for f in facts)
    runs = [i["text"] for b in report.card["body"] if b.get("type") == "RichTextBlock" for i in b["inlines"]]
    assert any(agent in r for r in runs) and any(site in r for r in runs)


async def test_the_retention_purge_takes_measures_and_ratings_with_their_cases_and_events(store: Store) -> None:
    from notifier.store.retention import Cutoffs, RetentionStore

    await a_week(store)
    measures = MeasureStore(store.connector())
    week = (MONDAY - 24 * H, MONDAY + 7 * 24 * H)
    assert (await measures.response_times(*week, site=None, at=week[1], business_hours=True)).claimed.count == 2
    later = MONDAY + 400 * 24 * H
    cut = Cutoffs.at(later, events=timedelta(days=90), deliveries=timedelta(days=30), cases=timedelta(days=365))
    purge = RetentionStore(store.connector())
    removed = await purge.purge_cases(cut, 100)
    assert removed["cases"] == 4 and removed["case_measures"] == 3 + 1 and removed["case_feedback"] == 2
    while (await purge.purge_events(cut, later, 100))[1]:
        pass
    assert (await measures.response_times(*week, site=None, at=week[1], business_hours=True)).claimed.count == 0
    assert (await measures.satisfaction(*week, site=None)).count == 0  # the rating without a case went with its event


async def test_a_rating_after_a_reopened_case_was_taken_again_goes_to_who_has_it_now(store: Store) -> None:
    # Marie resolved the case; the visitor wrote again, Paul took the new round and is
    # answering when the visitor rates the conversation: the rating is Paul's, not Marie's.
    cfg = config()
    case_id = await case_of(store, cfg, request("r"), MONDAY)
    await act(store, cfg, case_id, "resolve", by="marie", via="api", now=MONDAY + H)
    await act(store, cfg, case_id, "reopen", by="paul", via="api", now=MONDAY + 2 * H)
    await act(store, cfg, case_id, "claim", by="paul", via="api", now=MONDAY + 3 * H)
    await accept(store, cfg, [feedback("r", 4).completed(MONDAY + 4 * H)], MONDAY + 4 * H)
    s = await MeasureStore(store.connector()).satisfaction(MONDAY, MONDAY + 24 * H, site=None)
    assert [(a.agent, a.count) for a in s.per_agent] == [("paul", 1)]
    # Reopened by the visitor's own "thanks" and nobody took it since: Paul answered last.
    await act(store, cfg, case_id, "resolve", by="paul", via="api", now=MONDAY + 5 * H)
    await act(store, cfg, case_id, "reopen", by="ana", via="api", now=MONDAY + 6 * H)
    await accept(store, cfg, [feedback("r", 5).completed(MONDAY + 7 * H)], MONDAY + 7 * H)
    s = await MeasureStore(store.connector()).satisfaction(MONDAY, MONDAY + 24 * H, site=None)
    assert [(a.agent, a.count) for a in s.per_agent] == [("paul", 2)]


async def test_names_that_differ_only_in_case_are_one_agent_in_the_figures(store: Store) -> None:
    # Élodie signs "Élodie" in the console, "élodie" from the CLI and, once, with a combining
    # accent (a Mac's keyboard): the digest shows one Élodie with her three answers, not three agents.
    cfg = config()
    spellings = ("Élodie", "élodie", "E\u0301lodie")
    for n, (conversation, name) in enumerate(zip("xyz", spellings, strict=True)):
        case_id = await case_of(store, cfg, request(conversation), MONDAY)
        await act(store, cfg, case_id, "claim", by=name, via="api", now=MONDAY + (10 + n) * M)
        await act(store, cfg, case_id, "resolve", by=name, via="api", now=MONDAY + (20 + n) * M)
        await accept(store, cfg, [feedback(conversation, 4 + n % 2).completed(MONDAY + H)], MONDAY + H)
    measures = MeasureStore(store.connector())
    r = await measures.response_times(MONDAY - H, MONDAY + 24 * H, site=None, at=MONDAY + 24 * H,
                                      business_hours=False)
    assert [(g.key, g.claimed.count, g.resolved.count) for g in r.per_agent] == [("Élodie", 3, 3)]
    assert r.per_agent[0].claimed.mean == 11 * 60
    s = await measures.satisfaction(MONDAY, MONDAY + 24 * H, site=None)
    assert [(a.agent, a.count, a.mean) for a in s.per_agent] == [("Élodie", 3, 4.33)]
