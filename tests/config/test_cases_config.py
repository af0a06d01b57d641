"""Case settings in channels.yaml: response targets and escalation chains."""

from __future__ import annotations

from datetime import timedelta

import pytest

from notifier.config import ConfigError, parse_config
from notifier.config.models import Config

GOOD = """version: 1
defaults:
  timezone: Europe/Paris
  response_target: 4h
channels:
  mail: {type: email, to: [support@example.com]}
  oncall: {type: webhook, url: "https://example.com/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request]}
    to: [mail]
    response_target: 2h
    escalate:
      - {after: 15m, to: [oncall]}
      - {after: 1h, to: [oncall, mail], clock: business_hours}
"""


def test_targets_and_escalations_load() -> None:
    config = parse_config(GOOD)
    assert config.defaults.response_target == timedelta(hours=4)
    route = config.routes[0]
    assert route.response_target == timedelta(hours=2)
    assert [(s.after, s.to, s.clock) for s in route.escalate] == [
        (timedelta(minutes=15), ["oncall"], "wall"),
        (timedelta(hours=1), ["oncall", "mail"], "business_hours")]


@pytest.mark.parametrize(("change", "expected"), [
    ("to: [oncall]}",
     "channels.yaml:14:27  routes[0].escalate[0].to[0]: unknown channel 'oncal' (did you mean 'oncall'?)"),
    ("after: 15m,", "channels.yaml:14:17  routes[0].escalate[0].after: invalid duration '15 min'"),
    ("clock: business_hours}",
     "channels.yaml:15:48  routes[0].escalate[1].clock: unknown value 'office'; allowed: wall, business_hours"),
])
def test_mistakes_name_their_line(change: str, expected: str) -> None:
    broken = {"to: [oncall]}": "to: [oncal]}", "after: 15m,": "after: 15 min,",
              "clock: business_hours}": "clock: office}"}[change]
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD.replace(change, broken, 1))
    issues = [str(i) for i in caught.value.issues]
    assert any(i.startswith(expected) for i in issues), issues


def test_the_schema_lets_editors_check_them() -> None:
    schema = Config.model_json_schema(mode="validation")
    route = schema["$defs"]["Route"]["properties"]
    assert "escalate" in route and "response_target" in route
    assert "response_target" in schema["$defs"]["Defaults"]["properties"]


def test_targets_in_business_hours_need_an_open_day() -> None:
    closed = GOOD.replace("  response_target: 4h\n", "  response_target: 4h\n  business_hours: {days: []}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(closed)
    assert "business_hours has no open day" in str(caught.value.issues[0])
    # Counted in wall-clock time, the same targets need no open day.
    walled = closed.replace("  response_target: 4h\n", "  response_target: 4h\n  response_clock: wall\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(walled)  # the escalation step still counts business hours
    assert "an escalation counts it" in str(caught.value.issues[0])
    parse_config(walled.replace(", clock: business_hours}", "}"))
