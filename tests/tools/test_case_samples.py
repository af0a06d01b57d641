"""``docs/samples/cases/`` is what ``docs/samples/make_case_samples.py`` writes today.

The script plays a week through the real API and renders each case state and the digest's
response_times and satisfaction sections; a template or API change shows in the samples' diff.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "docs" / "samples" / "make_case_samples.py"


async def test_the_samples_are_current(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFIER_API_TOKEN", raising=False)
    spec = importlib.util.spec_from_file_location("make_case_samples", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    files = await script.render()
    assert {"case-1-open.json", "case-4-reopened.json", "digest-measures-fr.html",
            "digest-measures-webhook.json"} <= set(files)
    stale = [name for name, content in files.items()
             if not (script.OUT / name).exists() or (script.OUT / name).read_text("utf-8") != content]
    assert not stale, f"run python docs/samples/make_case_samples.py: {stale} changed"
