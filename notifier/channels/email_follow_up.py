"""The email telling the team, in its alert's thread, that someone claimed, resolved or reopened the case.

"Pris en charge par Marie à 14:05 (depuis Slack)": a reply whose ``In-Reply-To`` names the
case's latest alert on the channel and whose ``References`` hold the whole thread, so mail
clients show it under the alert. Its ``Message-ID`` depends on the follow-up alone: a retry
is the same mail. It carries the action links that fit the case now ("Résolu" once claimed).
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

from notifier.channels.case_text import action_text
from notifier.channels.inert import header_text
from notifier.core.follow_up import FollowUp

if TYPE_CHECKING:
    from notifier.channels.email import EmailTarget

__all__ = ["compose_follow_up"]


def compose_follow_up(channel: EmailTarget, follow_up: FollowUp) -> EmailMessage:
    """The reply for ``follow_up`` on ``channel`` (templates ``email/follow_up.*``)."""
    first, last = follow_up.targets[0], follow_up.targets[-1]
    request = channel.context(last.message)
    tz = channel.ctx.defaults.timezone
    sentence = action_text(follow_up.action, follow_up.actor, follow_up.via, follow_up.at, channel.locale, tz)
    # The request's own state line would repeat (or contradict) the sentence: left out.
    context = {**request, **channel.case_context(follow_up.case), "sentence": sentence,
               "note": follow_up.note, "case_state": None, "follow_up_action": follow_up.action}
    original = channel.subject(last.message, request)
    subject = header_text(original if original.lower().startswith("re:") else f"Re: {original}")
    context["subject"] = subject
    render = channel.ctx.renderer.render
    text = render("email", "follow_up", channel.locale, "txt", context)
    html = render("email", "follow_up", channel.locale, "html", context)
    msg = channel._envelope(subject, channel.message_id(follow_up.delivery_id),
                            {"X-Notifier-Kind": "follow_up", "X-Notifier-Case": follow_up.case.id},
                            channel.config.reply_to)
    thread = [r for r in dict.fromkeys([first.thread_ref, *(t.ref for t in follow_up.targets)]) if r]
    if thread:
        msg["In-Reply-To"] = last.ref or thread[-1]
        msg["References"] = " ".join(thread)
    channel._body(msg, text, html)
    return msg
