"""Rendering notifications with Jinja2 templates, per channel type and locale.

Templates ship in ``notifier/templates/<type>/<name>.<locale>.<ext>`` (e.g.
``email/body.fr.html``); a ``templates:`` directory in ``channels.yaml`` overrides any of
them by the same relative path. The environment is sandboxed (templates come from
admins, not from the code) and autoescapes ``.html`` files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifier.channels.inert import header_text, mailto, no_mentions, safe_url, slack_mrkdwn
from notifier.channels.limits import truncate
from notifier.config.models import Defaults
from notifier.core.addresses import checked_email
from notifier.core.events import Event
from notifier.core.outbound import Outbound

__all__ = ["LABELS", "Renderer", "TemplateProblem", "view"]

#: Words used by templates and by channels that build their payload in code (Slack, Teams).
LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "support_request": "Demande de support",
        "contact_request": "Demande de contact",
        "message": "Mot-clé surveillé",
        "tool_call": "Demande de support (outil)",
        "conversation_started": "Conversation commencée",
        "conversation_ended": "Conversation terminée",
        "feedback": "Avis utilisateur",
        "low": "basse", "normal": "normale", "high": "haute", "urgent": "urgente",
        "similar": "similaires regroupés",
        "test": "TEST",
        "site": "Site", "page": "Page", "time": "Heure", "user": "Utilisateur",
        "keywords": "Mots-clés", "transcript": "Derniers échanges", "open": "Ouvrir",
        "open_page": "Voir la page", "priority_word": "Priorité", "no_message": "(pas de message)",
        "role_user": "Utilisateur", "role_assistant": "Bot", "role_system": "Système",
        "invalid_email": "(adresse non valide)", "phone": "Téléphone",
        "more_chars": "…({n} caractères de plus)", "read_all": "tout lire",
    },
    "en": {
        "support_request": "Support request",
        "contact_request": "Contact request",
        "message": "Watched keyword",
        "tool_call": "Support request (tool)",
        "conversation_started": "Conversation started",
        "conversation_ended": "Conversation ended",
        "feedback": "User feedback",
        "low": "low", "normal": "normal", "high": "high", "urgent": "urgent",
        "similar": "similar folded in",
        "test": "TEST",
        "site": "Site", "page": "Page", "time": "Time", "user": "User",
        "keywords": "Keywords", "transcript": "Last turns", "open": "Open",
        "open_page": "Open page", "priority_word": "Priority", "no_message": "(no message)",
        "role_user": "User", "role_assistant": "Bot", "role_system": "System",
        "invalid_email": "(not a valid address)", "phone": "Phone",
        "more_chars": "…({n} more characters)", "read_all": "read it all",
    },
}


@dataclass(frozen=True)
class TemplateProblem:
    """A template that does not compile."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 1}  template: {self.message}"


_BUILTIN = Path(__file__).parent / "templates"
_TEMPLATE_SUFFIXES = (".txt", ".html", ".md", ".json", ".j2")
_LOCALE = re.compile(r"[a-z]{2}([-_][A-Za-z]{2})?")


def _template_key(name: str) -> tuple[str, str]:
    """``email/body.fr.txt`` -> ``("email/body", "txt")``: a template whatever its locale."""
    folder, _, file = name.rpartition("/")
    parts = file.split(".")
    if len(parts) >= 3 and _LOCALE.fullmatch(parts[-2]):
        parts = [*parts[:-2], parts[-1]]
    return f"{folder}/{'.'.join(parts[:-1])}", parts[-1]


def _autoescape(name: str | None) -> bool:
    return bool(name and name.endswith((".html", ".htm")))


class Renderer:
    """Finds and renders templates; ``override`` is the ``templates:`` directory, if any."""

    def __init__(self, override: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override is not None:
            loaders.append(jinja2.FileSystemLoader(str(override)))
        loaders.append(jinja2.FileSystemLoader(str(_BUILTIN)))
        self.override = override
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=_autoescape,
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["localtime"] = _localtime
        # Jinja2's own truncate can split a flag, an accent from its letter or an emoji sequence.
        self.env.filters["truncate"] = truncate
        # Escaping for the targets Jinja2's HTML autoescape does not know.
        self.env.filters["slack_mrkdwn"] = slack_mrkdwn
        self.env.filters["no_mentions"] = no_mentions

    def template_name(self, channel_type: str, name: str, locale: str, ext: str) -> str:
        """The first of ``<type>/<name>.<locale>.<ext>``, its language's (``fr`` for ``fr-FR``),
        ``….en.…`` and ``….<ext>`` that exists."""
        # Browsers and chatbots say "fr-FR" or "en_GB": the language's template serves them.
        lang = locale.replace("_", "-").split("-")[0].lower()
        candidates = list(dict.fromkeys([f"{channel_type}/{name}.{locale}.{ext}", f"{channel_type}/{name}.{lang}.{ext}",
                                         f"{channel_type}/{name}.en.{ext}", f"{channel_type}/{name}.{ext}"]))
        for candidate in candidates:
            if self._exists(candidate):
                return candidate
        raise jinja2.TemplateNotFound(candidates[0])

    def _exists(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except jinja2.TemplateNotFound:
            return False
        return True

    def render(self, channel_type: str, name: str, locale: str, ext: str, context: dict[str, Any]) -> str:
        """Render ``<type>/<name>.<locale>.<ext>`` with ``context``."""
        return self.env.get_template(self.template_name(channel_type, name, locale, ext)).render(context)

    def unused_overrides(self) -> list[str]:
        """Files of the ``templates:`` directory that replace no built-in template (never used),
        each with the closest name that would."""
        import difflib

        if self.override is None or not self.override.is_dir():
            return []
        builtin = [p.relative_to(_BUILTIN).as_posix() for p in sorted(_BUILTIN.rglob("*")) if p.is_file()]
        known = {_template_key(name) for name in builtin}
        found = []
        for path in sorted(self.override.rglob("*")):
            if not path.is_file() or path.suffix not in _TEMPLATE_SUFFIXES:
                continue
            name = path.relative_to(self.override).as_posix()
            if _template_key(name) in known:
                continue
            close = difflib.get_close_matches(name, builtin, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]}?)" if close else ""
            found.append(f"{path}: replaces no built-in template, so it is never used{hint}; "
                         "see docs/templates.md for the names")
        return found

    def check(self) -> list[TemplateProblem]:
        """Compile every template (built-in and overrides); the ones that fail."""
        problems = []
        roots = [_BUILTIN] + ([self.override] if self.override else [])
        for root in roots:
            for path in sorted(root.rglob("*")):
                if not path.is_file() or path.suffix not in _TEMPLATE_SUFFIXES:
                    continue
                try:
                    self.env.parse(path.read_text(encoding="utf-8"), path.name, str(path))
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(TemplateProblem(str(path), exc.lineno, exc.message or str(exc)))
        return problems


def _localtime(value: datetime | None, tz: str, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


_ESCALATION_TEXT = {"fr": "Escalade {step} : en attente depuis {waited}",
                    "en": "Escalation {step}: waiting for {waited}"}


def _escalation(message: Outbound, locale: str) -> dict[str, Any] | None:
    """Which escalation step a delivery is and how long its case waited (``None``: not one)."""
    if message.route != "escalation":
        return None
    labels = message.event.labels
    step, waited = labels.get("escalation", "?"), labels.get("waited", "?")
    text = _ESCALATION_TEXT.get(locale, _ESCALATION_TEXT["en"]).format(step=step, waited=waited)
    return {"step": step, "waited": waited, "case": labels.get("escalated_case"), "text": text}


def _tool_message(ev: Event) -> str | None:
    # Tool arguments are any JSON: only a string ``message`` is the user's words.
    value = ev.tool.arguments.get("message") if ev.tool else None
    return value if isinstance(value, str) else None


def view(message: Outbound, defaults: Defaults, locale: str, *, link: str | None = None,
         turns: int = 6) -> dict[str, Any]:
    """The context every template receives, privacy rules applied.

    The user's name, email, phone and IP address are included only with ``user.consent``.
    Visitor text is given as typed: ``.html`` templates autoescape it; links use
    ``page_href`` and ``email_href``, which are only set for a web URL and a valid address
    (``email_valid`` is false when the visitor's address does not parse: show it as text).
    """
    ev = message.event
    labels = LABELS.get(locale, LABELS["en"])
    user = ev.consented_user
    if user is not None:
        # One-line fields stay one line in every template: a visitor's name cannot add a
        # "Priority:" row to a text email, nor a line that looks like a header.
        user = user.model_copy(update={k: header_text(getattr(user, k)) for k in ("name", "email", "phone", "ip")
                                       if getattr(user, k)})
    when = ev.occurred_at
    return {
        "event": ev,
        "kind": ev.kind.value,
        "kind_label": labels.get(ev.kind.value, ev.kind.value),
        "priority": message.priority.value,
        "priority_label": labels.get(message.priority.value, message.priority.value),
        "urgent": message.priority.rank >= 2,
        "site": header_text(ev.site),
        # One line too: the chatbot may pass on what the browser said (a "\nPriorité :" row).
        "conversation_id": header_text(ev.conversation_id or "") or None,
        "tool_name": header_text(ev.tool.name) if ev.tool else None,
        "message": ev.message or _tool_message(ev) or "",
        "page_url": header_text(ev.page.url) if ev.page and ev.page.url else None,
        "page_title": header_text(ev.page.title) if ev.page and ev.page.title else None,
        "time": _localtime(when, defaults.timezone),
        "timezone": defaults.timezone,
        "user": user,
        "email_valid": bool(user and checked_email(user.email)),
        "email_href": mailto(user.email) if user else None,
        "page_href": safe_url(ev.page.url) if ev.page else None,
        "ip": user.ip if user else None,
        "transcript": ev.transcript[-turns:] if turns else [],
        "folded": message.folded,
        "keywords": list(message.keywords),
        "bot_name": defaults.bot_name,
        "history_hint": defaults.history_hint,
        "link": link,
        "test": message.test,
        "route": message.route,
        # Set on an escalation's deliveries (see notifier/escalation.py): which step, how long.
        "escalation": _escalation(message, locale),
        "labels": labels,
        "locale": locale,
    }
