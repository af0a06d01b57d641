"""Write ``docs/samples/cases/``: a case in each state, and the digest's response_times and satisfaction.

Run from the repository: ``python docs/samples/make_case_samples.py`` (``--check`` compares
instead of writing; the test suite runs that). Nothing here is written by hand: a week of
a small support team is played through the real API (cases, claims, resolutions, a user
writing again, feedback ratings) on a temporary SQLite database with a fixed clock, then
each state is read back with ``GET /v1/cases/{id}``, drawn as Slack shows it on the alert,
and the week's digest is rendered in every form (email text and HTML, Slack, Teams,
webhook JSON), in French and English. Generated ids are replaced by stable names.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "cases"

CONFIG = """
version: 1
defaults:
  timezone: Europe/Paris
  locale: fr
  business_hours: {days: [mon, tue, wed, thu, fri], hours: "09:00-18:00"}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}
routes:
  - name: handoff
    match: {kinds: [support_request, contact_request, tool_call]}
    to: [hook]
    response_target: 2h
digests:
  - name: weekly
    schedule: "0 8 * * 1"
    to: [hook]
    locale: LOCALE
    sections: [totals, support_requests, response_times, satisfaction]
"""

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris
MIN = timedelta(minutes=1)


class Clock:
    """The service's clock, moved by the scenario."""

    def __init__(self) -> None:
        self.now = MONDAY

    def __call__(self) -> datetime:
        return self.now


def _stable(files: dict[str, str]) -> dict[str, str]:
    """Every generated id (32 hex digits) replaced by ``id-N``, numbered by first appearance."""
    names: dict[str, str] = {}

    def name(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"id-{len(names) + 1:02d}")

    return {k: re.sub(r"\b[0-9a-f]{32}\b", name, v) for k, v in sorted(files.items())}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


async def render() -> dict[str, str]:
    """Play the week and return ``{file name: content}``."""
    import httpx

    from notifier.api import create_app
    from notifier.channels.slack_case import case_blocks, reply_text
    from notifier.config.loader import parse_config
    from notifier.core.digest import period_for_date
    from notifier.core.follow_up import CaseState
    from notifier.digest import DigestScheduler
    from notifier.service import Service

    files: dict[str, str] = {}
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "channels.yaml"
        path.write_text(CONFIG.replace("LOCALE", "fr"), encoding="utf-8")
        service = Service(path, f"sqlite:///{tmp}/notifier.db", clock=clock, capture=False)
        await service.store.open()
        try:
            transport = httpx.ASGITransport(app=create_app(service, manage=False))
            async with httpx.AsyncClient(transport=transport, base_url="http://notifier") as api:
                async def post(event: dict[str, Any], minutes: float) -> dict[str, Any]:
                    clock.now = MONDAY + minutes * MIN
                    answer = await api.post("/v1/events", json=event)
                    assert answer.status_code == 202, answer.text
                    return dict(answer.json())

                async def action(case_id: str, verb: str, minutes: float, **body: str) -> None:
                    clock.now = MONDAY + minutes * MIN
                    answer = await api.post(f"/v1/cases/{case_id}/{verb}", json=body)
                    assert answer.status_code == 200, answer.text

                async def state(case_id: str, name: str, action_taken: str | None, via: str | None) -> None:
                    case = (await api.get(f"/v1/cases/{case_id}")).json()
                    view = {k: case[k] for k in ("id", "status", "round", "site", "opened_at", "round_opened_at",
                                                 "expected_response_at", "claimed_by", "claimed_at", "resolved_by",
                                                 "resolved_at", "note")}
                    view["timings"] = case["timings"]
                    view["satisfaction"] = case["satisfaction"]
                    view["actions"] = case["actions"]
                    files[f"case-{name}.json"] = _json(view)
                    cs = CaseState(case["id"], case["status"], case["claimed_by"], _time(case["claimed_at"]),
                                   case["resolved_by"], _time(case["resolved_at"]), case["note"])
                    slack: dict[str, Any] = {"blocks": case_blocks(cs, "fr", "Europe/Paris", buttons=True, via=via)}
                    if action_taken is not None:
                        last = case["actions"][-1]
                        slack["thread_reply"] = reply_text(last["action"], last["actor"], last["via"],
                                                           _time(last["at"]) or clock.now, last["note"], "fr",
                                                           "Europe/Paris")
                    files[f"case-{name}-slack.json"] = _json(slack)

                # Marie's case, through every state.
                first = await post({"kind": "tool_call", "site": "shop.example.com", "tool": {
                    "name": "send_support_email", "arguments": {
                        "message": "Ma commande n'est pas arrivée, pouvez-vous me rappeler ?", "name": "Julie",
                        "email": "julie@example.com", "conversation_id": "conv-julie", "locale": "fr"}}}, 0)
                case = first["case"]["id"]
                files["tool-call-answer.json"] = _json({"event": first["id"], "case": first["case"]})
                await state(case, "1-open", None, None)
                await action(case, "claim", 25, by="marie")
                await state(case, "2-claimed", "claim", "api")
                await action(case, "resolve", 70, by="marie", note="Colis relancé, livraison demain")
                await state(case, "3-resolved", "resolve", "api")
                await post({"kind": "feedback", "site": "shop.example.com", "conversation_id": "conv-julie",
                            "rating": 5, "message": "Merci !"}, 80)
                await post({"kind": "message", "role": "user", "site": "shop.example.com",
                            "conversation_id": "conv-julie", "message": "Toujours rien reçu…"}, 26 * 60)
                await state(case, "4-reopened", None, None)

                # The rest of the week, for the digest.
                other = (await post({"kind": "support_request", "site": "blog.example.com",
                                     "conversation_id": "conv-b", "message": "Besoin d'aide"}, 7 * 60 + 30))["case"]
                await action(other["id"], "claim", 23 * 60 + 30, by="paul")  # the next morning, 09:30
                await action(other["id"], "resolve", 24 * 60 + 30, by="paul")
                await post({"kind": "feedback", "site": "blog.example.com", "conversation_id": "conv-b",
                            "rating": 3}, 25 * 60)
                late = (await post({"kind": "contact_request", "site": "shop.example.com",
                                    "conversation_id": "conv-c", "message": "Rappelez-moi"}, 2 * 60))["case"]
                await action(late["id"], "resolve", 6 * 60, by="paul")
                await post({"kind": "support_request", "site": "shop.example.com", "conversation_id": "conv-d",
                            "message": "Personne ?"}, 3 * 24 * 60)  # nobody takes it: overdue
                await post({"kind": "feedback", "site": "shop.example.com", "conversation_id": "conv-bot",
                            "rating": 4}, 3 * 24 * 60)
            for locale in ("fr", "en"):
                config = parse_config(CONFIG.replace("LOCALE", locale), "channels.yaml")
                digest = config.digests[0]
                period = period_for_date(digest.schedule, ZoneInfo("Europe/Paris"), MONDAY.date())
                scheduler = DigestScheduler(config, service.store, {}, service.renderer, "samples")
                report = scheduler.report(digest, period, await scheduler.stats(digest, period))
                files[f"digest-measures-{locale}.txt"] = f"Subject: {report.title}\n\n{report.text}"
                files[f"digest-measures-{locale}.html"] = report.html or ""
                files[f"digest-measures-slack-{locale}.json"] = _json(report.blocks)
                files[f"digest-measures-teams-{locale}.json"] = _json(report.card)
                if locale == "en":
                    files["digest-measures-webhook.json"] = _json(report.data)
        finally:
            await service.store.close()
    return _stable(files)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def main(argv: list[str]) -> int:
    """Write the samples (or, with ``--check``, say which differ)."""
    files = asyncio.run(render())
    if "--check" in argv:
        stale = [n for n, c in files.items() if not (OUT / n).exists() or (OUT / n).read_text("utf-8") != c]
        for name in stale:
            print(f"docs/samples/cases/{name} is not current: run python docs/samples/make_case_samples.py")
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (OUT / name).write_text(content, encoding="utf-8")
    print(f"wrote {len(files)} files to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
