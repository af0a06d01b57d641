"""``defaults.retention``: what an admin writes, what a mistake looks like, what `check` and `explain` say."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.config import ConfigError, parse_config
from notifier.core.durations import format_duration, parse_duration
from notifier.retention import due_day

BASE = """version: 1
defaults:
  timezone: Europe/Paris
{retention}
channels:
  hook: {{type: webhook, url: "https://example.com/hook"}}
"""


def problems(retention: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE.format(retention=retention))
    return [str(i) for i in caught.value.issues]


def test_unset_retention_keeps_events_90_days_deliveries_30_and_cases_a_year() -> None:
    r = parse_config(BASE.format(retention="")).defaults.retention
    assert (r.events, r.deliveries, r.cases, r.at) == (timedelta(days=90), timedelta(days=30),
                                                      timedelta(days=365), "03:00")


def test_ages_are_written_in_days_weeks_or_years() -> None:
    r = parse_config(BASE.format(retention="  retention: {events: 26w, deliveries: 2w, cases: 2y, at: '23:30'}"))
    assert r.defaults.retention.cases == timedelta(days=730)
    assert r.defaults.retention.events == timedelta(weeks=26)
    assert parse_duration("1y") == timedelta(days=365) and format_duration(timedelta(days=365)) == "1y"


def test_every_mistake_is_named_with_its_line_and_column() -> None:
    found = problems("  retention:\n    events: 90\n    deliveries: 2 weeks\n    at: '3h'\n    keep: forever")
    assert found == [
        "channels.yaml:5:13  defaults.retention.events: 1m30s is shorter than a day: write an age such as "
        "90d, 30d or 1y (a bare number is seconds)",
        "channels.yaml:6:17  defaults.retention.deliveries: invalid duration '2 weeks': expected a duration "
        "like 30s, 10m, 24h, 1h30m",
        "channels.yaml:7:9  defaults.retention.at: invalid time '3h': expected HH:MM, e.g. \"03:00\"",
        "channels.yaml:8:5  defaults.retention: unknown key 'keep' (known keys: events, deliveries, cases, at)",
    ]


def test_check_and_explain_show_how_long_things_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(BASE.format(retention="  retention: {events: 60d, cases: 2y}") + "fallback: [hook]\n")
    assert main(["check", str(path)]) == 0
    assert "retention: events 60d, deliveries 30d, cases 2y (purged daily at 03:00)" in capsys.readouterr().out
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"kind": "support_request", "site": "s", "message": "hi"}))
    assert main(["explain", "--config", str(path), "--json", str(event)]) == 0
    kept = json.loads(capsys.readouterr().out)["retention"]
    assert kept["events"] == "60d" and kept["deliveries"] == "30d" and kept["cases"] == "2y"
    until = datetime.fromisoformat(kept["event_until"]) - datetime.now(UTC)
    assert timedelta(days=59) < until <= timedelta(days=60)


def test_the_purge_of_a_day_is_due_from_its_time_in_the_configured_zone() -> None:
    cfg = parse_config(BASE.format(retention="  retention: {at: '03:00'}"))
    # 01:30 UTC is 02:30 in Paris (winter): the day before is the one due; the next at 02:00 UTC.
    assert due_day(cfg, datetime(2026, 1, 10, 1, 30, tzinfo=UTC)) == (
        "2026-01-09", datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    assert due_day(cfg, datetime(2026, 1, 10, 2, 0, tzinfo=UTC))[0] == "2026-01-10"
