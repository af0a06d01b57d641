"""What digest templates receive: the statistics shaped for reading, in a locale.

Pure: dates are formatted in the digest's time zone, numbers in the locale's style, the
peak-hour chart is computed here once (bar widths for email, block characters for chat),
so every template (email text and HTML, Slack, Teams) shows the same figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notifier.core.digest import DigestStats, Period, busiest_hour, change, spark
from notifier.core.events import event_link
from notifier.core.measures import AnswerTimes, Group, ResponseTimes, Satisfaction, duration_text
from notifier.core.text import one_line

__all__ = ["WORDS", "digest_view"]

WORDS: dict[str, dict[str, Any]] = {
    "fr": {
        "days": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
        "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                   "septembre", "octobre", "novembre", "décembre"],
        "conversations": "Conversations",
        "user_messages": "Messages des utilisateurs",
        "support_requests": "Demandes de support",
        "contact_requests": "Demandes de contact",
        "keyword_alerts": "Alertes mots-clés",
        "support_request": "Support",
        "contact_request": "Contact",
        "tool_call": "Support (outil)",
        "new": "nouveau",
        "thousands": "\u202f",
        "from_to": "du {a} au {b}",
        "purged": "Supprimés par la purge de rétention : {rows}",
        "purged_rows": {"events": "événements", "deliveries": "envois", "cases": "dossiers"},
    },
    "en": {
        "days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "months": ["January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December"],
        "conversations": "Conversations",
        "user_messages": "User messages",
        "support_requests": "Support requests",
        "contact_requests": "Contact requests",
        "keyword_alerts": "Keyword alerts",
        "support_request": "Support",
        "contact_request": "Contact",
        "tool_call": "Support (tool)",
        "new": "new",
        "thousands": ",",
        "from_to": "{a} to {b}",
        "purged": "Removed by the retention purge: {rows}",
        "purged_rows": {"events": "events", "deliveries": "deliveries", "cases": "cases"},
    },
}

_TOTALS = ("conversations", "user_messages", "support_requests", "contact_requests", "keyword_alerts")


def _num(value: int, words: dict[str, Any]) -> str:
    return f"{value:,}".replace(",", words["thousands"])


def _purged(rows: dict[str, int], words: dict[str, Any]) -> str:
    """``Removed by the retention purge: 1,200 events, 3,400 deliveries`` (empty when nothing was)."""
    parts = [f"{_num(rows[t], words)} {label}" for t, label in words["purged_rows"].items() if rows.get(t)]
    return words["purged"].format(rows=", ".join(parts)) if parts else ""


def _day(d: datetime, words: dict[str, Any]) -> str:
    return f"{words['days'][d.weekday()]} {d.day} {words['months'][d.month - 1]} {d.year}"


def period_label(period: Period, tz: ZoneInfo, locale: str) -> str:
    """``samedi 28 mars 2026`` for one day, a range otherwise."""
    words = WORDS.get(locale, WORDS["en"])
    start, end = period.start.astimezone(tz), period.end.astimezone(tz)
    if period.whole_days:
        last = (end - timedelta(hours=12)).replace(hour=0)
        if last.date() == start.date():
            return _day(start, words)
        return str(words["from_to"]).format(a=start.strftime("%d/%m/%Y"), b=last.strftime("%d/%m/%Y"))
    fmt = "%d/%m/%Y %H:%M"
    return str(words["from_to"]).format(a=start.strftime(fmt), b=end.strftime(fmt))


def _change_text(c: dict[str, Any], words: dict[str, Any]) -> str:
    if c["previous"] is None:
        return ""
    if c["delta"] == 0:
        return "="
    sign = "+" if c["delta"] > 0 else "−"
    text = f"{c['arrow']} {sign}{_num(abs(c['delta']), words)}"
    if c["percent"] is None:
        return f"{text} ({words['new']})"
    space = "\u202f" if words is WORDS["fr"] else ""
    return f"{text} ({sign}{abs(c['percent'])}{space}%)"


def _percent(share: float | None, words: dict[str, Any]) -> str:
    if share is None:
        return "—"
    return f"{round(share * 100)}\u202f%" if words is WORDS["fr"] else f"{round(share * 100)}%"


def _decimal(value: float | None, words: dict[str, Any]) -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return text.replace(".", ",") if words is WORDS["fr"] else text


def _times(t: AnswerTimes, locale: str) -> dict[str, Any]:
    return {"count": t.count, "mean": duration_text(t.mean, locale), "longest": duration_text(t.longest, locale),
            "late": t.late}


def _groups(groups: list[Group], locale: str, top: int = 10) -> list[dict[str, Any]]:
    return [{"key": one_line(g.key), "claimed": _times(g.claimed, locale), "resolved": _times(g.resolved, locale)}
            for g in groups[:top]]


def response_view(r: ResponseTimes | None, locale: str, zone: ZoneInfo,
                  event_url: str | None = None) -> dict[str, Any] | None:
    """The ``response_times`` section for templates (``None``: nothing to show)."""
    if r is None or r.empty:
        return None
    words = WORDS.get(locale, WORDS["en"])
    return {
        "business_hours": r.business_hours,
        "claimed": _times(r.claimed, locale), "resolved": _times(r.resolved, locale),
        "opened": r.opened, "opened_resolved": r.opened_resolved, "rate": _percent(r.resolution_rate, words),
        "sites": _groups(r.per_site, locale), "agents": _groups(r.per_agent, locale),
        "overdue": r.overdue, "overdue_more": max(0, r.overdue - len(r.overdue_cases)),
        "overdue_cases": [{"id": o.id, "site": one_line(o.site),
                           "opened": o.opened_at.astimezone(zone).strftime("%d/%m %H:%M"),
                           "expected": o.expected_at.astimezone(zone).strftime("%d/%m %H:%M")}
                          for o in r.overdue_cases],
    }


def satisfaction_view(s: Satisfaction | None, locale: str) -> dict[str, Any] | None:
    """The ``satisfaction`` section for templates (``None``: no rating in the period)."""
    if s is None or s.empty:
        return None
    words = WORDS.get(locale, WORDS["en"])
    top = max(s.distribution.values())
    return {
        "count": s.count, "mean": _decimal(s.mean, words), "satisfied": _percent(s.satisfied, words),
        "ratings": [{"rating": r, "count": n, "width": round(n * 100 / top) if top else 0,
                     "stars": "★" * r + "☆" * (5 - r)} for r, n in sorted(s.distribution.items(), reverse=True)],
        "agents": [{"agent": one_line(a.agent), "count": a.count, "mean": _decimal(a.mean, words)}
                   for a in s.per_agent[:10]],
        "without_agent": s.without_agent,
    }


def digest_view(stats: DigestStats, *, name: str, sections: list[str], locale: str, tz: str,
                period: Period, event_url: str | None, bot_name: str = "") -> dict[str, Any]:
    """The context of every digest template."""
    zone = ZoneInfo(tz)
    words = WORDS.get(locale, WORDS["en"])
    totals = []
    for key in _TOTALS:
        value = getattr(stats.totals, key)
        prev = getattr(stats.previous, key) if stats.previous is not None else None
        c = change(value, prev)
        totals.append({"key": key, "label": words[key], "value": value, "text": _num(value, words),
                       "change": _change_text(c, words), **{k: c[k] for k in ("delta", "percent")}})
    top = max(stats.hourly, default=0)
    hours = [{"hour": h, "label": f"{h:02d}h" if locale == "fr" else f"{h:02d}:00", "count": n,
              "text": _num(n, words), "width": round(n * 100 / top) if top else 0}
             for h, n in enumerate(stats.hourly)]
    peak = busiest_hour(stats.hourly)
    support = [{
        "id": s.id, "kind": s.kind, "kind_label": words.get(s.kind, s.kind), "site": one_line(s.site),
        "time": s.occurred_at.astimezone(zone).strftime("%H:%M" if period.whole_days and
                                                        (period.end - period.start) <= timedelta(hours=25)
                                                        else "%d/%m %H:%M"),
        "excerpt": s.excerpt, "link": event_link(event_url, s.id),
    } for s in stats.support]
    return {
        "name": name,
        "bot_name": bot_name,
        "locale": locale,
        "timezone": tz,
        "site": stats.site,
        "period": period_label(period, zone, locale),
        "start": period.start.astimezone(zone).isoformat(),
        "end": period.end.astimezone(zone).isoformat(),
        "sections": list(sections),
        "empty": stats.empty,
        "totals": totals,
        "questions": [{"rank": i, "example": q.example, "count": q.count, "text": _num(q.count, words)}
                      for i, q in enumerate(stats.questions, 1)],
        "support": support,
        "support_total": stats.support_total,
        "support_more": max(0, stats.support_total - len(support)),
        "hours": hours,
        "spark": spark(stats.hourly),
        "peak": None if peak is None else {
            "hour": peak, "label": f"{peak:02d}:00–{(peak + 1) % 24:02d}:00",
            "count": stats.hourly[peak], "text": _num(stats.hourly[peak], words)},
        "health": {k: _num(v, words) for k, v in stats.to_json()["delivery_health"].items() if k != "purged"},
        "purged": _purged(stats.health.purged, words),
        "health_ok": stats.health.dead == 0 and stats.health.dead_waiting == 0,
        "response": response_view(stats.response_times, locale, zone),
        "satisfaction": satisfaction_view(stats.satisfaction, locale),
    }
