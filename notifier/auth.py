"""Who is calling the API: bearer tokens with scopes and sites, and signed event bodies.

Tokens come from ``channels.yaml`` (``auth.tokens``, stored as SHA-256 hashes) and from
``NOTIFIER_API_TOKEN``, which stays a full-access token (every scope, every site).

Scopes: ``events:write`` may only post events; ``read`` may GET events, deliveries,
``/metrics`` and the API docs; ``admin`` may do everything, replay included, and alone
reads or erases a person's data (``/v1/privacy/…``, even with GET). A token with
``sites`` only posts and reads events of those sites.

Signed bodies (a token's ``hmac_secret``)::

    X-Notifier-Timestamp: 1767225600                  # Unix seconds when the body was signed
    X-Notifier-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A timestamp more than five minutes away from the server's clock is refused, so a captured
request cannot be replayed later; signatures are compared in constant time.

>>> token = new_token()
>>> auth = Authenticator([TokenConfig(name="bot", secret=hash_token(token), scopes=["read"])])
>>> auth.identify(f"Bearer {token}").name
'bot'
>>> auth.identify("Bearer wrong") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from notifier.config.auth import SCOPES, TokenConfig

__all__ = [
    "ENV_TOKEN",
    "MAX_SKEW",
    "MIN_ENV_TOKEN",
    "Authenticator",
    "Principal",
    "hash_token",
    "new_token",
    "sign_body",
    "signature_problem",
    "weak_env_token",
]

ENV_TOKEN = "NOTIFIER_API_TOKEN"
#: The shortest ``NOTIFIER_API_TOKEN`` that ``check`` and ``serve`` accept: it opens every scope and every site.
MIN_ENV_TOKEN = 24
MAX_SKEW = 300  # seconds: how old (or how far in the future) a signed body may be


def weak_env_token(token: str | None) -> str | None:
    """Why ``token`` (the value of ``NOTIFIER_API_TOKEN``) is too weak to guard the API — a
    placeholder left in an environment file, a word — or ``None`` (unset, or long enough).

    >>> weak_env_token("change-me").split(":")[0]
    'NOTIFIER_API_TOKEN is only 9 characters, and opens every scope and every site'
    >>> weak_env_token(new_token()) is None and weak_env_token("") is None
    True
    """
    if not token or len(token) >= MIN_ENV_TOKEN:
        return None
    return (f"{ENV_TOKEN} is only {len(token)} characters, and opens every scope and every site: "
            f"anyone could guess it. Set it to a token from `notifier token new` "
            f"({MIN_ENV_TOKEN} characters or more), or unset it and use auth.tokens")


def new_token() -> str:
    """A new random API token (256 bits), recognisable by its ``ntf_`` prefix."""
    return "ntf_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The form stored in ``channels.yaml``: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller a token stands for."""

    name: str
    scopes: frozenset[str]
    sites: frozenset[str] | None = None  # None: every site
    hmac_secret: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether the token holds ``scope`` (``admin`` holds every scope)."""
        return "admin" in self.scopes or scope in self.scopes

    def may_site(self, site: str) -> bool:
        """Whether events of ``site`` are this token's business."""
        return self.sites is None or site in self.sites


class Authenticator:
    """Finds the :class:`Principal` of an ``Authorization`` header."""

    def __init__(self, tokens: Iterable[TokenConfig], env_token: str | None = None) -> None:
        self._by_digest: list[tuple[bytes, Principal]] = [
            (bytes.fromhex(t.secret.removeprefix("sha256:")),
             Principal(t.name, frozenset(t.scopes), frozenset(t.sites) if t.sites is not None else None,
                       t.hmac_secret))
            for t in tokens
        ]
        if env_token:
            self._by_digest.append((hashlib.sha256(env_token.encode()).digest(),
                                    Principal(ENV_TOKEN, frozenset(SCOPES))))

    @property
    def enabled(self) -> bool:
        """Whether any token exists (without one the API is open, on loopback only by default)."""
        return bool(self._by_digest)

    def by_digest(self, digest: bytes) -> Principal | None:
        """The principal whose token hashes to ``digest`` (a console session keeps only that)."""
        found = None
        for expected, principal in self._by_digest:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal of ``Authorization: Bearer <token>``, or ``None``."""
        if not authorization:
            return None
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        found = None
        # Every entry is compared, in constant time, so timing says nothing about the tokens.
        for expected, principal in self._by_digest:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found


def sign_body(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Notifier-Signature`` value for ``body`` signed at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signature_problem(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                      now: float) -> str | None:
    """Why a signed body is refused, or ``None`` when it is genuine and fresh.

    ``signature`` may list several ``v1=…`` values separated by commas or spaces (a client
    signing with an old and a new secret during a rotation).
    """
    if not timestamp or not signature:
        return "this token requires signed bodies: X-Notifier-Timestamp and X-Notifier-Signature headers"
    try:
        ts = int(timestamp.strip())
    except ValueError:
        return "X-Notifier-Timestamp must be Unix seconds"
    if abs(now - ts) > MAX_SKEW:
        return f"X-Notifier-Timestamp is more than {MAX_SKEW // 60} minutes away from the server's clock"
    expected = sign_body(secret, ts, body).encode()
    ok = False
    for given in signature.replace(",", " ").split():
        ok |= hmac.compare_digest(given.strip().encode(), expected)
    return None if ok else "X-Notifier-Signature does not match the body"
