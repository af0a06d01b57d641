"""``type: email`` settings in ``channels.yaml``, beside the adapter (:mod:`notifier.channels.email`)."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from notifier.config.common import ChannelSettings

__all__ = ["EmailChannel"]


class EmailChannel(ChannelSettings):
    """SMTP email, the primary channel. ``smtp`` unset means the built-in capture inbox."""

    type: Literal["email"]
    # Mail servers count a client's sessions, not its latency: many refuse a few parallel
    # connections ("421 Too many concurrent SMTP connections"), and hosted ones (Microsoft
    # 365, Gmail) throttle submissions per account. So an email channel does not grow to
    # ``defaults.max_concurrency``: it stays within a handful unless told otherwise.
    max_concurrency: int | None = Field(4, ge=1, le=256, description=(
        "Most SMTP sessions at once (4 unless set: mail servers limit parallel connections)."))
    to: list[str] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    bcc: list[str] = Field(default_factory=list)
    from_: str = Field("notifier <notifier@localhost>", alias="from")
    reply_to: str | None = None
    smtp: str | None = None
    subject: str | None = None
    tls_verify: bool = Field(
        True, description="Check the SMTP server's TLS certificate (turn off only for a test server)."
    )
    ca_file: str | None = Field(
        None, description="A PEM file of certificate authorities to trust for the SMTP server."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("smtp")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("smtp", "smtp+starttls", "smtps"):
            raise ValueError(
                "smtp must be a URL smtp://, smtp+starttls:// or smtps://, "
                "e.g. smtp+starttls://user:password@mail.example.com:587"
            )
        return value
