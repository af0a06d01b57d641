"""A realistic, deterministic day of chatbot activity for digest tests and samples."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from notifier.core.events import Event

QUESTIONS: dict[str, list[str]] = yaml.safe_load(
    (Path(__file__).parents[1] / "fixtures" / "questions.yaml").read_text("utf-8"))["groups"]

#: Share of the day's user messages in each local hour: quiet nights, busy afternoons.
HOUR_WEIGHTS = [1, 1, 0, 0, 0, 1, 2, 4, 8, 11, 12, 10, 7, 9, 14, 13, 11, 9, 8, 7, 6, 5, 3, 2]

REQUESTS = [
    ("support_request", "Je veux parler à un humain, ma commande n'est jamais arrivée."),
    ("contact_request", "Pouvez-vous me rappeler au sujet de mon remboursement ?"),
    ("tool_call", "L'utilisateur signale un colis abîmé et demande un échange."),
    ("support_request", "I need help <urgently> with my invoice & VAT number"),
    ("support_request", "Mon code promo ne marche pas et je dois valider ma commande avant ce soir, "
                        "c'est urgent car l'offre expire à minuit et le panier contient huit articles."),
]


def day_events(day: date, tz: str, *, conversations: int = 40, seed: int = 7,
               sites: tuple[str, ...] = ("shop.example.com", "blog.example.com")) -> list[Event]:
    """``conversations`` conversations on local ``day``, with questions and a few requests."""
    rng = random.Random(f"{seed}:{day.isoformat()}")
    zone = ZoneInfo(tz)
    # The fixture's groups, most popular first: a few questions dominate, like in real life.
    groups = list(QUESTIONS.values())
    popularity = [max(1, 30 // (i + 1)) for i in range(len(groups))]
    midnight = datetime.combine(day, time(0), zone)
    events: list[Event] = []
    for c in range(conversations):
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        at = (midnight + timedelta(hours=hour, minutes=rng.randrange(50))).astimezone(ZoneInfo("UTC"))
        if at.astimezone(zone).date() != day:
            continue
        conv = f"{day.isoformat()}-c{c}"
        site = sites[c % len(sites)]
        events.append(Event.model_validate({
            "id": f"{conv}-start", "kind": "conversation_started", "site": site,
            "conversation_id": conv, "occurred_at": at.isoformat()}))
        for t in range(rng.randint(1, 4)):
            question = rng.choice(rng.choices(groups, popularity)[0])
            when = at + timedelta(minutes=2 * t)
            events.append(Event.model_validate({
                "id": f"{conv}-u{t}", "kind": "message", "role": "user", "site": site,
                "conversation_id": conv, "message": question, "occurred_at": when.isoformat()}))
            events.append(Event.model_validate({
                "id": f"{conv}-a{t}", "kind": "message", "role": "assistant", "site": site,
                "conversation_id": conv, "message": "Voici ce que je peux vous dire…",
                "occurred_at": (when + timedelta(seconds=20)).isoformat()}))
        if c % 9 == 4:
            kind, text = REQUESTS[(c // 9) % len(REQUESTS)]
            body: dict[str, object] = {
                "id": f"{conv}-req", "kind": kind, "site": site, "conversation_id": conv,
                "occurred_at": (at + timedelta(minutes=9)).isoformat(),
                "user": {"name": "Camille Martin", "email": "camille@example.org", "consent": False}}
            if kind == "tool_call":
                body["tool"] = {"name": "send_support_email", "arguments": {"message": text}}
            else:
                body["message"] = text
            events.append(Event.model_validate(body))
    return events
