"""Slack blocks and Teams Adaptive Cards drawn approximately, as the route tester shows them.

Each body is turned into a short list of neutral parts (a title, a line of spans, a quote,
small context text, a divider, buttons, facts) that one template draws. Text stays text:
the template escapes it; a link is kept only for ``http``, ``https`` and ``mailto`` targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Part", "Span", "slack_parts", "teams_parts"]


@dataclass(frozen=True)
class Span:
    """A run of text, maybe bold or italic, maybe a link."""

    text: str
    bold: bool = False
    italic: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Part:
    """One drawn piece: ``title``, ``line``, ``quote``, ``context``, ``divider``, ``buttons`` or ``facts``."""

    kind: str
    spans: list[Span] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


def _href(url: Any) -> str | None:
    if isinstance(url, str) and url.lower().startswith(("http://", "https://", "mailto:")):
        return url
    return None


def _text(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return str(obj or "")


def _rich_spans(elements: list[Any]) -> list[Span]:
    out = []
    for el in elements:
        if not isinstance(el, dict):
            continue
        style = el.get("style") or {}
        if el.get("type") == "link":
            out.append(Span(str(el.get("text") or el.get("url") or ""), bool(style.get("bold")), False,
                            _href(el.get("url"))))
        elif el.get("type") in ("text", "emoji", "user", "channel"):
            out.append(Span(str(el.get("text") or el.get("name") or ""), bool(style.get("bold")),
                            bool(style.get("italic"))))
        elif isinstance(el.get("elements"), list):  # nested lists
            out += _rich_spans(el["elements"])
    return out


def slack_parts(body: dict[str, Any]) -> list[Part]:
    """The blocks of a ``chat.postMessage`` body (or its ``text`` alone when it has none)."""
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return [Part("line", [Span(_text(body.get("text")))])]
    out: list[Part] = []
    for b in blocks:
        if not isinstance(b, dict):
            continue
        kind = b.get("type")
        if kind == "header":
            out.append(Part("title", [Span(_text(b.get("text")), bold=True)]))
        elif kind == "section":
            if b.get("text"):
                out.append(Part("line", [Span(_text(b.get("text")))]))
            if isinstance(b.get("fields"), list):
                out.append(Part("facts", facts=[("", _text(f)) for f in b["fields"]]))
        elif kind == "context":
            out.append(Part("context", [Span(_text(e)) for e in b.get("elements", []) if isinstance(e, dict)]))
        elif kind == "divider":
            out.append(Part("divider"))
        elif kind == "actions":
            out.append(Part("buttons", [Span(_text(e.get("text")), href=_href(e.get("url")))
                                        for e in b.get("elements", []) if isinstance(e, dict)]))
        elif kind == "rich_text":
            for el in b.get("elements", []):
                if isinstance(el, dict):
                    part = "quote" if el.get("type") == "rich_text_quote" else "line"
                    out.append(Part(part, _rich_spans(el.get("elements", []))))
    return out


def _card(body: dict[str, Any]) -> dict[str, Any]:
    for attachment in body.get("attachments") or []:
        if isinstance(attachment, dict) and isinstance(attachment.get("content"), dict):
            return dict(attachment["content"])
    return body


def _teams_items(items: list[Any], out: list[Part]) -> None:
    for it in items:
        if not isinstance(it, dict):
            continue
        kind = it.get("type")
        if it.get("separator"):
            out.append(Part("divider"))
        if kind == "TextBlock":
            bold = it.get("weight") == "Bolder"
            size = it.get("size") in ("Large", "ExtraLarge")
            out.append(Part("title" if size else ("context" if it.get("isSubtle") else "line"),
                            [Span(str(it.get("text", "")), bold=bold)]))
        elif kind == "RichTextBlock":
            spans = [Span(str(r.get("text", "")), r.get("weight") == "Bolder", bool(r.get("italic")),
                          _href((r.get("selectAction") or {}).get("url")))
                     for r in it.get("inlines", []) if isinstance(r, dict)]
            out.append(Part("line", spans))
        elif kind == "FactSet":
            out.append(Part("facts", facts=[(str(f.get("title", "")), str(f.get("value", "")))
                                            for f in it.get("facts", []) if isinstance(f, dict)]))
        elif kind in ("Container", "Column"):
            _teams_items(it.get("items", []), out)
        elif kind == "ColumnSet":
            for column in it.get("columns", []):
                if isinstance(column, dict):
                    _teams_items(column.get("items", []), out)
        elif kind == "ActionSet":
            out.append(Part("buttons", [Span(str(a.get("title", "")), href=_href(a.get("url")))
                                        for a in it.get("actions", []) if isinstance(a, dict)]))


def teams_parts(body: dict[str, Any]) -> list[Part]:
    """The Adaptive Card of a Teams workflow body: its body items, then its actions."""
    card = _card(body)
    out: list[Part] = []
    _teams_items(card.get("body") or [], out)
    actions = [a for a in card.get("actions") or [] if isinstance(a, dict)]
    if actions:
        out.append(Part("buttons", [Span(str(a.get("title", "")), href=_href(a.get("url"))) for a in actions]))
    return out
