"""The ``send_support_email`` tool a chatbot's language model can call, and what calling it does.

One definition, three ways to reach it:

* ``GET /v1/tools`` gives the definition in the OpenAI function-calling format (Chat
  Completions ``tools``: ``{"type": "function", "function": {name, description, parameters}}``,
  https://platform.openai.com/docs/guides/function-calling) and in Anthropic's tool format
  (``{name, description, input_schema}``, https://docs.claude.com/en/docs/agents-and-tools/tool-use/overview).
  The bot's code runs the call by posting a ``tool_call`` event whose ``tool.arguments``
  are the model's arguments.
* ``notifier mcp`` and ``/mcp`` serve it over the Model Context Protocol (:mod:`notifier.mcp`).
* Either way the event takes the one accept path (dedup, routing, cases), and the answer
  carries the case and the sentence to show the user (``message_for_user``).

The parameters are not written by hand: each is the JSON Schema of the event field it fills
(:mod:`notifier.core.tool_calls` says which), so a limit changed on the event changes the
tool, and what a model may send is what the API accepts.

>>> schema = parameters()
>>> schema["properties"]["email"]["maxLength"], schema["required"]
(320, ['message'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from notifier import metrics
from notifier.core.events import Event, Page, User
from notifier.core.tool_calls import SUPPORT_TOOL

if TYPE_CHECKING:
    from notifier.auth import Principal
    from notifier.service import Service

__all__ = ["DESCRIPTION", "SUPPORT_TOOL", "Arguments", "ToolCallRefused", "anthropic_tool", "call_support_tool",
           "openai_tool", "parameters", "tool_call_event"]

DESCRIPTION = (
    "Hand the conversation to a human of the support team: they receive the user's request by "
    "email (and chat) and answer them. Call it when the user asks for a person, to be contacted, "
    "or when you cannot help. Ask for their name and email or phone first, and their consent to "
    "pass them on. The result's message_for_user is the sentence to show the user."
)

#: tool argument -> (model, field, what the model should put there). The argument names are
#: those :func:`notifier.core.tool_calls.read_tool_arguments` reads into the event.
_ARGUMENTS: dict[str, tuple[type[BaseModel], str, str]] = {
    "message": (Event, "message", "The user's request, in their words (what the team must answer)."),
    "name": (User, "name", "The user's name, if they gave it."),
    "email": (User, "email", "The user's email address, where the team will answer."),
    "phone": (User, "phone", "The user's phone number, if they prefer a call."),
    "consent": (User, "consent", "Whether the user agreed that their name, email and phone are passed "
                                 "to the support team."),
    "page_url": (Page, "url", "The page the user is on."),
    "page_title": (Page, "title", "The title of that page."),
    "conversation_id": (Event, "conversation_id", "The chat's conversation id, so later messages of the "
                                                  "same chat join the same case (set by the host, not asked)."),
    "locale": (Event, "locale", "The user's language, e.g. fr or en: the language of message_for_user."),
}


def _arguments_model() -> type[BaseModel]:
    """A model of the arguments whose fields are the event's own (type, limits), described for a model."""
    fields: dict[str, Any] = {}
    for name, (model, field, description) in _ARGUMENTS.items():
        info = model.model_fields[field]
        fields[name] = (info.annotation, FieldInfo.merge_field_infos(info, description=description))
    built: type[BaseModel] = create_model("SendSupportEmail", __config__=ConfigDict(extra="forbid"), **fields)
    return built


#: The tool's arguments, validated like the event fields they fill.
Arguments = _arguments_model()


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without its ``null`` branch, title and default (a model omits what it lacks)."""
    out = {k: v for k, v in schema.items() if k not in ("title", "default")}
    options = out.pop("anyOf", None)
    if options is not None:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
    return out


def parameters() -> dict[str, Any]:
    """The tool's parameters: a JSON Schema object, each property taken from the event model."""
    properties = {name: _without_null(p) for name, p in Arguments.model_json_schema()["properties"].items()}
    properties["message"]["minLength"] = 1
    return {"type": "object", "properties": properties, "required": ["message"], "additionalProperties": False}


def openai_tool() -> dict[str, Any]:
    """The definition in OpenAI's Chat Completions ``tools`` format."""
    return {"type": "function",
            "function": {"name": SUPPORT_TOOL, "description": DESCRIPTION, "parameters": parameters()}}


def anthropic_tool() -> dict[str, Any]:
    """The definition in Anthropic's Messages API ``tools`` format."""
    return {"name": SUPPORT_TOOL, "description": DESCRIPTION, "input_schema": parameters()}


def tool_call_event(arguments: dict[str, Any], *, site: str = "", event_id: str | None = None) -> dict[str, Any]:
    """The ``tool_call`` event (as posted to ``/v1/events``) for a call with ``arguments``.

    The arguments are kept as sent in ``tool.arguments``; the event model reads them into
    its own fields (:mod:`notifier.core.tool_calls`).
    """
    raw: dict[str, Any] = {"kind": "tool_call", "site": site, "tool": {"name": SUPPORT_TOOL, "arguments": arguments}}
    if event_id is not None:
        raw["id"] = event_id
    return raw


class ToolCallRefused(ValueError):
    """The arguments cannot make an event: ``details`` names each field, as the API's 422 does."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{d['path']}: {d['message']}" for d in details))
        self.details = details


async def call_support_tool(service: Service, arguments: dict[str, Any], *, site: str = "",
                            who: Principal | None = None, event_id: str | None = None) -> dict[str, Any]:
    """Run ``send_support_email``: accept its ``tool_call`` event and say what became of it.

    The answer holds the event id, whether it was a repeat, its deliveries, the case and
    ``message_for_user``. Raises :class:`ToolCallRefused` for arguments the API would refuse
    (or a site the token may not post for).
    """
    def refused(exc: ValidationError, prefix: str = "") -> ToolCallRefused:
        return ToolCallRefused([{"path": prefix + ".".join(str(x) for x in e["loc"]),
                                 "message": "unknown argument" if e["type"] == "extra_forbidden"
                                 else e["msg"].removeprefix("Value error, ")}
                                for e in exc.errors(include_url=False)])

    try:
        Arguments.model_validate(arguments)
    except ValidationError as exc:
        raise refused(exc, "tool.arguments.") from None
    if not isinstance(arguments.get("message"), str) or not arguments["message"].strip():
        raise ToolCallRefused([{"path": "tool.arguments.message", "message": "the user's request is required"}])
    try:
        event = Event.model_validate(tool_call_event(arguments, site=site, event_id=event_id))
    except ValidationError as exc:
        raise refused(exc) from None
    if who is not None and not who.may_site(event.site):
        raise ToolCallRefused([{"path": "site", "message": f"token {who.name!r} may not post for site {event.site!r}"}])
    (accepted,) = await service.accept([event])
    metrics.accepted.labels(event.kind.value, str(accepted.duplicate).lower()).inc()
    out = accepted.to_json()
    case = out.get("case") or {}
    out["message_for_user"] = case.get("message_for_user")
    return out
