"""Small bar charts as inline SVG, computed here and drawn by a template (no script, no CDN).

:func:`hourly` buckets timed values by hour; :func:`bar_chart` turns a series into the
rectangles and labels of a chart of a given size, with the largest value reaching the top.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Bar", "Chart", "bar_chart", "hourly", "percentile"]


@dataclass(frozen=True)
class Bar:
    """One bar: its box, its value and what it stands for (shown as a tooltip and to screen readers)."""

    x: float
    y: float
    width: float
    height: float
    value: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A chart's bars, its size and the largest value (the top of its scale)."""

    bars: list[Bar]
    width: int
    height: int
    top: float
    unit: str


def hourly(times: Iterable[tuple[datetime, float]], end: datetime, hours: int = 24) -> list[list[float]]:
    """Values grouped by the hour they fall in, over the ``hours`` hours before ``end`` (oldest first)."""
    start = end - timedelta(hours=hours)
    buckets: list[list[float]] = [[] for _ in range(hours)]
    for at, value in times:
        i = int((at - start).total_seconds() // 3600)
        if 0 <= i < hours:
            buckets[i].append(value)
    return buckets


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by nearest rank; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def bar_chart(values: list[float], labels: list[str], *, unit: str = "", width: int = 480,
              height: int = 120) -> Chart:
    """Bars for ``values`` side by side, scaled to the largest, leaving 14 px below for labels."""
    top = max(values, default=0.0) or 1.0
    plot = height - 14
    step = width / max(1, len(values))
    bars = [Bar(round(i * step + 1, 1), round(plot - v / top * plot, 1), round(max(step - 2, 1), 1),
                round(v / top * plot, 1), v, label) for i, (v, label) in enumerate(zip(values, labels, strict=True))]
    return Chart(bars, width, height, max(values, default=0.0), unit)
