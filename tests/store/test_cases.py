"""The cases layer's contract: each test runs on SQLite and on PostgreSQL.

Races are real: two stores opened on one database, as two processes would, act at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from notifier.core.cases import case_identity
from notifier.core.events import Event, Kind, User
from notifier.store import Store
from notifier.store.cases import EARLIER_ROUND, CaseNotFound, CaseStore, Opened, TimerPlan
from notifier.store.follow_ups import FollowUpStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
M = timedelta(minutes=1)

OpenStore = Callable[[], Awaitable[Store]]


def event(event_id: str, conversation: str | None = "c1", **extra: object) -> Event:
    return Event.model_validate({
        "id": event_id, "kind": Kind.support_request, "site": "shop.example.com",
        "conversation_id": conversation, "occurred_at": T0, "message": "Je veux parler à quelqu'un",
        "user": User(name="Ana", email="ana@example.com", consent=True), **extra})


async def open_case(store: Store, ev: Event, now: datetime = T0, *, case_id: str | None = None,
                    timers: list[TimerPlan] | None = None) -> Opened:
    """Accept ``ev`` and open (or join) its case in the same transaction, as the pipeline does."""
    assert ev.id is not None
    async with store.transaction() as tx:
        assert await tx.insert_event(ev, now, None)
        return await CaseStore(tx.connector()).open_or_join(
            case_id=case_id or f"case-{ev.id}", identity=case_identity(ev), event_id=ev.id, site=ev.site,
            conversation_id=ev.conversation_id, kind=ev.kind.value, route="handoff", locale="fr", now=now,
            expected=now + 2 * 60 * M, timers=timers or [])


async def test_requests_of_one_conversation_share_a_case(store: Store) -> None:
    first = await open_case(store, event("e1"))
    second = await open_case(store, event("e2"), T0 + M)
    other = await open_case(store, event("e3", conversation="c2"), T0 + 2 * M)
    assert first.new_round and not second.new_round
    assert second.id == first.id and other.id != first.id
    case = await CaseStore(store.connector()).get(first.id)
    assert case is not None and case.events == 2 and case.status == "open"
    assert case.expected_response_at == T0 + 120 * M  # set when opened, not moved by the second request
    history = await CaseStore(store.connector()).history(first.id)
    assert [e["id"] for e in history["events"]] == ["e1", "e2"]
    assert (await CaseStore(store.connector()).of_event("e2")) is not None


async def test_without_conversation_the_person_is_the_case(store: Store) -> None:
    a = await open_case(store, event("e1", conversation=None))
    b = await open_case(store, event("e2", conversation=None,
                                     user=User(email="ANA@example.com", consent=True)))
    c = await open_case(store, event("e3", conversation=None, user=None))
    assert a.id == b.id != c.id


async def test_two_processes_claiming_at_once_one_wins_the_other_is_told_who(open_store: OpenStore) -> None:
    one, two = await open_store(), await open_store()
    opened = await open_case(one, event("e1"))
    marie, paul = await asyncio.gather(
        CaseStore(one.connector()).act(opened.id, "claim", actor="marie", via="cli", now=T0 + M),
        CaseStore(two.connector()).act(opened.id, "claim", actor="paul", via="api", now=T0 + M),
    )
    outcomes = sorted([marie.outcome, paul.outcome])
    assert outcomes == ["done", "refused"]
    winner = marie if marie.outcome == "done" else paul
    loser = paul if winner is marie else marie
    assert loser.reason == f"already claimed by {winner.case.claimed_by}"
    assert loser.case.claimed_by == winner.case.claimed_by
    case = await CaseStore(two.connector()).get(opened.id)
    assert case is not None and case.status == "claimed" and case.claimed_at == T0 + M
    actions = (await CaseStore(one.connector()).history(opened.id))["actions"]
    assert sorted((a["actor"], a["via"], a["outcome"]) for a in actions) == sorted(
        [("marie", "cli", marie.outcome), ("paul", "api", paul.outcome)])


async def test_actions_are_idempotent(store: Store) -> None:
    cases = CaseStore(store.connector())
    opened = await open_case(store, event("e1"))
    assert (await cases.act(opened.id, "claim", actor="marie", via="cli", now=T0 + M)).outcome == "done"
    again = await cases.act(opened.id, "claim", actor="marie", via="slack", now=T0 + 2 * M)
    assert again.outcome == "unchanged" and again.case.claimed_at == T0 + M
    done = await cases.act(opened.id, "resolve", actor="marie", via="cli", now=T0 + 3 * M, note="rappelée")
    assert done.outcome == "done" and done.case.status == "resolved" and done.case.note == "rappelée"
    twice = await cases.act(opened.id, "resolve", actor="paul", via="api", now=T0 + 4 * M)
    assert twice.outcome == "unchanged" and twice.case.resolved_by == "marie"
    refused = await cases.act(opened.id, "claim", actor="paul", via="api", now=T0 + 5 * M)
    assert refused.outcome == "refused" and "resolved by marie" in (refused.reason or "")
    assert len((await cases.history(opened.id))["actions"]) == 4 + 1
    with pytest.raises(CaseNotFound):
        await cases.act("nope", "claim", actor="marie", via="cli", now=T0)


async def test_a_resolved_case_reopens_when_the_user_writes_again(store: Store) -> None:
    cases = CaseStore(store.connector())
    opened = await open_case(store, event("e1"))
    await cases.act(opened.id, "claim", actor="marie", via="cli", now=T0 + M)
    await cases.act(opened.id, "resolve", actor="marie", via="cli", now=T0 + 2 * M)
    again = await open_case(store, event("e2"), T0 + 60 * M)
    assert again.id == opened.id and again.status == "reopened" and again.round == 2 and again.new_round
    case = await cases.get(opened.id)
    assert case is not None and case.claimed_by is None and case.expected_response_at == T0 + 180 * M
    # An agent takes it again: the reopened case can be claimed.
    assert (await cases.act(opened.id, "claim", actor="paul", via="api", now=T0 + 61 * M)).outcome == "done"


async def test_an_action_meant_for_an_earlier_round_changes_nothing(store: Store) -> None:
    # The mail of the first request is opened after the user came back: its link names round 1.
    cases = CaseStore(store.connector())
    opened = await open_case(store, event("e1"))
    await cases.act(opened.id, "resolve", actor="marie", via="email", now=T0 + M, case_round=1)
    await open_case(store, event("e2"), T0 + 60 * M)
    for action in ("claim", "resolve"):
        late = await cases.act(opened.id, action, actor="paul", via="email", now=T0 + 61 * M, case_round=1)
        assert (late.outcome, late.reason) == ("refused", EARLIER_ROUND)
        assert late.case.status == "reopened" and late.case.round == 2
    # Naming the round the case is in, or none (a link made before links named one), acts.
    now = await cases.act(opened.id, "claim", actor="paul", via="email", now=T0 + 62 * M, case_round=2)
    assert now.outcome == "done"
    assert (await cases.act(opened.id, "resolve", actor="paul", via="email", now=T0 + 63 * M)).outcome == "done"


async def test_a_message_names_the_round_its_request_came_in(store: Store) -> None:
    # Monday's alert is sent on Tuesday, after the case was resolved and reopened: the state it
    # shows is the case's now, the round its links and buttons name is Monday's.
    cases = CaseStore(store.connector())
    opened = await open_case(store, event("e1"))
    await cases.act(opened.id, "resolve", actor="marie", via="api", now=T0 + M)
    await open_case(store, event("e2"), T0 + 60 * M)
    shown = FollowUpStore(store.connector())
    monday, tuesday = await shown.case_of_event("e1"), await shown.case_of_event("e2")
    assert monday is not None and tuesday is not None
    assert (monday.status, monday.round) == ("reopened", 1)
    assert (tuesday.status, tuesday.round) == ("reopened", 2)


def steps(at: datetime) -> list[TimerPlan]:
    return [TimerPlan(0, "handoff", at + 15 * M, ("oncall-sms",)),
            TimerPlan(1, "handoff", at + 60 * M, ("manager-email",))]


async def test_escalation_timers_fire_once_when_due(open_store: OpenStore) -> None:
    one, two = await open_store(), await open_store()
    opened = await open_case(one, event("e1"), timers=steps(T0))
    a, b = CaseStore(one.connector()), CaseStore(two.connector())
    assert await a.take_due_timers("w1", T0 + 14 * M) == []
    assert await a.next_timer() == T0 + 15 * M
    fired = await asyncio.gather(a.take_due_timers("w1", T0 + 16 * M), b.take_due_timers("w2", T0 + 16 * M))
    assert sorted(len(f) for f in fired) == [0, 1]
    timer = (fired[0] or fired[1])[0]
    assert (timer.case_id, timer.step, timer.channels) == (opened.id, 0, ("oncall-sms",))
    # A second pass (another process, or the same after a restart) finds nothing more for that step.
    assert await b.take_due_timers("w2", T0 + 30 * M) == []
    assert [t.step for t in await a.take_due_timers("w1", T0 + 61 * M)] == [1]


async def test_claiming_cancels_pending_escalations(store: Store) -> None:
    cases = CaseStore(store.connector())
    opened = await open_case(store, event("e1"), timers=steps(T0))
    await cases.act(opened.id, "claim", actor="marie", via="cli", now=T0 + 5 * M)
    assert await cases.take_due_timers("w1", T0 + 120 * M) == []
    assert await cases.next_timer() is None
    history = await cases.history(opened.id)
    assert [t["status"] for t in history["escalations"]] == ["cancelled", "cancelled"]


def test_both_dialects_name_the_same_statements() -> None:
    from notifier.store.connector import queries

    assert set(queries("sqlite", "cases")) == set(queries("postgresql", "cases"))


async def test_events_notifier_writes_are_not_counted_as_user_activity(store: Store) -> None:
    import orjson

    await open_case(store, event("e1"))
    cases = CaseStore(store.connector())
    for kind in ("escalation", "acknowledgement"):
        await cases.db.execute(cases.q["insert_internal_event"], {
            "id": f"e1:{kind}", "kind": kind, "site": "shop.example.com", "now": T0 + M,
            "body": orjson.dumps(event(f"e1:{kind}").to_json()).decode()})
    stats = await store.digest_stats(T0 - 60 * M, T0 + 60 * M, site=None, tz="Europe/Paris", top_n=5)
    assert stats.totals.support_requests == 1 and stats.support_total == 1
    assert sum(stats.hourly) == 1
