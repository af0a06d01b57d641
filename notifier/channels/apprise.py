"""``type: apprise``: any of Apprise's 100+ services (Discord, Telegram, ntfy, PagerDuty…).

Apprise's own retries are left off so that ours (stored, visible, surviving restarts)
govern. Each URL is its own target: on a retry, URLs that already succeeded are not
notified again, and the failure reason is recorded per URL (its number and scheme,
never its secrets: Apprise's own "privacy" form still shows paths that are tokens).
"""

from __future__ import annotations

from typing import Any

import apprise as apprise_lib

from notifier.channels.apprise_config import AppriseChannel
from notifier.channels.base import ChannelContext, Outbound, Report, SendResult, retryable, sent
from notifier.channels.http import mask_url, redact, url_secrets
from notifier.channels.inert import header_text, no_mentions
from notifier.render import view

__all__ = ["AppriseTarget", "create", "preview"]


class AppriseTarget:
    """Sends a rendered title and body to a list of Apprise URLs."""

    type = "apprise"

    def __init__(self, name: str, config: AppriseChannel, ctx: ChannelContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.locale = config.locale or ctx.defaults.locale

    def render(self, message: Outbound) -> tuple[str, str]:
        """The title and body for ``message``."""
        context = view(message, self.ctx.defaults, self.locale,
                       link=self.ctx.link(message.event.id or ""))
        title = self.ctx.renderer.render("apprise", "title", self.locale, "txt", context).strip()
        body = self.ctx.renderer.render("apprise", "body", self.locale, "txt", context).strip()
        # No service may read a visitor's "@everyone" or "<@123>" as a ping (see inert.py).
        return no_mentions(header_text(title)), no_mentions(body)

    @staticmethod
    def _instance(url: str) -> apprise_lib.Apprise | None:
        asset = apprise_lib.AppriseAsset()
        asset.default_service_retry = 0
        app = apprise_lib.Apprise(asset=asset)
        return app if app.add(url) else None

    async def _notify(self, title: str, body: str, done: list[int]) -> SendResult:
        failures: list[str] = []
        secrets: list[str] = []
        now_done = list(done)
        invalid = 0
        for index, url in enumerate(self.config.urls):
            if index in done:
                continue
            app = self._instance(url)
            if app is None:
                invalid += 1
                failures.append(f"url #{index + 1}: Apprise does not recognise this URL")
                continue
            # ``text``: Apprise escapes it for each service's own format (Markdown, HTML);
            # mentions, which it does not stop, were broken by render() / send_report().
            result: Any = await app.async_notify(body=body, title=title,
                                                 body_format=apprise_lib.NotifyFormat.TEXT,
                                                 timeout=self.config.timeout.total_seconds())
            if result:
                now_done.append(index)
                continue
            secrets += url_secrets(url)
            failures.append(f"url #{index + 1} ({mask_url(url)}): {self._why(result)}")
        if not failures:
            return sent(reason=f"{len(self.config.urls)} URL(s) notified")
        reason = redact("; ".join(failures), secrets)
        if invalid == len(self.config.urls) - len(done):
            from notifier.channels.base import permanent

            return permanent(reason, label="invalid_url")
        # Apprise reports failures as log text, not status codes: retry them all, and
        # let the retry policy turn a lasting failure into a visible dead letter.
        return retryable(reason, label="apprise", progress={"done": sorted(now_done)})

    @staticmethod
    def _why(result: Any) -> str:
        messages = []
        try:
            for entry in result.logs():
                if entry.level in ("WARNING", "ERROR", "CRITICAL"):
                    messages.append(entry.message)
        except Exception:  # older result objects carry no logs
            pass
        return " | ".join(messages[-3:]) or "notification failed"

    async def send(self, message: Outbound) -> SendResult:
        title, body = self.render(message)
        done = [int(i) for i in message.progress.get("done", [])]
        return await self._notify(title, body, done)

    async def send_report(self, report: Report) -> SendResult:
        return await self._notify(no_mentions(report.title), no_mentions(report.text), [])

    async def aclose(self) -> None:
        return None


def create(name: str, config: AppriseChannel, ctx: ChannelContext) -> AppriseTarget:
    """The Apprise adapter for one configured channel."""
    return AppriseTarget(name, config, ctx)


def preview(channel: AppriseTarget, message: Outbound) -> str:
    """The title and body the channel would send."""
    title, body = channel.render(message)
    return f"{title}\n\n{body}"
