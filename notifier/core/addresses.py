"""A visitor's email address, checked before anything uses it as an address.

The chat box is open to anyone: ``user.email`` may be a typo, two addresses separated by a
comma, or a string crafted to add a header or a Slack mention. :func:`checked_email`
parses it with ``email-validator`` (syntax only: no DNS lookup, so no network call and
no delay); internationalised addresses (``josé@exemple.fr``, ``用户@例子.公司``) are valid.

An address that fails is kept in the event as the visitor typed it, shown as text, and
never used as a ``Reply-To``, a ``mailto:`` link or a helpdesk requester.

    >>> checked_email("Marie@Example.com")
    'Marie@example.com'
    >>> checked_email("a@example.com, b@example.com") is None
    True
"""

from __future__ import annotations

from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

__all__ = ["checked_email", "email_problem"]


@lru_cache(maxsize=4096)
def _check(value: str) -> tuple[str | None, str | None]:
    try:
        info = validate_email(value, check_deliverability=False, allow_smtputf8=True,
                              allow_display_name=False, allow_quoted_local=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    return info.normalized, None


def checked_email(value: str | None) -> str | None:
    """``value`` as one valid address (domain normalised), or ``None`` when it is not one."""
    if not value or len(value) > 320:
        return None
    return _check(value)[0]


def email_problem(value: str | None) -> str | None:
    """Why ``value`` is not a usable address, in plain words (``None`` when it is one)."""
    if not value:
        return None
    if len(value) > 320:
        return "the address is longer than 320 characters"
    return _check(value)[1]
