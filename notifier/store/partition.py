"""Partitioned claims: several workers share the deliveries without fighting over the same rows.

With ``notifier serve --workers N`` (or ``notifier worker --partition I/N``) each worker
claims the deliveries whose id hashes to its own index first. The hash is computed by
the database from the id's last two characters (ids are random hex), the same way on
SQLite and PostgreSQL and in :meth:`Partition.owns`, so the share needs no new column
and no coordination.

Nothing is stranded when a worker dies: a delivery of another partition that is still
unclaimed ``steal_after`` past its due time is anyone's (its owner is dead or far
behind), and a dead worker's claims return to the queue when their lease ends, as
always. A partition is a preference, not a lock: exactly-once is still the claim's
conditional ``UPDATE`` (SQLite's single writer, PostgreSQL's ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Partition", "partition_sql", "shares_claims"]

def shares_claims(db_url: str) -> bool:
    """Whether the workers on ``db_url`` each claim their own share first (``--partition I/N``).

    PostgreSQL: yes, so they do not fight over the same rows. SQLite: no, every worker claims
    whatever is due first. Its single write lock already makes claims take turns, so they
    never fight over rows, and a share would wait for its own worker: one still starting,
    or one busy while another idles.
    """
    return not db_url.startswith("sqlite:")


#: How long past its due time another partition's delivery waits for its owner.
DEFAULT_STEAL_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Partition:
    """Worker ``index`` of ``count`` (``0 <= index < count``)."""

    index: int
    count: int
    #: Another partition's unclaimed delivery this long overdue is taken over.
    steal_after: timedelta = DEFAULT_STEAL_AFTER

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index}/{self.count}: the index must be in 0..{self.count - 1}")

    @classmethod
    def parse(cls, text: str, steal_after: timedelta = DEFAULT_STEAL_AFTER) -> Partition:
        """``"1/4"`` -> the second of four partitions."""
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"{text!r}: a partition is INDEX/COUNT, e.g. 0/2")
        return cls(int(index), int(count), steal_after)

    def owns(self, delivery_id: str) -> bool:
        """Whether ``delivery_id`` is in this partition (what the databases compute)."""
        return shard_of(delivery_id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(delivery_id: str, count: int) -> int:
    """The partition of ``delivery_id`` among ``count``: its last character's code plus 31 times the one before."""
    last = ord(delivery_id[-1]) if delivery_id else 0
    before = ord(delivery_id[-2]) if len(delivery_id) >= 2 else last
    return (last + 31 * before) % count


def partition_sql(dialect: str, count: int | str, column: str = "id") -> str:
    """The SQL expression of :func:`shard_of` in ``dialect``.

    ``count`` is an int (written inline) or a placeholder such as ``%(count)s::int``.
    """
    n = count if isinstance(count, str) else int(count)
    if dialect == "sqlite":
        return (f"((unicode(substr({column}, -1)) + 31 * coalesce(unicode(substr({column}, -2, 1)),"
                f" unicode(substr({column}, -1)))) % {n})")
    # mod(), not %: the statement's parameters are %(name)s placeholders.
    return f"mod(ascii(right({column}, 1)) + 31 * ascii(left(right({column}, 2), 1)), {n})"
