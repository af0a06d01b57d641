"""How well the team answers: times to claim and resolve, resolution rate, satisfaction.

Pure: the store counts (per site and agent, in the database), this module adds the groups
up and says it for people. Times are seconds of business hours when the response target
counts business hours (``defaults.response_clock``), wall-clock seconds otherwise, so the
figures compare with the target the user was promised.

>>> t = AnswerTimes.of([(2, 600.0, 900.0, 0), (1, 3000.0, 3000.0, 1)])
>>> t.count, t.mean, t.longest, t.late
(3, 1400.0, 3000.0, 1)
>>> duration_text(5400, "fr"), duration_text(5400, "en"), duration_text(42, "en")
('1 h 30', '1 h 30 min', '< 1 min')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["RATINGS", "AgentRating", "AnswerTimes", "Group", "Overdue", "ResponseTimes", "Satisfaction",
           "duration_text"]

#: The ratings a ``feedback`` event may give (its ``rating`` field).
RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class AnswerTimes:
    """How many cases were claimed (or resolved), how long they waited on average and at most."""

    count: int = 0
    mean: float | None = None
    longest: float | None = None
    #: Claimed (or resolved) after the time the user was told to expect an answer.
    late: int = 0

    @classmethod
    def of(cls, parts: Iterable[tuple[int, float | None, float | None, int]]) -> AnswerTimes:
        """The sum of groups given as ``(count, mean, longest, late)``."""
        rows = [p for p in parts if p[0]]
        n = sum(p[0] for p in rows)
        if not n:
            return cls()
        total = sum(p[0] * (p[1] or 0.0) for p in rows)
        return cls(n, round(total / n, 3), max(p[2] or 0.0 for p in rows), sum(p[3] for p in rows))


@dataclass(frozen=True)
class Group:
    """The times of one site or one agent."""

    key: str
    claimed: AnswerTimes
    resolved: AnswerTimes


@dataclass(frozen=True)
class Overdue:
    """A case nobody has claimed although its expected answer time has passed."""

    id: str
    site: str
    opened_at: datetime
    expected_at: datetime


@dataclass
class ResponseTimes:
    """The ``response_times`` section of a digest."""

    business_hours: bool
    claimed: AnswerTimes = field(default_factory=AnswerTimes)
    resolved: AnswerTimes = field(default_factory=AnswerTimes)
    per_site: list[Group] = field(default_factory=list)
    per_agent: list[Group] = field(default_factory=list)
    #: Case rounds opened in the period, and how many of those are resolved now.
    opened: int = 0
    opened_resolved: int = 0
    #: Unclaimed cases past their expected time at the end of the period (the oldest listed).
    overdue: int = 0
    overdue_cases: list[Overdue] = field(default_factory=list)

    @property
    def resolution_rate(self) -> float | None:
        """Of the cases opened in the period, the share resolved (``None`` when none opened)."""
        return round(self.opened_resolved / self.opened, 4) if self.opened else None

    @property
    def empty(self) -> bool:
        return not (self.claimed.count or self.resolved.count or self.opened or self.overdue)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the webhook form of the digest, ``GET`` answers)."""
        def group(g: Group) -> dict[str, Any]:
            return {"key": g.key, "claimed": asdict(g.claimed), "resolved": asdict(g.resolved)}

        return {
            "clock": "business_hours" if self.business_hours else "wall",
            "claimed": asdict(self.claimed), "resolved": asdict(self.resolved),
            "per_site": [group(g) for g in self.per_site], "per_agent": [group(g) for g in self.per_agent],
            "opened": self.opened, "opened_resolved": self.opened_resolved,
            "resolution_rate": self.resolution_rate, "overdue": self.overdue,
            "overdue_cases": [{"id": o.id, "site": o.site, "opened_at": o.opened_at.isoformat(),
                               "expected_at": o.expected_at.isoformat()} for o in self.overdue_cases],
        }


@dataclass(frozen=True)
class AgentRating:
    """The ratings of the cases one agent answered."""

    agent: str
    count: int
    mean: float


@dataclass
class Satisfaction:
    """The ``satisfaction`` section: ratings (1 to 5) users gave in the period."""

    #: rating -> how many times it was given.
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(RATINGS, 0))
    per_agent: list[AgentRating] = field(default_factory=list)
    #: Ratings of conversations without a case (the bot alone answered), or of cases nobody had taken.
    without_agent: int = 0

    @property
    def count(self) -> int:
        return sum(self.distribution.values())

    @property
    def mean(self) -> float | None:
        n = self.count
        return round(sum(r * c for r, c in self.distribution.items()) / n, 2) if n else None

    @property
    def satisfied(self) -> float | None:
        """The share of ratings of 4 or 5."""
        n = self.count
        return round((self.distribution[4] + self.distribution[5]) / n, 4) if n else None

    @property
    def empty(self) -> bool:
        return self.count == 0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"count": self.count, "mean": self.mean, "satisfied": self.satisfied,
                "distribution": {str(k): v for k, v in self.distribution.items()},
                "per_agent": [asdict(a) for a in self.per_agent], "without_agent": self.without_agent}


def duration_text(seconds: float | None, locale: str) -> str:
    """``45 min``, ``2 h 05`` (fr) or ``2 h 5 min`` (en), ``3 j 4 h`` / ``3 d 4 h``: a wait, said briefly."""
    if seconds is None:
        return "—"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    fr = locale.split("-")[0].lower() == "fr"
    if hours < 24:
        if not rest:
            return f"{hours} h"
        return f"{hours} h {rest:02d}" if fr else f"{hours} h {rest} min"
    days, hours = divmod(hours, 24)
    return f"{days} {'j' if fr else 'd'} {hours} h" if hours else f"{days} {'j' if fr else 'd'}"
