"""Business-hours arithmetic: weekends, nights and the days the clocks change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.config.models import BusinessHours
from notifier.core.cases import message_for_user, when_text
from notifier.core.hours import add_business_time, business_time_between

PARIS = ZoneInfo("Europe/Paris")
OFFICE = BusinessHours()  # 09:00-18:00, Monday to Friday
H = timedelta(hours=1)


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def due(start: datetime, target: timedelta, hours: BusinessHours = OFFICE) -> datetime:
    return add_business_time(start, target, hours, "Europe/Paris").astimezone(PARIS)


def test_friday_evening_request_is_due_monday_morning() -> None:
    assert due(paris(2026, 3, 6, 19, 0), 2 * H) == paris(2026, 3, 9, 11, 0)


def test_inside_hours_the_target_is_plain_time() -> None:
    assert due(paris(2026, 3, 4, 10, 15), 2 * H) == paris(2026, 3, 4, 12, 15)


def test_the_rest_carries_over_to_the_next_open_day() -> None:
    # 17:00 Friday: one hour on Friday, the second on Monday.
    assert due(paris(2026, 3, 6, 17, 0), 2 * H) == paris(2026, 3, 9, 10, 0)


def test_early_morning_waits_for_opening() -> None:
    assert due(paris(2026, 3, 4, 6, 0), 30 * timedelta(minutes=1)) == paris(2026, 3, 4, 9, 30)


def test_across_the_spring_clock_change() -> None:
    # Paris moves from UTC+1 to UTC+2 on Sunday 29 March 2026. Friday 17:00 CET plus 2h of
    # office time is Monday 10:00 CEST: the office opens at 09:00 local time either side.
    assert due(paris(2026, 3, 27, 17, 0), 2 * H) == paris(2026, 3, 30, 10, 0)
    assert due(paris(2026, 3, 27, 17, 0), 2 * H).utcoffset() == 2 * H


def test_across_the_autumn_clock_change_with_round_the_clock_hours() -> None:
    # Every hour of every day is open: 24 hours of real time across the night of Sunday
    # 25 October 2026, when 03:00 CEST becomes 02:00 CET, end at 11:00 local, not 12:00.
    always = BusinessHours(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], hours="00:00-24:00")
    end = due(paris(2026, 10, 24, 12, 0), 24 * H, always)
    assert end == paris(2026, 10, 25, 11, 0)
    assert end.astimezone(UTC) - paris(2026, 10, 24, 12, 0).astimezone(UTC) == 24 * H


def test_open_time_between_two_instants_skips_the_weekend() -> None:
    spent = business_time_between(paris(2026, 3, 6, 17, 0), paris(2026, 3, 9, 10, 0), OFFICE, "Europe/Paris")
    assert spent == 2 * H


def test_a_calendar_with_no_open_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="no open day"):
        add_business_time(datetime(2026, 3, 6, tzinfo=UTC), H, BusinessHours(days=[]), "Europe/Paris")


def test_the_user_is_told_when_to_expect_an_answer() -> None:
    now = paris(2026, 3, 6, 19, 0)
    expected = due(now, 2 * H)
    fr = message_for_user("open", expected, now, "Europe/Paris", "fr")
    en = message_for_user("open", expected, now, "Europe/Paris", "en-GB")
    assert fr == "Nous avons bien reçu votre demande. Un membre de l'équipe vous répondra d'ici lundi 11:00."
    assert en == "We have received your request. A member of the team will answer by Monday 11:00."
    assert when_text(paris(2026, 3, 6, 20, 0), now, "Europe/Paris", "fr") == "aujourd'hui 20:00"
    assert when_text(paris(2026, 3, 7, 9, 0), now, "Europe/Paris", "en") == "tomorrow 09:00"
    assert when_text(paris(2026, 3, 20, 9, 0), now, "Europe/Paris", "fr") == "vendredi 20 mars 09:00"
    assert "dès que possible" in message_for_user("open", None, now, "Europe/Paris", "fr")
    assert "s'occupe" in message_for_user("claimed", expected, now, "Europe/Paris", "fr")
