"""The data policy in force, stated in a few lines for people (the digest, ``notifier test``).

What is kept and for how long (``defaults.retention``), what is hidden in visitor text
everywhere (``defaults.privacy``), and what each channel is shown (its ``privacy``).
Pure: the configuration in, lines of text out, in French or English.

>>> from notifier.config.models import Config
>>> config = Config.model_validate({"version": 1, "channels": {
...     "slack": {"type": "webhook", "url": "https://example.com/h",
...               "privacy": {"include": ["message", "page"], "redact": ["email", "phone"]}}}})
>>> channel_statement(config, "slack", "en")
'slack sees: message, page; hides in text: emails, phone numbers'
"""

from __future__ import annotations

from datetime import timedelta

from notifier.config.models import Config
from notifier.core.durations import format_duration

__all__ = ["channel_statement", "privacy_statement"]

_SHOWN = {
    "fr": {"message": "message", "page": "page", "user.name": "nom", "user.email": "email",
           "user.phone": "téléphone", "transcript": "transcription", "ip": "IP"},
    "en": {"message": "message", "page": "page", "user.name": "name", "user.email": "email",
           "user.phone": "phone", "transcript": "transcript", "ip": "IP"},
}
_HIDDEN = {
    "fr": {"email": "emails", "phone": "téléphones", "card": "cartes bancaires", "iban": "IBAN", "ip": "adresses IP"},
    "en": {"email": "emails", "phone": "phone numbers", "card": "card numbers", "iban": "IBANs", "ip": "IP addresses"},
}
_WORDS = {
    "fr": {"sees": "{name} voit : {what}", "then": " ; ", "all": "tout ce que l'utilisateur a accepté de partager",
           "hides": "masque dans le texte : {what}", "nothing": "rien",
           "kept": "Conservation : événements {events}, envois {deliveries}, dossiers {cases} ; "
                   "effacement sur demande (notifier privacy erase).",
           "kept_forever": "Conservation : sans limite configurée ; effacement sur demande (notifier privacy erase).",
           "everywhere": "Masqué partout : {what}.", "ip": "Adresses IP stockées tronquées.",
           "consent": "Coordonnées transmises seulement avec le consentement de l'utilisateur."},
    "en": {"sees": "{name} sees: {what}", "then": "; ", "all": "everything the user agreed to share",
           "hides": "hides in text: {what}", "nothing": "nothing",
           "kept": "Kept: events {events}, deliveries {deliveries}, cases {cases}; "
                   "erased on request (notifier privacy erase).",
           "kept_forever": "Kept: no limit set; erased on request (notifier privacy erase).",
           "everywhere": "Hidden everywhere: {what}.", "ip": "IP addresses stored truncated.",
           "consent": "Contact details go out only with the user's consent."},
}


def _lang(locale: str) -> str:
    return "fr" if locale.startswith("fr") else "en"


def channel_statement(config: Config, channel: str, locale: str) -> str:
    """What ``channel`` is shown of an event and what it hides in visitor text, in one line."""
    lang = _lang(locale)
    words = _WORDS[lang]
    policy = config.privacy_for(channel)
    shown = (", ".join(_SHOWN[lang][f] for f in policy.include) or words["nothing"]
             if policy.include is not None else words["all"])
    line = words["sees"].format(name=channel, what=shown)
    if policy.redact:
        line += words["then"] + words["hides"].format(what=", ".join(_HIDDEN[lang][k] for k in policy.redact))
    return line


def privacy_statement(config: Config, locale: str, channels: list[str] | None = None) -> list[str]:
    """The policy in force, briefly: retention, what is hidden everywhere, what each channel sees.

    ``channels``: the channels to state (default: every configured one).
    """
    lang = _lang(locale)
    words = _WORDS[lang]
    # Retention is optional in a configuration (absent: kept until erased).
    retention = getattr(config.defaults, "retention", None)
    ages = {k: a for k in ("events", "deliveries", "cases")
            if isinstance(a := getattr(retention, k, None), timedelta)}
    if len(ages) == 3:
        lines = [words["kept"].format(**{k: format_duration(a) for k, a in ages.items()})]
    else:
        lines = [words["kept_forever"]]
    defaults = config.defaults.privacy
    if defaults.redact:
        lines.append(words["everywhere"].format(what=", ".join(_HIDDEN[lang][k] for k in defaults.redact)))
    if defaults.ip == "anonymise":
        lines.append(words["ip"])
    lines.append(words["consent"])
    names = channels if channels is not None else list(config.channels)
    lines += [channel_statement(config, name, locale) for name in names if name in config.channels]
    return lines
