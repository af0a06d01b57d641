"""``docs/samples/digest-*``: the digest as people receive it, for a fixture day.

``NOTIFIER_WRITE_SAMPLES=1 pytest tests/digest/test_samples.py`` writes them; otherwise
the test checks they are current (a template change shows in the samples' diff).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.core.digest import period_for_date
from notifier.digest import DigestScheduler
from notifier.render import Renderer
from notifier.store import Store
from tests.digest.conftest import add, make_config
from tests.digest.fixture_day import day_events

SAMPLES = Path(__file__).parents[2] / "docs" / "samples"
DAY = date(2026, 3, 11)


@pytest.mark.parametrize("locale", ["fr", "en"])
async def test_samples_are_current(store: Store, locale: str) -> None:
    if not store.url.startswith("sqlite"):
        pytest.skip("the samples are written from the default store (examples may differ by backend)")
    config = make_config(f"  - {{name: sample, to: [hook], locale: {locale}}}\n")
    accepted_at = datetime(2026, 3, 12, 7, 0, tzinfo=UTC)
    for day in (date(2026, 3, 10), DAY):
        await add(store, config, day_events(day, "Europe/Paris", conversations=120), now=accepted_at)
    scheduler = DigestScheduler(config, store, {}, Renderer(), "samples")
    digest = config.digests[1]
    period = period_for_date(digest.schedule, ZoneInfo("Europe/Paris"), DAY)
    report = scheduler.report(digest, period, await scheduler.stats(digest, period))
    files = {
        f"digest-{locale}.txt": f"Subject: {report.title}\n\n{report.text}",
        f"digest-{locale}.html": report.html or "",
        f"digest-slack-{locale}.json": json.dumps(report.blocks, ensure_ascii=False, indent=2) + "\n",
    }
    if os.environ.get("NOTIFIER_WRITE_SAMPLES") == "1":
        SAMPLES.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (SAMPLES / name).write_text(content, encoding="utf-8")
    for name, content in files.items():
        path = SAMPLES / name
        assert path.exists(), f"{path} is missing: run with NOTIFIER_WRITE_SAMPLES=1"
        assert path.read_text(encoding="utf-8") == content, \
            f"{path} is out of date: run NOTIFIER_WRITE_SAMPLES=1 pytest {__file__}"
