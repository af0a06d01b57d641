"""The adaptive in-flight limit: grows while answers stay as fast, is cut on overload, stays in bounds."""

from __future__ import annotations

import pytest

from notifier.core.concurrency import AdaptiveLimit, Bounds


def fed(limit: AdaptiveLimit, n: int, latency: float, *, start: float = 0.0, step: float = 0.01) -> AdaptiveLimit:
    for i in range(n):
        limit.on_sent(latency=latency, in_flight=limit.current, started=start + i * step)
    return limit


def test_flat_latency_grows_the_limit_up_to_the_maximum() -> None:
    limit = fed(AdaptiveLimit(Bounds(start=4, maximum=64)), 200, 0.05)
    assert limit.current == 64


def test_rising_latency_stops_the_growth() -> None:
    limit = fed(AdaptiveLimit(Bounds(start=4, maximum=64)), 10, 0.05)
    reached = limit.current
    fed(limit, 50, 0.5, start=1.0)  # ten times slower: more in flight only queues at the receiver
    assert limit.current == reached
    assert not limit.slow_start


def test_an_idle_channel_does_not_grow() -> None:
    limit = AdaptiveLimit(Bounds(start=8, maximum=64))
    for i in range(100):
        limit.on_sent(latency=0.05, in_flight=1, started=float(i))  # one at a time: the limit is not in use
    assert limit.current == 8


def test_overload_cuts_once_per_round_of_sends() -> None:
    limit = AdaptiveLimit(Bounds(start=20, maximum=64))
    for _ in range(20):  # twenty sends started together, all answered 429
        limit.on_overload(started=1.0, now=1.05)
    assert limit.current == 14  # 20 * 0.7, once
    limit.on_overload(started=1.06, now=1.2)  # one sent after the cut, failing again
    assert limit.current == 9


def test_after_trouble_growth_is_one_per_round() -> None:
    limit = AdaptiveLimit(Bounds(start=10, maximum=64))
    limit.on_overload(started=0.0, now=0.1)
    assert limit.current == 7
    fed(limit, 8, 0.05, start=1.0)  # about one round of sends
    assert limit.current == 8


def test_the_limit_never_leaves_its_bounds() -> None:
    limit = AdaptiveLimit(Bounds(start=3, minimum=2, maximum=5))
    for i in range(10):
        limit.on_overload(started=float(i), now=float(i) + 0.5)
    assert limit.current == 2
    fed(limit, 500, 0.01, start=100.0)
    assert limit.current == 5
    limit.rebound(Bounds(start=3, minimum=1, maximum=3))
    assert limit.current == 3


def test_a_receiver_that_became_slower_for_good_sets_a_new_baseline() -> None:
    limit = AdaptiveLimit(Bounds(start=4, maximum=64), window=30.0)
    fed(limit, 5, 0.01)
    fed(limit, 200, 0.2, start=10.0, step=0.5)  # 100 s at 200 ms: two windows later it is the norm
    assert limit.baseline == pytest.approx(0.2)


def test_bounds_in_the_wrong_order_are_refused() -> None:
    with pytest.raises(ValueError, match="minimum <= maximum"):
        Bounds(start=4, minimum=10, maximum=5)
