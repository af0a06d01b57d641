"""The retry policy: backoff grows, is capped, honours Retry-After, and gives up in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.config.models import Retry
from notifier.core.retry import next_attempt

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = Retry(attempts=20, backoff=timedelta(seconds=2), max_backoff=timedelta(minutes=1),
               give_up_after=timedelta(hours=24))


def delay(attempts: int, policy: Retry = POLICY, retry_after: float | None = None) -> float:
    d = next_attempt(policy, attempts=attempts, first_attempt_at=T0, now=T0, retry_after=retry_after)
    assert d.retry_at is not None, d.reason
    return (d.retry_at - T0).total_seconds()


def test_backoff_grows_exponentially_with_at_most_one_backoff_of_jitter() -> None:
    for attempts, base in ((1, 2), (2, 4), (3, 8), (4, 16), (5, 32)):
        for _ in range(20):
            assert base <= delay(attempts) <= base + 2


def test_backoff_is_capped_at_max_backoff() -> None:
    assert {delay(n) for n in (6, 10, 19)} == {60.0}


def test_retry_after_is_honoured_even_past_max_backoff() -> None:
    assert delay(1, retry_after=300) == 300
    assert delay(19, retry_after=3600) == 3600


def test_a_short_retry_after_does_not_shorten_the_backoff() -> None:
    assert delay(5, retry_after=1) >= 32


def test_gives_up_after_the_configured_number_of_attempts() -> None:
    policy = POLICY.model_copy(update={"attempts": 3})
    assert delay(2, policy) >= 4
    d = next_attempt(policy, attempts=3, first_attempt_at=T0, now=T0)
    assert d.retry_at is None
    assert d.reason == "gave up after 3 attempts"


def test_gives_up_when_the_next_try_would_be_after_give_up_after() -> None:
    policy = POLICY.model_copy(update={"give_up_after": timedelta(hours=1)})
    now = T0 + timedelta(minutes=59, seconds=59)
    d = next_attempt(policy, attempts=1, first_attempt_at=T0, now=now)
    assert d.retry_at is None
    assert d.reason == "gave up after 1 attempt over 59m59s"
    # A minute earlier there is still time.
    assert next_attempt(policy, attempts=1, first_attempt_at=T0, now=now - timedelta(minutes=1)).retry_at


def test_a_retry_after_beyond_the_deadline_gives_up_rather_than_retry_late() -> None:
    policy = POLICY.model_copy(update={"give_up_after": timedelta(hours=1)})
    d = next_attempt(policy, attempts=1, first_attempt_at=T0, now=T0, retry_after=7200)
    assert d.retry_at is None
