"""Signed action links: "Je m'en occupe / I'm on it" and "Résolu / Resolved" from an email or a card.

A link is ``{public_url}/v1/cases/{id}/act?t=TOKEN``. The token says which case, which
action, for which round of the case (a case reopened starts a new round), until when and
(optionally) for whom, signed with HMAC-SHA256 under the server's
secret by itsdangerous; the signature's salt is the link's purpose, so a token signed for
anything else never passes here. Opening the link only shows a confirmation page (mail
scanners open every link they see); its button posts the token back, and only that POST
acts. Nothing but the token is trusted: the case in the URL must be the token's.

A link names the round it was sent for, so the mail of a request answered last week does
not claim or resolve the case once the user came back and it was reopened: the page says
the link is from an earlier request and shows the case as it is now. Links signed before
rounds were named carry none; they act on the case as it is, as they always did, until
they expire (``action_links.expires``).

>>> from datetime import UTC, datetime, timedelta
>>> links = ActionLinks("s" * 32, "https://notifier.example.com", timedelta(days=7))
>>> now = datetime(2026, 3, 6, 18, tzinfo=UTC)
>>> grant = links.verify(links.token("c41d", "claim", now, case_round=2), now)
>>> grant.case_id, grant.action, grant.round
('c41d', 'claim', 2)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from notifier.config.links import MIN_SECRET
from notifier.config.models import Config
from notifier.core.cases import Action

__all__ = ["ENV_SECRET", "PURPOSE", "ActionLinks", "LinkGrant", "LinkRefused", "links_for", "links_off_reason"]

#: The environment variable that holds the signing secret when ``action_links.secret`` is unset.
ENV_SECRET = "NOTIFIER_LINK_SECRET"
#: The salt of the signature: a token made for another use of the same secret never verifies here.
PURPOSE = "notifier.case-action.v1"
#: Actions a link may carry (reopening is left to the CLI and the API).
LINK_ACTIONS: tuple[Action, ...] = ("claim", "resolve")


@dataclass(frozen=True)
class LinkGrant:
    """What a valid token allows: ``action`` on ``case_id`` until ``expires_at``."""

    case_id: str
    action: Action
    expires_at: datetime
    #: Whom the link was sent to, when it was sent to one person: they act under that name.
    recipient: str | None = None
    #: The kind of channel the link was sent through (``email``, ``teams``): recorded with the action.
    via: str = "link"
    #: The round of the case the link was sent for (``None``: a link made before links named one).
    round: int | None = None


class LinkRefused(Exception):
    """A token that does not allow anything: ``expired`` (genuine but too old) or ``invalid``."""

    def __init__(self, reason: Literal["expired", "invalid"], expired_at: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired_at = expired_at


class ActionLinks:
    """Makes and checks the signed links of one configuration."""

    def __init__(self, secret: str, base_url: str, expires: timedelta) -> None:
        self.base_url = base_url.rstrip("/")
        self.expires = expires
        self._serializer = URLSafeSerializer(secret, salt=PURPOSE,
                                             signer_kwargs={"digest_method": hashlib.sha256})

    def token(self, case_id: str, action: Action, now: datetime, *, via: str = "link",
              recipient: str | None = None, case_round: int | None = None) -> str:
        """A token for ``action`` on round ``case_round`` of ``case_id``, valid from ``now`` for :attr:`expires`."""
        data: dict[str, object] = {"c": case_id, "a": action, "e": int((now + self.expires).timestamp()),
                                   "v": via}
        if recipient:
            data["r"] = recipient
        if case_round is not None:
            data["n"] = case_round
        return str(self._serializer.dumps(data))

    def url(self, case_id: str, action: Action, now: datetime, *, via: str = "link",
            recipient: str | None = None, case_round: int | None = None) -> str:
        """The link to the confirmation page of ``action`` on round ``case_round`` of ``case_id``."""
        token = self.token(case_id, action, now, via=via, recipient=recipient, case_round=case_round)
        return f"{self.base_url}/v1/cases/{quote(case_id, safe='')}/act?t={token}"

    def verify(self, token: str, now: datetime) -> LinkGrant:
        """What ``token`` allows at ``now``; raises :class:`LinkRefused` when it allows nothing.

        A token that was altered, signed with another secret or for another purpose is
        ``invalid``; a genuine one past its time is ``expired`` (with when).
        """
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            raise LinkRefused("invalid") from None
        if not isinstance(data, dict):
            raise LinkRefused("invalid")
        case_id, action, expires = data.get("c"), data.get("a"), data.get("e")
        recipient, via, case_round = data.get("r"), data.get("v", "link"), data.get("n")
        if (not isinstance(case_id, str) or action not in LINK_ACTIONS or not isinstance(expires, int)
                or not isinstance(recipient, str | None) or not isinstance(via, str)
                or not isinstance(case_round, int | None)):
            raise LinkRefused("invalid")
        expires_at = datetime.fromtimestamp(expires, UTC)
        if now >= expires_at:
            raise LinkRefused("expired", expires_at)
        return LinkGrant(case_id, action, expires_at, recipient, via, case_round)


def _secret(config: Config) -> str | None:
    return config.action_links.secret or os.environ.get(ENV_SECRET) or None


def links_off_reason(config: Config) -> str | None:
    """Why alerts carry no action links under ``config`` (``None``: they do)."""
    if not config.action_links.enabled:
        return "action_links.enabled is false"
    problems = []
    if config.defaults.base_url is None:
        problems.append("set defaults.public_url (where browsers reach notifier)")
    secret = _secret(config)
    if secret is None:
        problems.append(f"set {ENV_SECRET} (or action_links.secret), {MIN_SECRET} characters or more")
    elif len(secret) < MIN_SECRET:
        problems.append(f"{ENV_SECRET} is shorter than {MIN_SECRET} characters")
    return "; ".join(problems) or None


def links_for(config: Config) -> ActionLinks | None:
    """The links of ``config``, or ``None`` when it has none (see :func:`links_off_reason`)."""
    if links_off_reason(config) is not None:
        return None
    secret, base = _secret(config), config.defaults.base_url
    assert secret is not None and base is not None
    return ActionLinks(secret, base, config.action_links.expires)
