"""Console sessions: an API token exchanged once for a signed, expiring cookie, and CSRF tokens.

The cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS, path ``/console``)
carries a random session nonce and the SHA-256 digest of the token that logged in, signed
with itsdangerous and stamped with its time. Each request looks the digest up among the
tokens *in force*, so a token removed by a reload ends its sessions at once, and its
scopes are the current ones. The token itself is never stored.

A logout ends the session on the server too (:class:`EndedSessions`): its nonce is recorded
in the store until the cookie would have expired, so a copy of the cookie (a shared
computer, a proxy's log, malware) is refused by every process sharing the database, after
a restart as well. Other sessions of the same token go on.

Every form carries a CSRF token, an HMAC of the session nonce: a page of another site
cannot read it, so it cannot post a form in the user's name. The login form is protected
the same way by an anonymous session (a nonce without a digest) given with the form.

The signing key is ``NOTIFIER_CONSOLE_SECRET`` when set (needed for sessions to survive a
restart or be shared by separately started processes), else a random key of this process;
``serve --api-processes`` sets one random key in its own and its API processes' environment.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer

from notifier.store.connector import Connector
from notifier.store.ended_sessions import EndedSessionStore

__all__ = ["COOKIE", "ENV_SECRET", "MAX_AGE", "SKEW", "EndedSessions", "Session", "Sessions"]

COOKIE = "notifier_console"
ENV_SECRET = "NOTIFIER_CONSOLE_SECRET"
#: How long a session lasts after login (seconds): a working day.
MAX_AGE = 8 * 3600
#: How much longer than its cookie an ended session is remembered: a process whose clock is
#: behind the one that recorded the logout still accepts the cookie's signature a little longer.
SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    """What a valid cookie says: its nonce, once logged in the token's digest, and when it expires."""

    nonce: str
    digest: bytes | None
    expires_at: datetime

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
        expires_at = datetime.fromtimestamp(int(time.time()) + self.max_age, UTC)
        session = Session(secrets.token_urlsafe(16), digest, expires_at)
        value = self._serializer.dumps({"n": session.nonce, "d": digest.hex() if digest else None})
        return session, value

    def read(self, value: str | None) -> Session | None:
        """The session of a cookie value; ``None`` when absent, forged or expired."""
        if not value:
            return None
        try:
            data, signed_at = self._serializer.loads(value, max_age=self.max_age, return_timestamp=True)
        except BadSignature:  # SignatureExpired is one
            return None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return None
        digest = data.get("d")
        try:
            return Session(data["n"], bytes.fromhex(digest) if isinstance(digest, str) else None,
                           signed_at + timedelta(seconds=self.max_age))
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


class EndedSessions:
    """Which sessions a logout ended, whichever process sharing the store it came to.

    Every request with a logged-in cookie asks the store: one probe of a primary key
    (microseconds on SQLite, one round trip on PostgreSQL), cheap at the pace of people
    clicking through pages. Only *ended* nonces are remembered in this process (an ended
    session never comes back, so that memory is never wrong, and a copied cookie replayed
    in a loop costs no query). A session not ended is asked again at each request: a
    logout in another process is refused here from the very next request. Remembering live
    sessions too would save the probe, but would let a logged-out cookie work on other
    processes for as long as that memory lasts.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self._ended: dict[str, datetime] = {}

    async def end(self, connector: Connector, session: Session) -> None:
        """End ``session`` in every process: recorded until its cookie expires (plus :data:`SKEW`)."""
        now = datetime.now(UTC)  # the cookie's expiry is read on the wall clock, as itsdangerous does
        await EndedSessionStore(connector).end(session.nonce, session.expires_at + SKEW, now)
        self._remember(session, now)

    async def is_ended(self, connector: Connector, session: Session) -> bool:
        """Whether a logout, here or in another process, ended ``session``."""
        if session.nonce in self._ended:
            return True
        if not await EndedSessionStore(connector).is_ended(session.nonce):
            return False
        self._remember(session, datetime.now(UTC))
        return True

    def _remember(self, session: Session, now: datetime) -> None:
        if len(self._ended) >= self.capacity:
            # Expired cookies are refused by their signature: forget them first, then the
            # oldest (the store still answers for whatever is forgotten here).
            self._ended = {n: at for n, at in self._ended.items() if at > now}
            while len(self._ended) >= self.capacity:
                del self._ended[next(iter(self._ended))]
        self._ended[session.nonce] = session.expires_at
