"""A data subject: the person (by email) or the conversation an access or erasure request names.

Pure functions: how an identifier is normalised, how it is recognised inside stored
events (in the user's fields *and* in free text: message, transcript, tool arguments,
page URLs), and the keyed hash the audit record keeps instead of the identifier.

An email is matched in its folded form (:func:`notifier.core.fold.fold`): without regard
to case, beyond ASCII too (``Jean.Dupont@Example.COM``, ``ÉLODIE@…`` is ``élodie@…``:
domains are case-insensitive and no mail provider in practice distinguishes the local
part), whatever Unicode form it was typed in (fullwidth ``ｊｅａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ``,
ligatures, ``ß`` for ``ss``, accents precomposed or combining), and also in its
URL-encoded form (``jean.dupont%40example.com`` in a page's query string). Accents are
kept (``élodie@…`` is not ``elodie@…``), and the address must stand alone:
``ajean.dupont@example.com`` or ``jean.dupont@example.com.fr`` are other people.

>>> s = Subject.email("Jean.Dupont@Example.COM")
>>> s.value
'jean.dupont@example.com'
>>> s.mentioned_in({"message": "écrivez à JEAN.DUPONT@example.com svp"})
True
>>> s.mentioned_in({"message": "copie à ajean.dupont@example.com"})
False
>>> s.mentioned_in({"user": {"email": "ＪＥＡＮ.ｄｕｐｏｎｔ＠ｅｘａｍｐｌｅ．ｃｏｍ"}})
True
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from notifier.core.fold import Variants, fold, variants_of

__all__ = ["EMAIL_PATTERN", "NO_NUL_PATTERN", "Subject", "SubjectError", "SubjectKind", "normalise_email"]

SubjectKind = Literal["email", "conversation"]

#: What an email address given to name a subject must look like. Spelled with explicit
#: characters, not ``\s`` (whose meaning differs between regex engines), so the API's
#: OpenAPI pattern and this check accept exactly the same strings. No control character
#: (PostgreSQL refuses a NUL in a text parameter, and no address holds one).
EMAIL_PATTERN = r"^[^@ \x00-\x1f\x7f]+@[^@ \x00-\x1f\x7f]+\.[^@ \x00-\x1f\x7f]+$"
#: What a conversation id or a site given to name a subject must look like: no NUL.
NO_NUL_PATTERN = r"^[^\x00]+$"
_EMAIL = re.compile(EMAIL_PATTERN)
_ASCII_RUN = re.compile(r"[\x00-\x7f]+")


def _longest_ascii_run(text: str) -> str:
    return max(_ASCII_RUN.findall(text), key=len, default="")


class SubjectError(ValueError):
    """The identifier given cannot name a subject (empty, or not an email address)."""


def normalise_email(value: str) -> str:
    """``value`` as matched: folded (:func:`~notifier.core.fold.fold`). Raises :class:`SubjectError`.

    ``value`` must match :data:`EMAIL_PATTERN` as given (a command line strips it first).
    """
    if len(value) > 320 or not _EMAIL.match(value):
        raise SubjectError(f"not an email address: {value!r}")
    return fold(value)


def _strings(value: Any) -> Iterator[str]:
    # Keys too: a tool's arguments are any JSON, and a visitor's text can be a key.
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: ``kind`` ``email`` or ``conversation``, and the normalised ``value``."""

    kind: SubjectKind
    value: str
    #: For a conversation: the site it is on (each site's chatbot numbers its own
    #: conversations); ``None``: on whichever site holds it.
    site: str | None = None

    @classmethod
    def email(cls, value: str) -> Subject:
        """The person with this email address (normalised, see :func:`normalise_email`)."""
        return cls("email", normalise_email(value))

    @classmethod
    def conversation(cls, value: str, site: str | None = None) -> Subject:
        """One conversation, by its ``conversation_id`` exactly as the chatbot sent it (on ``site``;
        ``""``: sent without one, as events store it)."""
        if not value or "\x00" in value:
            raise SubjectError("the conversation id is empty or holds a NUL character")
        if site is not None and "\x00" in site:  # "": the conversation sent without a site
            raise SubjectError("the site holds a NUL character")
        return cls("conversation", value, site)

    @property
    def needles(self) -> tuple[str, ...]:
        """Pieces of ASCII text a stored event body holds (any ASCII case) when it names this
        email as typed, plain and URL-encoded; else it holds one of :attr:`variants`.

        The database narrows with these (its ``LIKE`` folds ASCII letters alone);
        :meth:`mentioned_in` then decides. The address itself when it is ASCII, else its
        longest ASCII part (``'.durand@exemple.fr'`` of ``'élodie.durand@exemple.fr'``).
        """
        if self.kind != "email":
            return ()
        return (_longest_ascii_run(self.value), _longest_ascii_run(self.value.replace("@", "%40")))

    @property
    def variants(self) -> Variants:
        """The characters outside ASCII that fold into a part of :attr:`needles` (fullwidth
        letters, ligatures, ``ß``…): a stored body naming this email in another Unicode form
        holds one (see :func:`~notifier.core.fold.variants_of`). For an email only."""
        if self.kind != "email":
            raise SubjectError("only an email is searched for in text")
        return variants_of(*self.needles)

    def _pattern(self) -> re.Pattern[str]:
        # Alone: not inside a longer address on either side (a dot before the next word
        # continues the domain: ``x@y.com.fr`` is not ``x@y.com``).
        return re.compile(r"(?<![\w.+%-])" + re.escape(self.value) + r"(?![\w-]|\.[\w-])")

    def mentioned_in(self, body: Any) -> bool:
        """Whether this email appears anywhere in ``body`` (a stored event, as JSON data)."""
        if self.kind != "email":
            return False
        pattern = self._pattern()
        for text in _strings(body):
            # Folded first: a fullwidth ``＠`` is an ``@`` too (and ``%EF%BC%A0`` in a URL).
            folded = fold(text)
            if "@" not in folded and "%" not in folded:
                continue
            if pattern.search(folded):
                return True
            if "%" in folded and pattern.search(fold(unquote(folded))):
                return True
        return False

    def is_user_of(self, body: Any) -> bool:
        """Whether ``body`` (a stored event) is this person's own: their email in ``user``
        or in the arguments of the tool the bot called for them.

        Their whole conversation is theirs; a conversation that merely mentions them is
        another person's, and only its events naming them are erased.
        """
        if self.kind != "email" or not isinstance(body, dict):
            return False
        def field(parent: Any, name: str) -> Any:
            return parent.get(name) if isinstance(parent, dict) else None

        user, arguments = field(body, "user"), field(field(body, "tool"), "arguments")
        # Folded as stored, not checked as an address is when asked for: a visitor's fullwidth
        # ``＠`` is theirs all the same.
        return any(isinstance(value, str) and fold(value.strip()) == self.value
                   for value in (field(user, "email"), field(arguments, "email")))

    def digest(self, key: bytes) -> str:
        """The audit record's form: ``hmac-sha256:<hex>`` of ``kind:value`` under ``key``.

        Keyed, so the identifier cannot be recovered by hashing guesses without the key;
        the same subject always gives the same digest, so the admin can tell whether a
        person was erased by computing it again (``notifier privacy audit --email``). An
        email's ``value`` is folded: every Unicode form of one address gives one digest.
        """
        mac = hmac.new(key, f"{self.kind}:{self.value}".encode(), hashlib.sha256)
        return "hmac-sha256:" + mac.hexdigest()
