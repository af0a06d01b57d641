"""Console sessions: an API token exchanged once for a signed, expiring cookie, and CSRF tokens.

The cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS, path ``/console``)
carries a random session nonce and the SHA-256 digest of the token that logged in, signed
with itsdangerous and stamped with its time. Each request looks the digest up among the
tokens *in force*, so a token removed by a reload ends its sessions at once, and its
scopes are the current ones. The token itself is never stored.

Every form carries a CSRF token, an HMAC of the session nonce: a page of another site
cannot read it, so it cannot post a form in the user's name. The login form is protected
the same way by an anonymous session (a nonce without a digest) given with the form.

The signing key is ``NOTIFIER_CONSOLE_SECRET`` when set (needed for sessions to survive a
restart or be shared by several processes), else a random key of this process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["COOKIE", "ENV_SECRET", "MAX_AGE", "Session", "Sessions"]

COOKIE = "notifier_console"
ENV_SECRET = "NOTIFIER_CONSOLE_SECRET"
#: How long a session lasts after login (seconds): a working day.
MAX_AGE = 8 * 3600


@dataclass(frozen=True)
class Session:
    """What a valid cookie says: its nonce and, once logged in, the token's digest."""

    nonce: str
    digest: bytes | None

    @property
    def logged_in(self) -> bool:
        return self.digest is not None


class Sessions:
    """Issues and reads session cookies and CSRF tokens with one key."""

    def __init__(self, secret: str | None = None, max_age: int = MAX_AGE) -> None:
        key = secret or os.environ.get(ENV_SECRET) or secrets.token_urlsafe(32)
        self._serializer = URLSafeTimedSerializer(key, salt="notifier-console-session")
        self._csrf_key = hashlib.sha256(b"csrf:" + key.encode()).digest()
        self.max_age = max_age

    def issue(self, digest: bytes | None) -> tuple[Session, str]:
        """A new session (a fresh nonce, so a login never keeps a pre-login nonce) and its cookie value."""
        session = Session(secrets.token_urlsafe(16), digest)
        value = self._serializer.dumps({"n": session.nonce, "d": digest.hex() if digest else None})
        return session, value

    def read(self, value: str | None) -> Session | None:
        """The session of a cookie value; ``None`` when absent, forged or expired."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return None
        digest = data.get("d")
        try:
            return Session(data["n"], bytes.fromhex(digest) if isinstance(digest, str) else None)
        except ValueError:
            return None

    def csrf(self, session: Session) -> str:
        """The CSRF token the forms of ``session`` carry."""
        return hmac.new(self._csrf_key, session.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        """Whether a posted form's CSRF token belongs to ``session`` (compared in constant time)."""
        if session is None or not given:
            return False
        return hmac.compare_digest(self.csrf(session).encode(), given.encode())
