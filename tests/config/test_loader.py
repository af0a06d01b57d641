"""Loading channels.yaml: what an admin sees for a broken file, and that a good one loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from notifier.config import Config, ConfigError, interpolate, load_config, parse_config

HERE = Path(__file__).parent
BROKEN = HERE / "broken"

#: Every variable the DESIGN.md example uses.
DESIGN_ENV = {
    "SMTP_URL": "smtp+starttls://bot:secret@mail.example.com:587",
    "SLACK_BOT_TOKEN": "xoxb-1",
    "TEAMS_WORKFLOW_URL": "https://prod.westeurope.logic.azure.com/workflows/1",
    "ZENDESK_TOKEN": "zd",
    "FRESHDESK_KEY": "fd",
    "HOOK_TOKEN": "hook-secret",
    "DISCORD_APPRISE_URL": "discord://1/abc",
}


def problems(name: str, env: dict[str, str] | None = None) -> list[str]:
    """What ``notifier check`` prints for a broken fixture, one line per problem."""
    path = BROKEN / name
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={} if env is None else env)
    return [str(issue).removeprefix(f"{path}:") for issue in caught.value.issues]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("unknown_key.yaml", [
            "5:5  channels.support-email: unknown key 'tpye' (did you mean 'type'?)",
            "11:5  routes[0]: unknown key 'stopp' (did you mean 'stop'?)",
        ]),
        ("unknown_channel.yaml", [
            "8:25  routes[0].to[1]: unknown channel 'support-slak' (did you mean 'support-slack'?)",
        ]),
        ("unknown_channel_type.yaml", [
            "4:11  channels.support-email.type: unknown channel type 'emial' (did you mean 'email'?); "
            "allowed: email, slack, teams, zendesk, freshdesk, webhook, apprise",
        ]),
        ("bad_duration.yaml", [
            "4:34  defaults.retry.backoff: invalid duration '2 minutes': "
            "expected a duration like 30s, 10m, 24h, 1h30m",
        ]),
        ("bad_regex.yaml", [
            "8:14  routes[0].match.regex: invalid regex: missing ), unterminated subpattern at position 9",
        ]),
        ("bad_cron.yaml", [
            "6:15  digests[0].schedule: invalid cron schedule 'every day at 8': expected e.g. '0 8 * * *'",
        ]),
        ("yaml_syntax.yaml", [
            # The flow mapping opened on line 3 is never closed; the parser notices on line 4.
            "4:1  YAML syntax error: expected ',' or '}', but got '<scalar>' "
            "(while parsing a flow mapping started on line 3)",
        ]),
        ("unset_variable.yaml", [
            "6:12  channels.support-slack.token: environment variable SLACK_BOT_TOKEN is not set "
            "(set it, or write ${SLACK_BOT_TOKEN:-default})",
        ]),
        ("duplicate_key.yaml", [
            "6:5  channels.support-email: duplicate key 'to' (first set on line 5)",
        ]),
        ("wrong_kind.yaml", [
            "7:15  routes[0].match.kinds[0]: unknown kind 'support' (did you mean 'support_request'?); "
            "allowed: support_request, contact_request, message, tool_call, conversation_started, "
            "conversation_ended, feedback",
        ]),
    ],
)
def test_broken_file_names_line_column_path_and_problem(fixture: str, expected: list[str]) -> None:
    assert problems(fixture) == expected


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    # A bad duration, an unknown key and an unknown channel: the last is a cross-reference,
    # normally checked only after everything else validated.
    assert problems("three_errors.yaml") == [
        "4:19  defaults.dedup.window: invalid duration '10 min': expected a duration like 30s, 10m, 24h, 1h30m",
        "6:32  channels.support-email: unknown key 'too' (did you mean 'to'?)",
        "10:10  routes[0].to[0]: unknown channel 'suport-email' (did you mean 'support-email'?)",
    ]


def test_an_issue_prints_as_file_line_col_path_message() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("channels:\n  ops: {type: teams}\n", file="/etc/notifier/channels.yaml")
    (issue,) = caught.value.issues
    assert (issue.line, issue.col, issue.path) == (2, 3, ("channels", "ops"))
    assert str(issue) == "/etc/notifier/channels.yaml:2:3  channels.ops: missing required key 'url'"
    assert str(caught.value) == str(issue)


def test_the_design_example_loads_with_its_variables_set() -> None:
    config = load_config(HERE / "design_example.yaml", env=DESIGN_ENV)
    assert list(config.channels) == [
        "support-email", "shop-email", "support-slack", "teams", "zendesk", "freshdesk", "hook", "discord",
    ]
    assert config.channels["support-slack"].token == "xoxb-1"  # type: ignore[union-attr]
    assert config.channels["hook"].headers == {"X-Token": "hook-secret"}  # type: ignore[union-attr]
    assert config.channels["support-email"].from_ == "Chatbot <no-reply@votresite.com>"  # type: ignore[union-attr]
    assert config.routes[2].match.site == ["shop.example.com"]
    assert config.routes[1].dedup is not None and config.routes[1].dedup.window == timedelta(minutes=30)
    assert config.defaults.retry.max_backoff == timedelta(minutes=15)
    assert config.fallback_channels == ["support-email"]
    assert config.digests[0].schedule == "0 8 * * *"


def test_the_design_example_without_its_shop_channel_names_the_route() -> None:
    text = (HERE / "design_example.yaml").read_text(encoding="utf-8")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("  shop-email:"))
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=DESIGN_ENV)
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:31:10  routes[2].to[0]: unknown channel 'shop-email' (did you mean 'support-email'?)",
    ]


def test_every_unset_variable_is_reported_with_its_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(HERE / "design_example.yaml", env={"SMTP_URL": "smtp://localhost:25"})
    named = [(i.line, i.message.split()[2]) for i in caught.value.issues]
    assert named == [(14, "SLACK_BOT_TOKEN"), (15, "TEAMS_WORKFLOW_URL"), (16, "ZENDESK_TOKEN"),
                     (17, "FRESHDESK_KEY"), (18, "HOOK_TOKEN"), (19, "DISCORD_APPRISE_URL")]


def test_variables_set_but_empty_are_named_at_their_line() -> None:
    # A deployment that exports the names with no values (an unfilled .env, a secret not
    # mounted): each channel would load, then dead-letter every delivery at night.
    empty = dict.fromkeys(DESIGN_ENV, "") | {"SMTP_URL": DESIGN_ENV["SMTP_URL"]}
    with pytest.raises(ConfigError) as caught:
        load_config(HERE / "design_example.yaml", env=empty)
    assert [str(i) for i in caught.value.issues] == [
        f"{HERE / 'design_example.yaml'}:14:3  channels.support-slack: "
        "a slack channel needs either token and channel, or webhook_url",
        f"{HERE / 'design_example.yaml'}:15:37  channels.teams.url: is empty (a ${{VARIABLE}} set to nothing?)",
        f"{HERE / 'design_example.yaml'}:16:85  channels.zendesk.api_token: is empty (a ${{VARIABLE}} set to nothing?)",
        f"{HERE / 'design_example.yaml'}:17:59  channels.freshdesk.api_key: is empty (a ${{VARIABLE}} set to nothing?)",
        f"{HERE / 'design_example.yaml'}:19:41  channels.discord.urls[0]: is empty (a ${{VARIABLE}} set to nothing?)",
    ]


@pytest.mark.parametrize("url", ["", "hooks.example.com/in", "ftp://example.com/in", "https:///in"])
def test_a_webhook_or_teams_url_must_be_a_web_address(url: str) -> None:
    for kind in ("webhook", "teams"):
        with pytest.raises(ConfigError) as caught:
            parse_config(f'channels:\n  out: {{type: {kind}, url: "{url}"}}\n')
        [issue] = caught.value.issues
        assert (issue.line, issue.col, issue.path) == (2, 29 - (kind == "teams") * 2, ("channels", "out", "url"))
        assert issue.message.startswith("is empty" if not url else "expected an http:// or https:// address")


def test_the_repository_example_loads() -> None:
    config = load_config(HERE.parent.parent / "channels.yaml", env={})
    assert "support-email" in config.channels


def test_variables_take_their_default_when_unset_or_empty() -> None:
    text = 'channels:\n  hook: {type: webhook, url: "https://${HOST:-hooks.example.com}/${PATH_PART:-in}"}\n'
    hook = parse_config(text, env={"PATH_PART": ""}).channels["hook"]
    assert hook.url == "https://hooks.example.com/in"  # type: ignore[union-attr]
    hook = parse_config(text, env={"HOST": "h.example.org", "PATH_PART": "x"}).channels["hook"]
    assert hook.url == "https://h.example.org/x"  # type: ignore[union-attr]


def test_double_dollar_is_a_literal_reference() -> None:
    assert interpolate("pay $${AMOUNT} to ${WHO}", {"WHO": "Ann"}) == ("pay ${AMOUNT} to Ann", [])
    text = "channels:\n  hook: {type: webhook, url: 'https://x/$${NOT_A_VAR}'}\n"
    assert parse_config(text, env={}).channels["hook"].url == "https://x/${NOT_A_VAR}"  # type: ignore[union-attr]


def test_variables_are_not_expanded_in_comments_or_keys() -> None:
    text = "# ${UNSET} in a comment is fine\nchannels:\n  ops: {type: teams, url: https://x}\n"
    assert isinstance(parse_config(text, env={}), Config)


def test_a_malformed_reference_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("channels:\n  ops: {type: teams, url: 'https://${1X}'}\n", env={})
    (issue,) = caught.value.issues
    assert issue.line == 2 and "invalid reference ${1X}" in issue.message


def test_unknown_top_level_key_and_wrong_types() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("version: 1\nchanels: {}\nroutes: {a: 1}\ndefaults: {timezone: Mars/Base}\n")
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:2:1  unknown key 'chanels' (did you mean 'channels'?)",
        "channels.yaml:3:1  routes: expected a list, got a mapping",
        "channels.yaml:4:22  defaults.timezone: unknown time zone 'Mars/Base' (use an IANA name such as Europe/Paris)",
    ]



def test_a_field_that_takes_one_value_or_a_list_says_both() -> None:
    """``site: shop.example.com`` is taken as well as a list: a wrong value is not told it
    should have been a list."""
    text = ("channels:\n  ops: {type: teams, url: https://x}\n"
            "routes:\n  - {name: r, to: [ops], match: {site: 5, priority: {high: 1}}}\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:4:40  routes[0].match.site: expected a site (text) or a list of them, got 5",
        "channels.yaml:4:43  routes[0].match.priority: expected a priority or a list of them, got a mapping",
    ]

def test_missing_channel_type_lists_the_types() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("channels:\n  ops:\n    url: https://x\n")
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:2:3  channels.ops: missing required key 'type' "
        "(one of: email, slack, teams, zendesk, freshdesk, webhook, apprise)",
    ]


def test_shared_settings_through_a_yaml_merge_key() -> None:
    text = (
        "channels:\n"
        "  a: &hook {type: webhook, url: 'https://x/a', timeout: 3s}\n"
        "  b: {<<: *hook, url: 'https://x/b'}\n"
        "  c: {<<: *hook, bogus: 1}\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:4:18  channels.c: unknown key 'bogus' (known keys: "
        "retry, concurrency, min_concurrency, max_concurrency, rate, timeout, locale, privacy, type, url, headers, "
        "signing_secret, include_personal_data)",
    ]
    config = parse_config(text.rsplit("  c:", 1)[0])
    assert config.channels["b"].url == "https://x/b"  # type: ignore[union-attr]
    assert config.channels["b"].timeout == timedelta(seconds=3)


def test_a_relative_templates_directory_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "channels.yaml"
    path.write_text("templates: my-templates\n", encoding="utf-8")
    assert load_config(path).templates == tmp_path / "conf" / "my-templates"


def test_a_missing_file_is_not_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.yaml")


def test_the_first_of_several_documents_is_not_silently_used() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("version: 1\n---\nversion: 1\n")
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:2:1  YAML syntax error: expected a single document in the stream, but found another document",
    ]


def test_a_value_yaml_cannot_read_is_reported_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("defaults:\n  locale: !secret fr\n  timezone: 2026-13-45\n")
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:2:11  defaults.locale: invalid value: could not determine a constructor for the tag '!secret'",
        "channels.yaml:3:13  defaults.timezone: invalid value: month must be in 1..12",
    ]


def test_an_alias_inside_its_own_anchor_is_an_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("channels: {email: {type: email}}\nfallback: &all [email, *all]\n")
    assert [str(i) for i in caught.value.issues] == [
        "channels.yaml:2:11  fallback[1]: an alias refers to the value that contains it",
    ]
