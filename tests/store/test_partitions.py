"""Partitioned claims (``serve --workers N``), on every backend: shares that do not overlap, and a
dead partition's work taken over once overdue."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from notifier.store import Store
from notifier.store.partition import Partition, shard_of
from tests.store.test_contract import LEASE, T0, accept, event, planned

S = timedelta(seconds=1)
STEAL = timedelta(seconds=30)


async def _backlog(store: Store, n: int) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(n)]
    for i, d in enumerate(ids):
        await accept(store, event(f"e{i}"), planned(d))
    return ids


async def test_each_partition_claims_only_its_own_share(store: Store) -> None:
    ids = await _backlog(store, 40)
    halves = [Partition(0, 2, STEAL), Partition(1, 2, STEAL)]
    got = [{c.delivery.id for c in await store.claim(f"w{p.index}", T0, LEASE, 100, partition=p)}
           for p in halves]
    # The database computes the same share as Partition.owns, and together they cover all.
    assert got[0] == {d for d in ids if halves[0].owns(d)}
    assert got[1] == {d for d in ids if halves[1].owns(d)}
    assert got[0] | got[1] == set(ids) and not got[0] & got[1]
    assert got[0] and got[1]  # 40 random ids: both partitions have work


async def test_a_dead_partitions_work_is_taken_over_once_overdue(store: Store) -> None:
    ids = await _backlog(store, 20)
    mine, theirs = Partition(0, 2, STEAL), [d for d in ids if shard_of(d, 2) == 1]
    assert theirs
    await store.claim("w0", T0, LEASE, 100, partition=mine)
    # Partition 1's worker never comes: its deliveries wait for it until steal_after ...
    assert await store.claim("w0", T0 + STEAL - S, LEASE, 100, partition=mine) == []
    assert await store.next_due(mine) == T0 + STEAL
    # ... then partition 0 delivers them, so nothing is stranded.
    taken = await store.claim("w0", T0 + STEAL, LEASE, 100, partition=mine)
    assert sorted(c.delivery.id for c in taken) == sorted(theirs)


async def test_next_due_of_a_partition_is_its_own_first(store: Store) -> None:
    ids = await _backlog(store, 10)
    p = Partition(shard_of(ids[0], 3), 3, STEAL)
    assert await store.next_due(p) == T0
    await store.claim("w", T0, LEASE, 100, partition=p)
    # Only others' deliveries are left pending: due for this worker once overdue.
    others_left = any(not p.owns(d) for d in ids)
    assert await store.next_due(p) == (T0 + STEAL if others_left else T0 + LEASE)


def test_partitions_are_written_index_slash_count() -> None:
    assert Partition.parse("1/4") == Partition(1, 4)
    assert str(Partition(1, 4)) == "1/4"
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            Partition.parse(bad)
