"""The ``auth:`` section of ``channels.yaml``: who may call the API, for what and which sites.

Example::

    auth:
      metrics_public: false          # true: /metrics answers without a token (a scraper on the LAN)
      tokens:
        - name: shop-chatbot
          secret: "sha256:9f86d08…"  # `notifier token new` prints a token and this line
          scopes: [events:write]     # events:write, read, admin
          sites: [shop.example.com]  # optional: only these sites
          hmac_secret: "${SHOP_HMAC_SECRET}"   # optional: bodies must be signed

Only the SHA-256 of a token is stored: tokens made by ``notifier token new`` carry 256 random
bits, so a fast hash is as safe as a slow password hash and costs nothing per request.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["SCOPES", "AuthConfig", "Scope", "TokenConfig"]

Scope = Literal["events:write", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("events:write", "read", "admin")

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


class TokenConfig(BaseModel):
    """One API token: its name (shown in logs and errors), its hash, what it may do and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    secret: str = Field(description="sha256:<64 hex digits> of the token, as printed by `notifier token new`.")
    scopes: list[Scope] = Field(min_length=1, description="events:write (post events), read (GET), admin (all).")
    sites: list[str] | None = Field(
        None, min_length=1, description="Only events of these sites may be posted or read with this token."
    )
    hmac_secret: str | None = Field(
        None, min_length=16,
        description="When set, every POST /v1/events with this token must carry X-Notifier-Timestamp "
        "and X-Notifier-Signature (v1=hex HMAC-SHA256 of '<timestamp>.<body>').",
    )

    @field_validator("secret")
    @classmethod
    def _hashed(cls, value: str) -> str:
        value = value.strip()
        if not _SHA256.match(value):
            raise ValueError(
                "secret must be the token's hash, sha256:<64 lowercase hex digits>, never the token itself "
                "(`notifier token new` prints both)"
            )
        return value


class AuthConfig(BaseModel):
    """API access: tokens with scopes and sites; whether ``/metrics`` is open to all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[TokenConfig] = Field(default_factory=list)
    metrics_public: bool = Field(False, description="Serve /metrics without a token even when tokens exist.")

    @model_validator(mode="after")
    def _unique(self) -> AuthConfig:
        names = [t.name for t in self.tokens]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"token names must be unique: {', '.join(map(repr, dup))} used more than once")
        secrets = [t.secret for t in self.tokens]
        if len(set(secrets)) != len(secrets):
            raise ValueError("two tokens have the same secret: give each client its own token")
        return self
