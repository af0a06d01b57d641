"""notifier as an LLM chatbot's `send_support_email` tool (function calling).

Give the model the tool below; when it calls it, post the call as a `tool_call` event.
notifier reads the arguments into the event: name, email, phone -> `user` (with consent:
the visitor gave them to be contacted), message -> `message`, page_url -> `page.url`.
"""

import json

from notify import send_event  # the Python example: docs/examples/notify.py

SEND_SUPPORT_EMAIL = {
    "type": "function",
    "function": {
        "name": "send_support_email",
        "description": "Hand the visitor over to the human support team, who will answer by email or phone. "
                       "Use it when they ask for a human, are frustrated, or need help beyond yours.",
        "parameters": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "The visitor's name, if they gave it"},
                "email": {"type": "string", "description": "Where the team should answer"},
                "phone": {"type": "string", "description": "A phone number, if they prefer a call"},
                "message": {"type": "string", "description": "The visitor's request, in their words"},
                "page_url": {"type": "string", "description": "The page the chat is on"},
            },
            "required": ["message"],
        },
    },
}


def on_tool_call(name: str, arguments: str, *, site: str, conversation_id: str) -> str:
    """Run when the model calls a tool (`arguments` is the JSON text it wrote); returns its result."""
    if name != "send_support_email":
        raise ValueError(f"unknown tool {name}")
    answer = send_event({
        "kind": "tool_call",
        "site": site,
        "conversation_id": conversation_id,
        "tool": {"name": name, "arguments": json.loads(arguments)},
    })
    return json.dumps({"sent": True, "reference": answer["id"]})
