"""The ``cors:`` section of ``channels.yaml``: web pages allowed to post events from the browser.

Events are best posted by the site's server, where the token stays secret. A site that
must post from the visitor's browser lists its origins here and gives the page a token
bound to that site with only the ``events:write`` scope (any other token is refused when
it comes from one of these origins)::

    cors:
      origins: [https://shop.example.com, https://www.shop.example.com]
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["CorsConfig"]

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


class CorsConfig(BaseModel):
    """Origins (``https://host[:port]``) whose pages may ``POST /v1/events`` from the browser."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origins: list[str] = Field(
        default_factory=list,
        description="Exact origins such as https://shop.example.com (scheme, host, optional port; "
        "no path, no wildcard). Empty: no browser may post.",
    )

    @field_validator("origins")
    @classmethod
    def _exact(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"invalid origin {origin!r}: write the scheme and host as the browser sends them, "
                    "e.g. https://shop.example.com (no path, no trailing slash, no wildcard)"
                )
        return value
