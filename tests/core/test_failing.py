"""When failures are worth a warning: a delivery failing 3 times, a channel failing 5 minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notifier.core.failing import FailureWatch

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_a_delivery_failing_three_times_in_a_row_is_warned_about_once() -> None:
    watch = FailureWatch()
    kinds = [[n.kind for n in watch.observe("mail", ok=False, attempt=a, now=T0 + timedelta(seconds=a),
                                            reason="smtp.example.com:587: connection refused")]
             for a in range(1, 6)]
    assert kinds == [[], [], ["repeated"], [], []]
    notice = watch.observe("mail", ok=False, attempt=3, now=T0 + timedelta(seconds=9), reason="refused")[0]
    assert notice.message == "a delivery to mail failed 3 times in a row: refused"


def test_a_channel_failing_for_five_minutes_then_recovering() -> None:
    watch = FailureWatch()
    assert watch.observe("slack", ok=False, attempt=1, now=T0, reason="HTTP 503") == []
    assert watch.observe("slack", ok=False, attempt=1, now=T0 + timedelta(minutes=4, seconds=59)) == []
    assert watch.failing_seconds("slack", T0 + timedelta(minutes=4)) == 240
    [failing] = watch.observe("slack", ok=False, attempt=1, now=T0 + timedelta(minutes=5), reason="HTTP 503")
    assert failing.kind == "failing"
    assert failing.message == "every send to slack has failed for 5 min (3 in a row): HTTP 503"
    assert watch.observe("slack", ok=False, attempt=1, now=T0 + timedelta(minutes=9)) == []  # said once
    [back] = watch.observe("slack", ok=True, attempt=2, now=T0 + timedelta(minutes=10))
    assert back.kind == "recovered" and "after failing for 10 min" in back.message
    assert watch.failing_seconds("slack", T0 + timedelta(minutes=11)) == 0
    # Other channels are judged on their own.
    assert watch.observe("mail", ok=False, attempt=1, now=T0 + timedelta(minutes=11)) == []


def test_a_short_outage_that_recovers_says_nothing() -> None:
    watch = FailureWatch()
    watch.observe("hook", ok=False, attempt=1, now=T0)
    assert watch.observe("hook", ok=True, attempt=2, now=T0 + timedelta(seconds=30)) == []
