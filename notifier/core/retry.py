"""The retry policy: when to try a failed delivery again, and when to give up.

Backoff is exponential with jitter (tenacity's ``wait_exponential_jitter``: ``backoff * 2**n``
plus up to ``backoff`` of noise) and capped at ``max_backoff``; a channel's ``Retry-After``
wins when it asks for longer.
The decision is pure: the attempt count and ``now`` are passed in, and the next attempt
time is stored, so a long backoff holds no worker and survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from tenacity import wait_exponential_jitter

from notifier.config.models import Retry
from notifier.core.durations import format_duration

__all__ = ["RetryDecision", "next_attempt"]


@dataclass(frozen=True)
class RetryDecision:
    """Either ``retry_at`` is set, or the delivery is given up with ``reason``."""

    retry_at: datetime | None
    reason: str = ""


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _backoff(policy: Retry, attempts: int) -> float:
    base = policy.backoff.total_seconds()
    wait = wait_exponential_jitter(multiplier=base, max=policy.max_backoff.total_seconds(), jitter=base)
    # tenacity's wait strategies read only ``attempt_number`` from the retry state.
    return float(wait(cast(Any, SimpleNamespace(attempt_number=attempts))))


def next_attempt(
    policy: Retry,
    *,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    retry_after: float | None = None,
) -> RetryDecision:
    """After ``attempts`` failed tries, when to try again (or why not).

    ``retry_after`` is the channel's own request (seconds), honoured even past ``max_backoff``.
    """
    if attempts >= policy.attempts:
        return RetryDecision(None, f"gave up after {_attempts(attempts)}")
    delay = _backoff(policy, attempts)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + timedelta(seconds=delay)
    deadline = first_attempt_at + policy.give_up_after
    if at > deadline:
        spent = format_duration(now - first_attempt_at)
        return RetryDecision(None, f"gave up after {_attempts(attempts)} over {spent}")
    return RetryDecision(at)
