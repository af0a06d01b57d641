"""Which period a digest reports, on ordinary days and on the days the clocks change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.core.digest import due_period, hour_buckets, next_fire, period_for_date

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo = PARIS) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def test_daily_digest_at_eight_reports_the_previous_local_day() -> None:
    p = due_period("0 8 * * *", PARIS, local(2026, 3, 12, 9, 30))
    assert (p.start, p.end) == (local(2026, 3, 11), local(2026, 3, 12))
    assert p.previous_start == local(2026, 3, 10)


def test_the_fire_time_itself_is_due_and_a_minute_before_is_not() -> None:
    assert due_period("0 8 * * *", PARIS, local(2026, 3, 12, 8, 0)).start == local(2026, 3, 11)
    assert due_period("0 8 * * *", PARIS, local(2026, 3, 12, 7, 59)).start == local(2026, 3, 10)


def test_spring_forward_day_has_23_hours() -> None:
    p = due_period("0 8 * * *", PARIS, local(2026, 3, 30, 8, 0))
    assert p.start == local(2026, 3, 29)
    assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == timedelta(hours=23)
    anchor, hours = hour_buckets(p.start, p.end, PARIS)
    assert anchor == p.start.timestamp()
    assert len(hours) == 23 and 2 not in hours and hours[:3] == [0, 1, 3]


def test_fall_back_day_has_25_hours_and_two_two_oclocks() -> None:
    p = due_period("0 8 * * *", PARIS, local(2026, 10, 26, 8, 0))
    assert p.start == local(2026, 10, 25)
    assert p.end.astimezone(UTC) - p.start.astimezone(UTC) == timedelta(hours=25)
    _, hours = hour_buckets(p.start, p.end, PARIS)
    assert len(hours) == 25 and hours.count(2) == 2 and hours[-1] == 23


def test_digest_in_another_zone_than_the_server_reports_its_own_day() -> None:
    p = due_period("0 8 * * *", NEW_YORK, datetime(2026, 3, 28, 13, 0, tzinfo=UTC))
    assert p.start.astimezone(UTC) == datetime(2026, 3, 27, 4, 0, tzinfo=UTC)
    assert p.end.astimezone(UTC) == datetime(2026, 3, 28, 4, 0, tzinfo=UTC)


def test_after_a_long_outage_only_the_latest_period_is_due() -> None:
    p = due_period("0 8 * * *", PARIS, local(2026, 4, 20, 10, 0))
    assert p.start == local(2026, 4, 19)


def test_weekday_digest_on_monday_covers_the_weekend() -> None:
    p = due_period("0 8 * * 1-5", PARIS, local(2026, 3, 16, 8, 0))  # a Monday
    assert (p.start, p.end) == (local(2026, 3, 13), local(2026, 3, 16))


def test_several_times_a_day_reports_between_fires() -> None:
    p = due_period("0 */6 * * *", PARIS, local(2026, 3, 12, 13, 5))
    assert (p.start, p.end) == (local(2026, 3, 12, 6), local(2026, 3, 12, 12))
    assert p.previous_start == local(2026, 3, 12, 0)


def test_date_option_names_the_reported_day() -> None:
    p = period_for_date("0 8 * * *", PARIS, date(2026, 10, 25))
    assert (p.start, p.end) == (local(2026, 10, 25), local(2026, 10, 26))
    weekly = period_for_date("0 8 * * 1", PARIS, date(2026, 3, 18))  # a Wednesday
    assert weekly.start == local(2026, 3, 16) and weekly.end == local(2026, 3, 23)


def test_next_fire_is_after_now() -> None:
    assert next_fire("0 8 * * *", PARIS, local(2026, 3, 12, 8, 0)) == local(2026, 3, 13, 8, 0)
    assert next_fire("30 2 * * *", PARIS, local(2026, 3, 29, 1, 0)) > local(2026, 3, 29, 1, 0)
