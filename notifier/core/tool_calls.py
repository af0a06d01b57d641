"""What a bot's tool call says about the person: its arguments read into the event's fields.

An LLM chatbot hands a person to the team by calling a tool such as ``send_support_email``
with the details it collected. Posted as a ``tool_call`` event, those details would stay in
``tool.arguments`` where no template looks; read into ``user``, ``page`` and ``message``,
the notification names the requester, replies go to them and the page is known.

======================  ==========================  =====================================
tool argument           event field                 note
======================  ==========================  =====================================
``name``                ``user.name``
``email``               ``user.email``
``phone``               ``user.phone``
``consent`` (bool)      ``user.consent``            see below
``message``             ``message``
``page_url``, ``url``   ``page.url``
``page_title``          ``page.title``
``conversation_id``     ``conversation_id``         the chat's id, so its case is found
``locale``              ``locale``                  the language of ``message_for_user``
======================  ==========================  =====================================

A field the event already carries wins over the argument; only text arguments are read;
``tool.arguments`` is kept as sent. Consent: an explicit ``consent`` argument, else the
event's own ``user.consent`` when it is given, else — for ``send_support_email``, whose very
purpose is to pass the person's details to the team — ``true`` once a name, email or phone
was given.

>>> event, _ = read_tool_arguments({"kind": "tool_call", "tool": {"name": "send_support_email",
...     "arguments": {"name": "Marie", "email": "marie@example.com", "message": "Rappelez-moi"}}})
>>> event["user"], event["message"]
({'name': 'Marie', 'email': 'marie@example.com', 'consent': True}, 'Rappelez-moi')
"""

from __future__ import annotations

from typing import Any

__all__ = ["SUPPORT_TOOL", "read_tool_arguments"]

#: The tool whose arguments are, by its purpose, the person's details for the team.
SUPPORT_TOOL = "send_support_email"

Loc = tuple[str | int, ...]

_USER = {"name": "name", "email": "email", "phone": "phone"}
_PAGE = {"page_url": "url", "url": "url", "page_title": "title"}
_TOP = ("conversation_id", "locale")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def read_tool_arguments(data: Any) -> tuple[Any, dict[Loc, Loc]]:
    """``data`` (a raw event) with its tool arguments read into its fields, and for each field
    filled in, where it came from (so that a refusal names what the client sent)."""
    if not isinstance(data, dict) or data.get("kind") != "tool_call":
        return data, {}
    tool = data.get("tool")
    arguments = tool.get("arguments") if isinstance(tool, dict) else None
    if not isinstance(arguments, dict):
        return data, {}
    out = dict(data)
    sources: dict[Loc, Loc] = {}

    def fill(section: str, field: str, arg: str) -> None:
        value = _text(arguments.get(arg))
        current = out.get(section)
        if value is None or (current is not None and not isinstance(current, dict)):
            return
        current = dict(current or {})
        if current.get(field) not in (None, ""):
            return
        current[field] = value
        out[section] = current
        sources[(section, field)] = ("tool", "arguments", arg)

    for arg, field in _USER.items():
        fill("user", field, arg)
    for arg, field in _PAGE.items():
        fill("page", field, arg)
    for arg in _TOP:
        value = _text(arguments.get(arg))
        if value is not None and out.get(arg) in (None, ""):
            out[arg] = value
            sources[(arg,)] = ("tool", "arguments", arg)
    message = _text(arguments.get("message"))
    if message is not None and out.get("message") in (None, ""):
        out["message"] = message
        sources[("message",)] = ("tool", "arguments", "message")

    user = out.get("user")
    if isinstance(user, dict) and any(loc[0] == "user" for loc in sources):
        given = arguments.get("consent")
        if isinstance(given, bool):
            user = {**user, "consent": given}
            sources[("user", "consent")] = ("tool", "arguments", "consent")
        elif "consent" not in user and isinstance(tool, dict) and tool.get("name") == SUPPORT_TOOL:
            user = {**user, "consent": True}
        out["user"] = user
    return out, sources
